"""Algorithm 1's schedule driven by scripted validation accuracies."""
from __future__ import annotations

import pytest

from twostream.data.errors import TwostreamError
from twostream.data.selection import improves, selection_key
from twostream.fusion.errors import FusionError
from twostream.fusion.training.schedule import (
    Event,
    PhaseSchedule,
    StepSchedule,
    algorithm1_phases,
    iterations_to_epochs,
)

I, W, D, N, S = Event.IMPROVED, Event.WAITING, Event.LR_DROP, Event.NEXT_PHASE, Event.STOP


def _run(schedule: PhaseSchedule, accuracies: list[float]) -> list[tuple[Event, str, float, float]]:
    """Return, per epoch, the event and the phase, lambda and lr the next epoch runs with."""
    trace = []
    for accuracy in accuracies:
        event = schedule.update(accuracy)
        trace.append((event, schedule.phase.name, schedule.phase.lam, schedule.lr))
    return trace


def test_algorithm1_switches_lambda_after_the_first_plateau_and_stops_after_the_second():
    schedule = PhaseSchedule(algorithm1_phases(lam=0.1), lrs=(1e-3, 1e-4), patience=2)
    accuracies = [0.5, 0.6, 0.6, 0.55, 0.65, 0.6, 0.6, 0.64, 0.7, 0.7, 0.7, 0.69, 0.69]
    trace = _run(schedule, accuracies)
    assert [t[0] for t in trace] == [I, I, W, D, I, W, N, W, I, W, D, W, S]
    gate, joint = ("gate", 0.0), ("joint", 0.1)
    assert [t[1:3] for t in trace[:6]] == [gate] * 6
    assert [t[1:3] for t in trace[6:]] == [joint] * 7
    assert [t[3] for t in trace] == [1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-3, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4]
    assert schedule.done and schedule.best == 0.7
    with pytest.raises(FusionError, match="already stopped"):
        schedule.update(0.9)


def test_second_phase_must_beat_the_best_of_the_first():
    below = PhaseSchedule(algorithm1_phases(), lrs=(1e-3,), patience=1)
    assert [t[0] for t in _run(below, [0.8, 0.7, 0.79])] == [I, N, S]
    above = PhaseSchedule(algorithm1_phases(), lrs=(1e-3,), patience=1)
    assert [t[0] for t in _run(above, [0.8, 0.7, 0.85, 0.84])] == [I, N, I, S]


def test_min_delta_and_epoch_cap_end_a_phase():
    schedule = PhaseSchedule(lrs=(1e-3,), patience=2, min_delta=0.05)
    assert [t[0] for t in _run(schedule, [0.5, 0.52, 0.54])] == [I, W, S]
    capped = PhaseSchedule(algorithm1_phases(), lrs=(1e-3, 1e-4), patience=5, max_epochs_per_phase=3)
    assert [t[0] for t in _run(capped, [0.1, 0.2, 0.3, 0.4])] == [I, I, N, I]


def test_without_early_stopping_every_phase_runs_its_epochs_and_steps_its_rates_evenly():
    schedule = PhaseSchedule(algorithm1_phases(), lrs=(1e-2, 1e-3), patience=1, max_epochs_per_phase=4,
                             early_stopping=False)
    trace = _run(schedule, [0.5, 0.4, 0.3, 0.2, 0.6, 0.1, 0.1, 0.1])
    assert [t[0] for t in trace] == [I, D, W, N, I, D, W, S]  # falling scores neither stop nor drop early
    assert [t[3] for t in trace[:3]] == [1e-2, 1e-3, 1e-3]
    assert schedule.best == 0.6


def test_bad_schedules_are_refused():
    with pytest.raises(FusionError):
        PhaseSchedule(phases=())
    with pytest.raises(FusionError):
        PhaseSchedule(lrs=(0.0,))
    with pytest.raises(FusionError, match="0 \\(no multi-task phase\\) or positive"):
        algorithm1_phases(-1.0)
    assert [phase.lam for phase in algorithm1_phases(0.0)] == [0.0]


def test_step_schedule_drops_at_fixed_epochs_and_keeps_the_best():
    schedule = StepSchedule((1e-3, 1e-4, 1e-5), steps=(2, 4), epochs=6)
    events = [schedule.update(accuracy) for accuracy in (0.5, 0.4, 0.6, 0.6, 0.3, 0.2)]
    assert events == [Event.IMPROVED, Event.LR_DROP, Event.IMPROVED, Event.LR_DROP, Event.WAITING, Event.STOP]
    assert schedule.lr == 1e-5 and schedule.best == 0.6 and schedule.done
    with pytest.raises(FusionError, match="one step fewer"):
        StepSchedule((1e-3, 1e-4), steps=(2, 4), epochs=6)
    with pytest.raises(FusionError, match="before the last epoch"):
        StepSchedule((1e-3, 1e-4), steps=(6,), epochs=6)


def test_park_iterations_become_epochs_scaled_to_the_dataset():
    # 20K iterations of 128 on UCF101 split 1's 9537 videos: 268.4 passes, kept for any dataset by default
    assert iterations_to_epochs(20_000, 128, 9537) == 268
    assert iterations_to_epochs(20_000, 128, 200) == 268
    assert iterations_to_epochs(20_000, 128, 200, scale=1.0) == 12_800  # Park's counts as written
    assert iterations_to_epochs(10, 4, 100, scale=0.1) == 1  # never below one epoch
    with pytest.raises(FusionError, match="scale must be positive"):
        iterations_to_epochs(10, 4, 100, scale=0.0)


def test_a_tied_accuracy_improves_when_the_loss_falls():
    schedule = PhaseSchedule(lrs=(1e-3,), patience=2)
    keys = [selection_key(0.7, 1.0), selection_key(0.7, 0.8), selection_key(0.7, 0.9), selection_key(0.6, 0.1),
            selection_key(0.7, 0.85)]
    assert [t[0] for t in _run(schedule, keys[:4])] == [I, I, W, S]
    assert schedule.best == selection_key(0.7, 0.8) and schedule.done


def test_selection_by_loss_puts_the_loss_first():
    assert selection_key(0.5, 0.3, "loss") == (-0.3, 0.5)
    assert improves(selection_key(0.4, 0.2, "loss"), selection_key(0.9, 0.3, "loss"))
    assert not improves(selection_key(0.9, 0.3), selection_key(0.9, 0.3))
    with pytest.raises(TwostreamError, match="selection"):
        selection_key(0.5, 0.3, "top5")


def test_selection_of_the_last_epoch_lets_every_later_epoch_win_whatever_its_scores():
    earlier, later = selection_key(0.9, 0.1, "last", epoch=3), selection_key(0.2, 5.0, "last", epoch=4)
    assert improves(later, earlier) and not improves(earlier, later)

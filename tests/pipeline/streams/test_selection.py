from twostream.data.manifest import VideoEntry
from twostream.data.validation import validation_power
from twostream.pipeline.streams.selection import BY_ACCURACY, BY_LOSS, beats, progressed, selection_for, stops_early

CLASSES = ["a", "b", "c"]


def _videos(count):
    return [VideoEntry(f"v{i}", f"v{i}.avi", i % 3, CLASSES[i % 3], {"1": "train"}) for i in range(count)]


def test_a_small_validation_set_selects_by_loss_and_a_large_one_by_accuracy():
    assert selection_for(validation_power(_videos(12), CLASSES)) == BY_LOSS
    assert selection_for(validation_power(_videos(30), CLASSES)) == BY_ACCURACY


def test_accuracy_selection_breaks_ties_by_loss_and_loss_selection_ignores_accuracy():
    best = {"accuracy": 0.5, "loss": 1.0}
    assert beats(None, 0.0, 9.0, BY_ACCURACY) and beats(None, 0.0, 9.0, BY_LOSS)
    assert beats(best, 0.5, 0.9, BY_ACCURACY) and not beats(best, 0.5, 1.0, BY_ACCURACY)
    assert beats(best, 0.6, 2.0, BY_ACCURACY) and not beats(best, 0.4, 0.1, BY_ACCURACY)
    assert beats(best, 0.4, 0.9, BY_LOSS) and not beats(best, 0.9, 1.1, BY_LOSS)


def test_only_accuracy_selection_stops_early():
    assert stops_early(3, 3, BY_ACCURACY) and not stops_early(2, 3, BY_ACCURACY)
    assert not stops_early(100, 3, BY_LOSS)


def test_patience_restarts_on_a_better_kept_epoch_or_the_lowest_validation_loss_yet():
    assert progressed(False, 2.0, None)  # the first epoch
    assert progressed(True, 3.0, 1.0)  # beat the kept epoch, whatever its loss
    assert progressed(False, 0.9, 1.0)  # accuracy stalled, loss still falling: the stream still learns
    assert not progressed(False, 1.0, 1.0) and not progressed(False, 1.2, 1.0)

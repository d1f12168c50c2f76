"""The shared training loop: Algorithm 1 end to end, determinism, the run folder, the zero-gate remedy."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from twostream.data.errors import TwostreamError
from twostream.data.metrics import mean_class_accuracy
from twostream.fusion import late
from twostream.fusion.errors import FusionError
from twostream.fusion.features import InMemoryFeatureSource, averaged_logits
from twostream.fusion.heads.amplification import FeatureAmplificationHead
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.heads.multiplicative import baseline_a_head, multiplicative_fusion_head
from twostream.fusion.training.datasets import AllViewsDataset
from twostream.fusion.training.evaluation import predict
from twostream.fusion.training.loop import TrainConfig, _sgd, train_fusion_head, train_gated_fusion
from twostream.fusion.training.runs import CHECKPOINT, CONFIG, METRICS, PREDICTIONS, RunDir
from twostream.fusion.training.tasks import GateTask, HeadTask


def _gated_head(seed: int = 0, **options) -> GatedFusionHead:
    torch.manual_seed(seed)
    body = nn.Sequential(nn.Conv2d(8, 16, 1), nn.ReLU())
    options.setdefault("dropout", 0.5)
    return GatedFusionHead(body, body_dim=16, num_classes=4, rgb_channels=8, **options)


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


@pytest.fixture(scope="module")
def gated_run(switching_splits, tmp_path_factory, quick_training):
    train, val, test = switching_splits
    run = RunDir.create(tmp_path_factory.mktemp("runs"), "gate-relu")
    return train_gated_fusion(_gated_head(), train, val, config=quick_training(), lam=0.1, run=run,
                              evaluate_on={"test": test})


def test_gate_beats_every_fixed_weighting_of_the_streams(gated_run, switching_splits):
    _, val, test = switching_splits
    rgb, flow = averaged_logits(test, "rgb"), averaged_logits(test, "flow")
    best_fixed_on_test = max(
        mean_class_accuracy(late.weighted_average(rgb, flow, a), test.labels) for a in late.DEFAULT_WEIGHT_GRID
    )
    weight = late.search_flow_weight(averaged_logits(val, "rgb"), averaged_logits(val, "flow"), val.labels)
    searched = mean_class_accuracy(late.weighted_average(rgb, flow, weight), test.labels)
    gated = gated_run.predictions["test"].mean_class_accuracy
    assert best_fixed_on_test < 0.75, "the data must defeat any fixed weighting"
    assert gated >= 0.95
    assert gated >= best_fixed_on_test + 0.2 and gated >= searched + 0.2


def test_gate_weights_follow_the_reliable_stream(gated_run, switching_splits):
    _, _, test = switching_splits
    predictions = gated_run.predictions["test"]
    rgb_reliable = averaged_logits(test, "rgb").argmax(axis=1) == test.labels
    rgb_share = predictions.gate_weights[:, 0] / predictions.gate_weights.sum(axis=1)
    assert rgb_share[rgb_reliable].min() > rgb_share[~rgb_reliable].max()


def test_algorithm1_runs_both_phases_and_keeps_the_best(gated_run):
    phases = [(record["phase"], record["lambda"]) for record in gated_run.history]
    switch = phases.index(("joint", 0.1))
    assert switch > 0 and set(phases[:switch]) == {("gate", 0.0)} and set(phases[switch:]) == {("joint", 0.1)}
    assert gated_run.history[switch - 1]["event"] == "next_phase" and gated_run.history[-1]["event"] == "stop"
    assert gated_run.best_accuracy == max(r["val_mean_class_accuracy"] for r in gated_run.history)
    assert gated_run.history[gated_run.best_epoch]["val_mean_class_accuracy"] == gated_run.best_accuracy


def test_run_folder_holds_config_metrics_checkpoint_and_predictions(gated_run, switching_splits):
    folder = gated_run.run_dir
    config = json.loads((folder / CONFIG).read_text())
    assert config["task"]["method"] == "gated_fusion" and config["phases"][1] == {"name": "joint", "lam": 0.1}
    assert config["train"]["segments"] == 3 and config["train"]["weight_decay"] == 5e-4
    lines = (folder / METRICS).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(len(gated_run.history)))
    records = json.loads((folder / PREDICTIONS).read_text())["test"]
    assert len(records) == 48 and len(records[0]["gate_weights"]) == 2 and "zero_gate_views" in records[0]
    checkpoint = torch.load(folder / CHECKPOINT, weights_only=True)
    assert checkpoint["epoch"] == gated_run.best_epoch
    restored = _gated_head(seed=99)
    restored.load_state_dict(checkpoint["model_state"])
    test = switching_splits[2]
    again = predict(GateTask(restored), test, AllViewsDataset(test, GateTask.fields))
    np.testing.assert_allclose(again.scores, gated_run.predictions["test"].scores, rtol=1e-5, atol=1e-5)


def test_training_is_deterministic_with_a_seed(switching_splits):
    train, val, _ = switching_splits
    config = TrainConfig(batch_size=16, lrs=(0.05,), patience=1, max_epochs_per_phase=3, seed=5)
    first = train_gated_fusion(_gated_head(), train, val, config=config)
    second = train_gated_fusion(_gated_head(), train, val, config=config)
    assert _without_timing(first.history) == _without_timing(second.history)
    np.testing.assert_array_equal(first.predictions["val"].scores, second.predictions["val"].scores)


def test_a_dead_relu_gate_falls_back_to_the_average_and_stops_training(switching_splits, caplog):
    train, val, _ = switching_splits
    dead = _gated_head(gate_bias_init=-10.0)
    task = GateTask(dead)
    predictions = predict(task, val, AllViewsDataset(val, task.fields))
    assert predictions.zero_gate_total == 48 * 5 * 2
    average = late.average(averaged_logits(val, "rgb"), averaged_logits(val, "flow"))
    np.testing.assert_allclose(predictions.scores, average, rtol=1e-5, atol=1e-5)
    config = TrainConfig(batch_size=32, lrs=(0.01,), patience=1, max_epochs_per_phase=2)
    with pytest.raises(FusionError, match="every training sample: it gets no gradient .* --activation softmax"):
        train_gated_fusion(dead, train, val, config=config)
    assert f"epoch 0: {len(train)} samples had both ReLU gate weights zero" in caplog.text


def test_keeping_the_last_epoch_runs_every_epoch_of_each_phase_and_keeps_the_final_weights(switching_splits,
                                                                                           quick_training):
    train, val, _ = switching_splits
    result = train_gated_fusion(_gated_head(activation="softmax", dropout=0.0), train, val,
                                config=quick_training(selection="last", max_epochs_per_phase=3), lam=1.0)
    assert [record["phase"] for record in result.history] == ["gate"] * 3 + ["joint"] * 3
    assert all(record["improved"] for record in result.history) and result.best_epoch == 5
    np.testing.assert_allclose(result.predictions["val"].mean_class_accuracy,
                               result.history[-1]["val_mean_class_accuracy"], atol=1e-6)


def test_softmax_gate_trains_too(switching_splits, quick_training):
    train, val, _ = switching_splits
    result = train_gated_fusion(_gated_head(activation="softmax", dropout=0.0), train, val, config=quick_training())
    np.testing.assert_allclose(result.predictions["val"].gate_weights.sum(axis=1), 1.0, rtol=1e-5)
    assert result.best_accuracy >= 0.9


def _class_source(videos: int, seed: int) -> InMemoryFeatureSource:
    """Features whose maps tell the class (channel `label` of both streams' maps shifted up) and whose stream
    logits do not (noise): only a head that learns from the features gets the videos right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(4, size=videos)
    shape = (videos, 2, 2, 8, 3, 3)
    maps = {stream: rng.normal(0.0, 1.0, shape).astype(np.float32) for stream in ("rgb", "flow")}
    for stream_maps in maps.values():
        stream_maps[np.arange(videos), :, :, labels] += 1.5
    noise = {stream: rng.normal(0.0, 1.0, (videos, 2, 2, 4)).astype(np.float32) for stream in ("rgb", "flow")}
    return InMemoryFeatureSource.from_arrays(
        [f"c{seed}_v{i:03d}" for i in range(videos)], labels, 4, rgb_map=maps["rgb"], flow_map=maps["flow"],
        rgb_vec=maps["rgb"].mean(axis=(-2, -1)), flow_vec=maps["flow"].mean(axis=(-2, -1)),
        rgb_logits=noise["rgb"], flow_logits=noise["flow"],
        flowmag=np.abs(rng.normal(0.0, 1.0, (videos, 2, 2, 3, 3))).astype(np.float32))


@pytest.mark.parametrize(
    "inputs, make_head",
    [
        (("rgb_vec", "flow_vec"), lambda: multiplicative_fusion_head(8, 8, 4, width=32, maps=False, hidden=(16,))),
        (("rgb_map", "flow_map"), lambda: baseline_a_head(8, 8, 4, hidden=(16,))),
        (("rgb_map", "flowmag"), lambda: FeatureAmplificationHead(nn.Linear(8, 4))),
    ],
)
def test_feature_heads_learn_the_classes_through_the_same_loop(inputs, make_head):
    train, val = _class_source(96, seed=1), _class_source(48, seed=2)
    torch.manual_seed(0)
    config = TrainConfig(batch_size=16, lrs=(0.05,), patience=2, max_epochs_per_phase=8, seed=3)
    result = train_fusion_head(make_head(), inputs, "head", train, val, config=config, score_weights=None)
    assert {r["phase"] for r in result.history} == {"train"}
    assert result.predictions["val"].scores.shape == (48, 4) and result.predictions["val"].gate_weights is None
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.best_accuracy >= 0.9  # chance is 0.25: the head learned the classes from the features


def test_final_score_is_the_weighted_average_of_head_and_streams(switching_splits):
    _, val, _ = switching_splits
    torch.manual_seed(0)
    head = multiplicative_fusion_head(8, 8, 4, width=16, maps=False, hidden=()).eval()
    views = AllViewsDataset(val, ("rgb_vec", "flow_vec", "rgb_logits", "flow_logits"))[0]
    inputs = ("rgb_vec", "flow_vec")
    logits = head(views["rgb_vec"], views["flow_vec"])
    alone = HeadTask(head, inputs, "mfusion", None).view_scores(views)
    torch.testing.assert_close(alone.scores, torch.softmax(logits, dim=1))
    assert alone.head_scores is None
    fused = HeadTask(head, inputs, "mfusion").view_scores(views)
    expected = (2 * torch.softmax(logits, dim=1) + 3 * torch.softmax(views["rgb_logits"], dim=1)
                + 4 * torch.softmax(views["flow_logits"], dim=1)) / 9
    torch.testing.assert_close(fused.scores, expected)
    torch.testing.assert_close(fused.head_scores, alone.scores)
    on_logits = HeadTask(head, inputs, "mfusion", final_score="logits").view_scores(views).scores
    torch.testing.assert_close(on_logits, (2 * logits + 3 * views["rgb_logits"] + 4 * views["flow_logits"]) / 9)
    with pytest.raises(FusionError, match="final score"):
        HeadTask(head, inputs, "mfusion", final_score="votes")


class _ConstantHead(nn.Module):
    """A head whose logits are the same for every view: the score rule alone decides the outcome."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor([logits]))

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(rgb), -1)


def test_two_three_four_weighs_probabilities_not_logits_of_different_scales():
    # head logits (10, -10): softmax ~(1, 0); spatial (0, 2): (0.1192, 0.8808); temporal (0, 0): (1/2, 1/2).
    # On softmax: class 0 (2 + 3 * 0.1192 + 2) / 9 = 0.4842, class 1 (3 * 0.8808 + 2) / 9 = 0.5158.
    # On logits the head's scale decides: (20, -14) / 9.
    views = {"rgb_vec": torch.zeros(1, 1), "flow_vec": torch.zeros(1, 1),
             "rgb_logits": torch.tensor([[0.0, 2.0]]), "flow_logits": torch.zeros(1, 2)}
    head = _ConstantHead([10.0, -10.0])
    scores = HeadTask(head, ("rgb_vec", "flow_vec"), "mfusion").view_scores(views).scores
    torch.testing.assert_close(scores, torch.tensor([[0.4842, 0.5158]]), atol=1e-4, rtol=0)
    logits = HeadTask(head, ("rgb_vec", "flow_vec"), "mfusion", final_score="logits").view_scores(views).scores
    torch.testing.assert_close(logits, torch.tensor([[20.0, -14.0]]) / 9)


def test_inconsistent_sources_and_settings_are_refused(switching_splits, make_source, quick_training):
    train, _, _ = switching_splits
    with pytest.raises(FusionError, match="classes"):
        train_gated_fusion(_gated_head(), train, make_source(8, seed=4, num_classes=5), config=quick_training())
    with pytest.raises(FusionError, match="validate_views"):
        TrainConfig(validate_views="some")
    with pytest.raises(TwostreamError, match="unknown device"):
        train_gated_fusion(_gated_head(), train, train, config=TrainConfig(device="toaster"))
    with pytest.raises(FusionError, match="two of"):
        HeadTask(nn.Identity(), ("rgb_map",), "broken")


def test_accumulating_gradients_of_small_batches_equals_one_large_batch(switching_splits):
    train, val, _ = switching_splits
    settings = dict(lrs=(0.05,), patience=1, max_epochs_per_phase=1, seed=2)

    def trained(batch_size: int, accumulate: int):  # no BatchNorm, no dropout: the batch split cannot matter
        config = TrainConfig(batch_size=batch_size, accumulate=accumulate, **settings)
        return train_gated_fusion(_gated_head(dropout=0.0), train, val, config=config, lam=0.5)

    accumulated, large, small = trained(4, 8), trained(32, 1), trained(4, 1)
    # the sums run in another order: here the losses differ by 4e-8 (relative) and the weights by at most 0.4 %
    # of the allowance below (Intel Xeon); rounding of that order, not of the allowance's, varies with the CPU
    losses = [r["train_loss"] for r in large.history]
    assert [r["train_loss"] for r in accumulated.history] == pytest.approx(losses, rel=1e-5)
    for name, value in large.model.state_dict().items():
        torch.testing.assert_close(accumulated.model.state_dict()[name], value, rtol=1e-4, atol=1e-6, msg=name)
    assert not torch.allclose(small.model.gate.weight, large.model.gate.weight, rtol=1e-2)  # 8 times the steps
    with pytest.raises(FusionError, match="accumulate"):
        TrainConfig(accumulate=0)


@pytest.mark.parametrize("make_head, decayed", [
    (_gated_head, {"fusion.conv.weight", "body.0.weight", "gate.weight", "classifier.weight"}),
    (lambda: multiplicative_fusion_head(8, 8, 4, width=16, maps=False, hidden=(6,)),
     {"front.alpha.weight", "front.beta.weight", "classifier.0.weight", "classifier.3.weight"}),
])
def test_the_loop_decays_weights_but_not_biases_or_the_gate_bias(make_head, decayed):
    head = make_head()
    before = {name: p.detach().clone() for name, p in head.named_parameters()}
    optimizer = _sgd(head, 0.1, TrainConfig(weight_decay=0.5, momentum=0.0))
    for parameter in head.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    for name, parameter in head.named_parameters():  # decayed: w - 0.1 * 0.5 * w
        torch.testing.assert_close(parameter, before[name] * (0.95 if name in decayed else 1.0), msg=name)
    if isinstance(head, GatedFusionHead):
        assert head.gate.bias.tolist() == [0.5, 0.5]


def test_run_folder_refuses_to_overwrite_by_accident(tmp_path):
    RunDir.create(tmp_path, "first").append_metrics({"epoch": 0})
    with pytest.raises(FusionError, match="not empty"):
        RunDir.create(tmp_path, "first")
    assert RunDir.create(tmp_path, "first", overwrite=True).read_metrics() == []
    with pytest.raises(FusionError, match="run name"):
        RunDir.create(tmp_path, "../elsewhere")


@pytest.mark.cuda
def test_gated_training_runs_on_cuda_with_amp(switching_splits):
    train, val, _ = switching_splits
    config = TrainConfig(batch_size=16, lrs=(0.05,), patience=1, max_epochs_per_phase=4, device="cuda", amp=True)
    result = train_gated_fusion(_gated_head(), train, val, config=config)
    assert next(result.model.parameters()).device.type == "cuda"
    assert result.best_accuracy >= 0.9

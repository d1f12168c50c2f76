import dataclasses
import json
import logging

import pytest
import torch
from torch.utils.data import DataLoader

from twostream.data.errors import TwostreamError
from twostream.data.validation import carve_validation
from twostream.pipeline.backbones import create_backbone, load_checkpoint, save_checkpoint
from twostream.pipeline.backbones.partial_bn import batch_norms, freeze_partial_bn
from twostream.pipeline.streams.dataset import ClipSampling, StreamClips
from twostream.pipeline.streams.evaluation import segment_consensus
from twostream.pipeline.streams.train_streams import StreamResult, StreamTrainingConfig, stream_paths, train_stream

TINY = dict(backbone="tiny", pretrained=False, input_size=32, batch_size=6, lr=0.02, dropout={"rgb": 0.5, "flow": 0.5})


def _val_clips(streams_data, modality, size):
    manifest, _, store = streams_data
    _, val = carve_validation(manifest, 1)
    clips = StreamClips(store, [(v.video_id, v.label) for v in val], ClipSampling(modality, 3, size, train=False))
    return next(iter(DataLoader(clips, batch_size=len(clips))))


@pytest.mark.parametrize("stream, epochs, size", [("rgb", 3, 64), ("flow", 6, 48)])
def test_each_stream_learns_from_imagenet_weights(streams_data, tmp_path, stream, epochs, size):
    manifest, _, store = streams_data
    config = StreamTrainingConfig(backbone="efficientnet_lite0", input_size=size, epochs=epochs, batch_size=4,
                                  dropout={stream: 0.5})
    result = train_stream(manifest, store, tmp_path, stream, config=config)
    chance = 1 / len(manifest.classes)
    assert result.val_videos >= 9 and result.train_videos >= 27
    assert result.val_accuracy >= chance + 0.3, (result.val_accuracy, result.mistakes())
    net = load_checkpoint(result.checkpoint).build()
    assert net.name == "efficientnet_lite0" and net.modality == stream
    clips, labels = _val_clips(streams_data, stream, size)
    with torch.no_grad():
        accuracy = (segment_consensus(net, clips, stream).argmax(1) == labels).float().mean().item()
    assert accuracy == pytest.approx(result.val_accuracy)


def test_checkpoint_loads_with_no_flags_and_gives_the_same_logits(streams_data, tmp_path):
    manifest, _, store = streams_data
    result = train_stream(manifest, store, tmp_path, "flow", config=StreamTrainingConfig(epochs=1, **TINY))
    loaded = load_checkpoint(result.checkpoint)
    assert loaded.class_names == tuple(manifest.classes)
    assert loaded.config["input_size"] == 32 and loaded.config["segments"] == 3
    assert loaded.config["training"]["lr"] == 0.02 and loaded.config["best_epoch"] == 1
    net = loaded.build()
    trained = create_backbone("tiny", len(manifest.classes), 10, 0.5)
    trained.load_state_dict(torch.load(stream_paths(tmp_path, "flow")["state"], weights_only=True)["model"])
    clips, _ = _val_clips(streams_data, "flow", 32)
    with torch.no_grad():
        assert torch.equal(segment_consensus(net, clips, "flow"), segment_consensus(trained.eval(), clips, "flow"))


def test_resume_after_interruption_ends_with_the_weights_of_an_uninterrupted_run(streams_data, tmp_path):
    manifest, _, store = streams_data
    config = StreamTrainingConfig(epochs=3, lr_steps=(2,), **TINY)
    train_stream(manifest, store, tmp_path / "whole", "rgb", config=config)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_stream(manifest, store, tmp_path / "cut", "rgb", config=config, progress=stop_after_two)
    seen = []
    train_stream(manifest, store, tmp_path / "cut", "rgb", config=config, resume=True, progress=seen.append)
    assert [record["epoch"] for record in seen] == [3]
    whole = torch.load(stream_paths(tmp_path / "whole", "rgb")["state"], weights_only=True)
    cut = torch.load(stream_paths(tmp_path / "cut", "rgb")["state"], weights_only=True)
    assert whole["model"].keys() == cut["model"].keys()
    for key, value in whole["model"].items():
        assert torch.equal(value, cut["model"][key]), key
    assert cut["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.002)
    log = [json.loads(line) for line in stream_paths(tmp_path / "cut", "rgb")["log"].read_text().splitlines()]
    assert [record["epoch"] for record in log] == [1, 2, 3]


def test_resume_refuses_other_settings_and_fresh_runs_refuse_existing_output(streams_data, tmp_path):
    manifest, _, store = streams_data
    config = StreamTrainingConfig(epochs=1, **TINY)
    train_stream(manifest, store, tmp_path, "rgb", config=config)
    with pytest.raises(TwostreamError, match="pass --resume"):
        train_stream(manifest, store, tmp_path, "rgb", config=config)
    with pytest.raises(TwostreamError, match=r"other settings \(lr\)"):
        train_stream(manifest, store, tmp_path, "rgb", config=dataclasses.replace(config, lr=0.5), resume=True)
    again = train_stream(manifest, store, tmp_path, "rgb", config=config, resume=True)
    assert again.epochs_run == 1 and again.best_epoch == 1


def test_partial_bn_keeps_all_but_the_first_batch_norm_frozen(streams_data, tmp_path):
    manifest, _, store = streams_data
    torch.manual_seed(7)
    start = create_backbone("tiny", 5, 3)
    for layer in batch_norms(start):  # statistics and affine parameters unlike any fresh layer's
        layer.running_mean.uniform_(-0.5, 0.5)
        layer.running_var.uniform_(0.5, 2.0)
        layer.weight.data.uniform_(0.5, 1.5)
        layer.bias.data.uniform_(-0.2, 0.2)
    save_checkpoint(tmp_path / "start.pt", start)
    config = StreamTrainingConfig(epochs=1, init_checkpoints={"flow": str(tmp_path / "start.pt")}, **TINY)
    result = train_stream(manifest, store, tmp_path / "run", "flow", config=config)
    trained = load_checkpoint(result.checkpoint).build()
    assert load_checkpoint(result.checkpoint).config["training"]["partial_bn"] is True
    before, after = batch_norms(start), batch_norms(trained)
    assert not torch.allclose(before[0].running_mean, after[0].running_mean)
    for old, new in zip(before[1:], after[1:]):
        for name in ("running_mean", "running_var", "weight", "bias"):
            assert torch.equal(getattr(old, name), getattr(new, name)), name
    assert not torch.equal(start.conv2.conv.weight, trained.conv2.conv.weight)


def test_freeze_partial_bn_leaves_only_the_first_layer_learning():
    net = create_backbone("tiny", 4, 10).train()
    assert freeze_partial_bn(net) == 3
    first, *rest = batch_norms(net)
    assert first.training and first.weight.requires_grad
    assert all(not layer.training and not layer.weight.requires_grad and not layer.bias.requires_grad
               for layer in rest)


def test_each_fold_pair_trains_without_its_fold_and_resume_skips_finished_folds(streams_data, tmp_path):
    from twostream.data.folds import fold_dir, read_folds
    from twostream.data.manifest import load_manifest
    from twostream.pipeline.streams.train_streams import train_streams

    manifest, _, store = streams_data
    config = StreamTrainingConfig(epochs=1, folds=2, **TINY)
    trained = train_streams(manifest, store, tmp_path, config=config, streams=["rgb"])
    folds = read_folds(tmp_path)
    assert (folds.split, folds.k, folds.seed) == ("1", 2, 0)
    assert set(folds.assignment) == {v.video_id for v in manifest.select(1, "train")}
    assert sorted(trained.folds) == [1, 2] and trained.full["rgb"].checkpoint == tmp_path / "rgb.pt"
    for fold, results in trained.folds.items():
        held_out = set(folds.members(fold))
        trained_on = load_manifest(fold_dir(tmp_path, fold) / "manifest.json")
        assert {v.video_id for v in trained_on.select(1, "unused")} == held_out
        kept = {v.video_id for v in trained_on.select(1, "train")}
        assert kept.isdisjoint(held_out) and kept | held_out == set(folds.assignment)
        recorded = load_checkpoint(results["rgb"].checkpoint).config
        assert results["rgb"].checkpoint == fold_dir(tmp_path, fold) / "rgb.pt"
        assert recorded["train_videos"] + recorded["val_videos"] == len(kept)
    seen = []
    again = train_streams(manifest, store, tmp_path, config=config, streams=["rgb"], resume=True, progress=seen.append)
    assert not seen and again.folds[2]["rgb"].val_accuracy == trained.folds[2]["rgb"].val_accuracy
    with pytest.raises(TwostreamError, match="holds fold runs of other folds.*pass the same --split, --folds"):
        train_streams(manifest, store, tmp_path, config=dataclasses.replace(config, folds=3), streams=["rgb"],
                      resume=True)
    with pytest.raises(TwostreamError, match="at least 2"):
        StreamTrainingConfig(folds=1)


def test_a_small_validation_set_trains_every_epoch_and_keeps_the_lowest_loss(streams_data, tmp_path, caplog):
    manifest, _, store = streams_data  # 12 validation videos of 3 classes: too few to rank epochs by accuracy
    config = StreamTrainingConfig(epochs=4, patience=1, lr_steps=(3,), **{**TINY, "lr": 0.2})
    with caplog.at_level(logging.WARNING, logger="twostream.pipeline.streams.train_streams"):
        result = train_stream(manifest, store, tmp_path, "rgb", config=config)
    assert "rgb: the validation set is small (12 videos, fewer than 30)" in caplog.text
    assert "training all 4 epochs without early stopping" in caplog.text
    log = [json.loads(line) for line in stream_paths(tmp_path, "rgb")["log"].read_text().splitlines()]
    assert not log[1]["improved"]  # patience 1 would have stopped here
    assert result.epochs_run == 4 and not result.stopped_early and result.selected_by == "loss"
    losses = [record["val_loss"] for record in log]
    assert result.best_epoch == 1 + losses.index(min(losses)) and result.val_loss == min(losses)
    assert log[-1]["best_val_loss"] == min(losses) and {record["selected_by"] for record in log} == {"loss"}
    assert load_checkpoint(result.checkpoint).config["selected_by"] == "loss"
    # A finished run given more epochs goes on: a small validation set never stops early, resumed or not (and
    # patience 1 would have stopped it already at epoch 2, checked above).
    longer = train_stream(manifest, store, tmp_path, "rgb", config=dataclasses.replace(config, epochs=5), resume=True)
    assert longer.epochs_run == 5 and not longer.stopped_early


def _result(val_accuracy: float, classes: int, val_videos: int) -> StreamResult:
    return StreamResult("flow", None, [f"c{i}" for i in range(classes)], 1, val_accuracy, 2.0, val_accuracy, [], 12,
                        False, "accuracy", 1.0, 100, val_videos)


def test_a_stream_within_two_standard_errors_of_chance_is_near_chance():
    # 8 classes, 48 validation videos: chance 12.5 %, two standard errors 9.5 points
    assert _result(0.125, 8, 48).near_chance() and _result(0.21, 8, 48).near_chance()
    assert not _result(0.23, 8, 48).near_chance()
    # 6 classes, 16 videos: 25 % is not telling (chance 16.7 %, two standard errors 18.6 points)
    assert _result(0.25, 6, 16).near_chance() and not _result(0.4, 6, 16).near_chance()


def test_a_stream_that_did_not_learn_says_so(streams_data, tmp_path, caplog):
    manifest, _, store = streams_data
    config = StreamTrainingConfig(epochs=1, **{**TINY, "lr": 1e-9})  # weights that barely move from random
    with caplog.at_level(logging.WARNING, logger="twostream.pipeline.streams.train_streams"):
        result = train_stream(manifest, store, tmp_path, "flow", config=config)
    assert result.near_chance()
    assert "the flow stream did not learn: validation accuracy" in caplog.text and "chance 33.3%" in caplog.text


def test_folds_whose_training_videos_cannot_be_carved_are_refused_before_any_training(streams_data, tmp_path):
    from twostream.data.manifest import Manifest
    from twostream.pipeline.streams.train_streams import train_streams

    manifest, _, store = streams_data
    # Class 0 keeps one training video in each of three of the four training groups: whichever way two
    # folds pair the groups, the fold that holds out two of those three leaves class 0 a single video.
    groups = sorted({v.group for v in manifest.select(1, "train")})
    kept = {next(v.video_id for v in manifest.select(1, "train") if v.label == 0 and v.group == group)
            for group in groups[:3]}
    videos = [v for v in manifest.videos if v.label != 0 or v.role(1) != "train" or v.video_id in kept]
    thin = Manifest(manifest.dataset, manifest.root, list(manifest.classes), videos)
    with pytest.raises(TwostreamError, match=r"fold \d of 2: class .* has a single training video.*pass fewer --folds"):
        train_streams(thin, store, tmp_path, config=StreamTrainingConfig(epochs=1, folds=2, **TINY), streams=["rgb"])
    assert not any(tmp_path.iterdir())

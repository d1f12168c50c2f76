"""Dropout training scores: the frozen classifiers recompute the cached logits from the cached pooled vectors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from twostream.fusion.configs import GateConfig
from twostream.fusion.errors import FusionError
from twostream.fusion.stream_networks import dropped_out_scores
from twostream.fusion.train import gate_method, train_gate
from twostream.fusion.training.train_scores import DroppedOutScores
from twostream.pipeline.stores.feature_readers import open_feature_store


def _pooled_and_logits(feature_store, stream):
    store = open_feature_store(feature_store)
    video_id = store.video_ids()[0]
    pooled = torch.from_numpy(np.asarray(store.array(video_id, f"{stream}/global_pool")[...], dtype=np.float32))
    logits = np.asarray(store.array(video_id, f"{stream}/logits")[...], dtype=np.float32)
    return store, pooled.flatten(0, 1), logits.reshape(-1, logits.shape[-1])


@pytest.mark.parametrize("stream", ["rgb", "flow"])
def test_without_dropout_the_frozen_classifier_gives_back_the_cached_logits(feature_store, stream):
    store, pooled, logits = _pooled_and_logits(feature_store, stream)
    scores = dropped_out_scores(store, {}, (0.0, 0.0))
    np.testing.assert_allclose(scores(stream, pooled).numpy(), logits, atol=2e-2)  # pooled vectors are float16


def test_dropout_draws_a_fresh_mask_per_call_and_view_and_is_unbiased(feature_store):
    store, pooled, logits = _pooled_and_logits(feature_store, "rgb")
    scores = dropped_out_scores(store, {}, (0.5, 0.5))
    torch.manual_seed(0)
    first, second = scores("rgb", pooled), scores("rgb", pooled)
    assert not torch.allclose(first, second)
    assert not torch.allclose(first[0], scores("rgb", pooled[:1].expand(2, -1))[1])
    many = torch.stack([scores("rgb", pooled) for _ in range(400)]).mean(dim=0)
    np.testing.assert_allclose(many.numpy(), logits, atol=0.15 * np.abs(logits).max())  # inverted dropout: same mean
    assert not any(p.requires_grad for p in scores.parameters())
    scores.train()
    assert not scores.classifiers.training


def test_a_gate_trains_on_dropout_scores_and_records_the_mode(feature_store, tiny_dataset, tmp_path, quick_training):
    _, manifest = tiny_dataset
    config = GateConfig(train_scores="dropout", score_dropout=(0.8, 0.7),
                        training=quick_training(batch_size=4, patience=1, max_epochs_per_phase=2))
    results = train_gate(manifest, feature_store, tmp_path / "runs" / "dropout", config=config)
    run_config = json.loads((results["1"].run_dir / "config.json").read_text())
    assert run_config["task"]["train_scores"] == {"mode": "dropout", "dropout": {"rgb": 0.8, "flow": 0.7},
                                                  "taps": {"rgb": "global_pool", "flow": "global_pool"}}
    assert results["1"].predictions["test"].scores.shape[1] == len(manifest.classes)
    assert run_config["method"] == gate_method(config, "global_pool")
    assert run_config["method"].endswith(", dropout scores)")


def test_dropout_scores_refuse_bad_rates_missing_streams_and_unknown_modes(feature_store):
    store = open_feature_store(feature_store)
    with pytest.raises(FusionError, match=r"dropout must be in \[0, 1\)"):
        dropped_out_scores(store, {}, (1.0, 0.5))
    with pytest.raises(FusionError, match="classifier and a dropout rate for flow"):
        DroppedOutScores({"rgb": torch.nn.Linear(2, 2)}, {"rgb": 0.5})
    with pytest.raises(FusionError, match="train scores 'oracle'"):
        GateConfig(train_scores="oracle")
    with pytest.raises(FusionError, match=r"score dropout is two rates in \[0, 1\) \(rgb, flow\), got \[1.0, 0.5\]"):
        GateConfig(score_dropout=(1.0, 0.5))


def test_dropout_scores_read_the_vector_the_backbones_classifier_reads(make_tap_store):
    store = make_tap_store("vgg16", ["conv5"], ["fc6"])  # VGG's classifier reads fc7, which this store lacks
    with pytest.raises(FusionError, match=r"holds no rgb/fc7, which dropout scores need; extract features with "
                                          r"--rgb-taps \.\.\. fc7 logits"):
        dropped_out_scores(store, {}, (0.5, 0.5))

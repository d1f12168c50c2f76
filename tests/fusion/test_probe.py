"""The attribute probe on real stores of the tiny synthetic dataset, its attributes from the generator's metadata."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from twostream.data.errors import AttributesError
from twostream.data.splits import index_dataset
from twostream.fusion.errors import FeatureSourceError, FusionError
from twostream.fusion.features import averaged_logits
from twostream.fusion.probe import OUTCOMES, ProbeConfig, majority_value, probe, stream_outcomes
from twostream.fusion.probe_table import load_probe, probe_table
from twostream.fusion.sources import StoredFeatureSource
from twostream.pipeline.stores.feature_readers import open_feature_store


@pytest.fixture(scope="module")
def attributed(tiny_dataset):
    """The tiny dataset's manifest as `index` writes it, with each video's degraded_cue and degradation."""
    root, _ = tiny_dataset
    return index_dataset("ucf101", root / "videos", splits=root / "splits")


def _shares_add_up(row: dict) -> None:
    assert row["videos"] > 0
    assert sum(row[name] for name in OUTCOMES) == pytest.approx(1.0)


def test_probe_reports_each_tap_against_the_majority_value(attributed, feature_store, tmp_path):
    out = tmp_path / "probe.json"
    result = probe(attributed, feature_store, config=ProbeConfig(attribute="degraded_cue", out=out))
    assert load_probe(out) == json.loads(json.dumps(result))
    train = [v.attributes["degraded_cue"] for v in attributed.select(1, "train")]
    test = [v.attributes["degraded_cue"] for v in attributed.select(1, "test")]
    assert result["videos"] == {"train": len(train), "test": len(test)}
    assert result["values"] == {"train": dict(sorted(Counter(train).items())),
                                "test": dict(sorted(Counter(test).items()))}
    common = Counter(train).most_common()
    assert result["majority"]["value"] == min(value for value, count in common if count == common[0][1])
    assert result["majority"]["accuracy"] == pytest.approx(test.count(result["majority"]["value"]) / len(test))
    store = open_feature_store(feature_store)
    expected_taps = [tap for tap in store.taps("rgb") if tap != "logits"]
    assert list(result["taps"]) == expected_taps and expected_taps
    some_video = store.video_ids()[0]
    for tap, scored in result["taps"].items():
        channels = store.array(some_video, f"rgb/{tap}").shape[2] + store.array(some_video, f"flow/{tap}").shape[2]
        assert scored["features"] == channels
        assert scored["kind"] == ("map" if store.array(some_video, f"rgb/{tap}").ndim == 5 else "vector")
        assert 0.0 <= scored["accuracy"] <= 1.0


def test_stream_outcomes_match_each_streams_own_accuracy(attributed, feature_store):
    result = probe(attributed, feature_store, config=ProbeConfig(attribute="degradation", taps=("conv4",)))
    assert list(result["taps"]) == ["conv4"]
    assert list(result["streams_right"]) == ["clean"]
    clean = result["streams_right"]["clean"]
    _shares_add_up(clean["all"])
    for row in clean["by_value"].values():
        _shares_add_up(row)
    assert sum(row["videos"] for row in clean["by_value"].values()) == clean["all"]["videos"] == 8
    source = StoredFeatureSource(feature_store, [v.video_id for v in attributed.select(1, "train")])
    right = {stream: averaged_logits(source, stream).argmax(axis=1) == source.labels for stream in ("rgb", "flow")}
    assert clean["all"]["rgb_only"] + clean["all"]["both"] == pytest.approx(right["rgb"].mean())
    assert clean["all"]["flow_only"] + clean["all"]["both"] == pytest.approx(right["flow"].mean())


def test_out_of_fold_scores_are_reported_when_the_store_holds_them(attributed, oof_feature_store):
    result = probe(attributed, oof_feature_store, config=ProbeConfig(attribute="degraded_cue", taps=("conv4",)))
    assert list(result["streams_right"]) == ["clean", "out-of-fold"]
    folded = result["streams_right"]["out-of-fold"]["all"]
    _shares_add_up(folded)
    assert folded["videos"] == result["videos"]["train"]
    table = probe_table(result)
    assert "| majority (" in table and "| conv4 | map |" in table and "| out-of-fold | all | 8 |" in table


def test_outcomes_and_majority_helpers():
    outcomes = stream_outcomes(np.array([1, 0, 1, 0], bool), np.array([0, 1, 1, 0], bool))
    assert list(outcomes) == ["rgb_only", "flow_only", "both", "neither"]
    assert majority_value(["b", "a", "b", "a", "c"]) == "a"


def test_probe_refuses_what_it_cannot_fit(attributed, feature_store, tmp_path):
    with pytest.raises(AttributesError, match="no video has the attribute 'scene'"):
        probe(attributed, feature_store, config=ProbeConfig(attribute="scene"))
    with pytest.raises(FeatureSourceError, match="holds no 'stage6' for both streams"):
        probe(attributed, feature_store, config=ProbeConfig(attribute="degraded_cue", taps=("stage6",)))
    ids = [video.video_id for video in attributed]
    csv_path = tmp_path / "same.csv"
    csv_path.write_text("video_id,light\n" + "".join(f"{video_id},dark\n" for video_id in ids))
    with pytest.raises(FusionError, match="every training video of split 1 has light 'dark'"):
        probe(attributed, feature_store, config=ProbeConfig(attribute="light", attributes=csv_path))

"""bench/fusion_quality.py's tables of the attribute probe over choice seeds, from real probes of a real store."""
from __future__ import annotations

import pytest

from twostream.data.splits import index_dataset
from twostream.fusion.probe import OUTCOMES, ProbeConfig, probe


@pytest.fixture(scope="module")
def probes(tiny_dataset, feature_store):
    """Two probes of the tiny dataset's store for each video's degradation: on two taps, and on one of them."""
    root, _ = tiny_dataset
    manifest = index_dataset("ucf101", root / "videos", splits=root / "splits")
    both = probe(manifest, feature_store, config=ProbeConfig(attribute="degradation", taps=("conv4", "global_pool")))
    one = probe(manifest, feature_store, config=ProbeConfig(attribute="degradation", taps=("conv4",)))
    return both, one


def test_probe_rows_give_each_seeds_accuracy_and_their_mean(probes, bench_script):
    both, _ = probes
    rows = bench_script("fusion_quality").probe_rows({0: both, 1: both})
    assert [row["features"].split(" ")[0] for row in rows] == ["majority", "conv4", "global_pool"]
    for row, expected in zip(rows, [both["majority"]["accuracy"], *(t["accuracy"] for t in both["taps"].values())]):
        assert row["seed 0"] == row["seed 1"] == pytest.approx(row["mean"]) == pytest.approx(expected)


def test_streams_right_rows_pool_the_seeds_training_videos_per_degradation(probes, bench_script):
    both, one = probes
    rows = bench_script("fusion_quality").streams_right_rows({0: both, 1: one})
    clean = both["streams_right"]["clean"]
    by_value = {row["degradation"]: row for row in rows}
    assert set(by_value) == {"all", *clean["by_value"]}
    for value, row in by_value.items():
        single = clean["all"] if value == "all" else clean["by_value"][value]
        assert row["videos"] == 2 * single["videos"]  # the same training videos on both seeds
        for outcome in OUTCOMES:
            assert row[outcome.replace("_", " ")] == pytest.approx(single[outcome])
    assert sum(by_value["all"][name.replace("_", " ")] for name in OUTCOMES) == pytest.approx(1.0)


def test_streams_right_rows_weigh_each_seed_by_its_videos(bench_script):
    def seed(videos: int, rgb_only: float) -> dict:
        row = {"videos": videos, "rgb_only": rgb_only, "flow_only": 0.0, "both": 1.0 - rgb_only, "neither": 0.0}
        return {"streams_right": {"clean": {"all": row, "by_value": {"mimic": row}}}}

    rows = bench_script("fusion_quality").streams_right_rows({0: seed(10, 0.5), 1: seed(30, 0.1)})
    assert [row["degradation"] for row in rows] == ["all", "mimic"]
    assert rows[0]["videos"] == 40 and rows[0]["rgb only"] == pytest.approx((10 * 0.5 + 30 * 0.1) / 40)
    assert rows[0]["both"] == pytest.approx(1 - 0.2)

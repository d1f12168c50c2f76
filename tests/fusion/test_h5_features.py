"""Training from the HDF5 export: the same data, bit for bit, and the same trained gate as from features.zarr."""
import json

import numpy as np
import pytest

from twostream.cli.main import main
from twostream.fusion.comparison import evaluate
from twostream.fusion.configs import GateConfig
from twostream.fusion.features import FIELDS
from twostream.fusion.sources import StoredFeatureSource
from twostream.fusion.splits import split_sources
from twostream.fusion.train import train_gate
from twostream.pipeline.export_features import ExportConfig, export_features
from twostream.pipeline.stores.feature_readers import open_feature_store
from twostream.pipeline.stores.feature_store import FeatureStore


@pytest.fixture(scope="module")
def exported(feature_store, tmp_path_factory):
    """The tiny features store exported to HDF5 (gzip)."""
    path = tmp_path_factory.mktemp("h5") / "features.h5"
    export_features(feature_store, path, config=ExportConfig(format="h5"))
    return path


def _same(left, right) -> None:
    assert left.video_ids == right.video_ids and np.array_equal(left.labels, right.labels)
    assert left.fields == right.fields and left.num_classes == right.num_classes
    for index in range(len(left)):
        a, b = left.load(index, left.fields), right.load(index, right.fields)
        for name in left.fields:
            assert a.get(name).dtype == b.get(name).dtype and a.get(name).shape == b.get(name).shape
            assert a.get(name).tobytes() == b.get(name).tobytes(), f"{a.video_id} {name}"


def test_training_data_from_the_export_equals_the_store_bit_for_bit(feature_store, exported, tiny_dataset):
    zarr_source, h5_source = StoredFeatureSource(feature_store), StoredFeatureSource(exported)
    assert set(FIELDS) == zarr_source.fields
    _same(zarr_source.in_memory(FIELDS), h5_source.in_memory(FIELDS))
    assert h5_source.centre_crop() == zarr_source.centre_crop()
    _, manifest = tiny_dataset
    fields = ["rgb_map", "flow_map", "rgb_logits", "flow_logits"]
    from_zarr = split_sources(open_feature_store(feature_store), manifest, "1", fields, seed=3)
    from_h5 = split_sources(open_feature_store(exported), manifest, "1", fields, seed=3)
    for part in ("train", "val", "test"):
        _same(getattr(from_zarr, part), getattr(from_h5, part))


def test_a_gate_trained_from_the_export_predicts_as_one_trained_from_the_store(feature_store, exported,
                                                                               tiny_dataset, tmp_path, quick_training):
    _, manifest = tiny_dataset
    settings = quick_training(lrs=(1e-3, 1e-4), batch_size=4, patience=1, max_epochs_per_phase=2)
    train_gate(manifest, feature_store, tmp_path / "runs" / "from-zarr",
               config=GateConfig(training=settings, train_scores="clean"))
    manifest_path = manifest.save(tmp_path / "manifest.json")
    assert main(["train-gate", str(manifest_path), "--features", str(exported),
                 "--run", str(tmp_path / "runs" / "from-h5"), "--max-epochs-per-phase", "2", "--patience", "1", "--batch-size", "4",
                 "--seed", "3", "--train-scores", "clean", "--lrs", "0.001", "0.0001", "--select", "accuracy"]) == 0
    predictions = {name: json.loads((tmp_path / "runs" / name / "split1" / "predictions.json").read_text())
                   for name in ("from-zarr", "from-h5")}
    assert predictions["from-zarr"]["test"] and predictions["from-zarr"] == predictions["from-h5"]
    runs = [tmp_path / "runs" / "from-zarr"]
    assert evaluate(manifest, exported, runs).to_dict() == evaluate(manifest, feature_store, runs).to_dict()


def test_the_export_keeps_what_the_trainer_checks(feature_store, exported):
    store, h5 = FeatureStore.open(feature_store), open_feature_store(exported)
    assert type(h5).__name__ == "H5FeatureStore"
    assert h5.stream_config("rgb") == store.stream_config("rgb") and h5.classes == store.classes
    assert h5.attrs["checkpoints"] == store.attrs["checkpoints"]

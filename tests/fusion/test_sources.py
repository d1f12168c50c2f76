"""Feature sources over a features store: only the sampled views are read, and worker processes read them too."""
from __future__ import annotations

import numpy as np
import pytest

from twostream.fusion.configs import GateConfig, HeadConfig
from twostream.fusion.errors import FeatureSourceError
from twostream.fusion.features import FIELDS
from twostream.fusion.head_building import head_taps
from twostream.fusion.sources import StoredFeatureSource, field_arrays
from twostream.fusion.train import train_gate
from twostream.fusion.training.datasets import SegmentDataset
from twostream.pipeline.export_features import ExportConfig, export_features


@pytest.fixture(scope="module")
def exported(feature_store, tmp_path_factory):
    path = tmp_path_factory.mktemp("h5") / "features.h5"
    export_features(feature_store, path, config=ExportConfig(format="h5"))
    return path


@pytest.mark.parametrize("kind", ["zarr", "h5"])
def test_read_views_returns_exactly_those_views_of_the_whole_video(feature_store, exported, kind):
    source = StoredFeatureSource(feature_store if kind == "zarr" else exported)
    snippets, crops = np.array([2, 0, 2]), np.array([4, 9, 1])
    assert source.view_grid(1) == (3, 10)
    views = source.read_views(1, FIELDS, snippets, crops)
    whole = source.load(1, FIELDS)
    for name in FIELDS:
        assert views[name].dtype == whole.get(name).dtype
        np.testing.assert_array_equal(views[name], whole.get(name)[snippets, crops])


def test_a_segment_sample_from_the_store_equals_one_from_memory(feature_store):
    lazy = StoredFeatureSource(feature_store)
    loaded = lazy.in_memory(FIELDS)
    for train in (True, False):
        streamed, held = (SegmentDataset(source, FIELDS, segments=3, train=train, seed=4, eval_crop=4)
                          for source in (lazy, loaded))
        for index in range(len(lazy)):
            a, b = streamed[index], held[index]
            assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


@pytest.mark.parametrize("kind", ["zarr", "h5"])
def test_loader_workers_read_the_store_and_train_the_same_gate(feature_store, exported, tiny_dataset, tmp_path,
                                                               quick_training, kind):
    _, manifest = tiny_dataset
    store = feature_store if kind == "zarr" else exported
    predictions = {}
    for workers in (0, 2):
        settings = quick_training(batch_size=4, patience=1, max_epochs_per_phase=2, num_workers=workers)
        fit = train_gate(manifest, store, tmp_path / "runs" / f"workers{workers}",
                         config=GateConfig(training=settings, train_scores="clean"))
        predictions[workers] = fit["1"].predictions["test"]
    settings = quick_training(batch_size=4, patience=1, max_epochs_per_phase=2)
    fit = train_gate(manifest, store, tmp_path / "runs" / "preload",
                     config=GateConfig(training=settings, preload=True, train_scores="clean"))
    predictions["preload"] = fit["1"].predictions["test"]
    np.testing.assert_array_equal(predictions[0].scores, predictions[2].scores)
    np.testing.assert_array_equal(predictions[0].scores, predictions["preload"].scores)


def test_out_of_fold_sources_serve_fold_arrays_for_train_and_val_and_full_ones_for_test(oof_feature_store,
                                                                                         tiny_dataset):
    from twostream.fusion.splits import split_sources
    from twostream.pipeline.stores.feature_readers import open_feature_store

    _, manifest = tiny_dataset
    store = open_feature_store(oof_feature_store)
    fields = ["rgb_map", "flow_vec", "rgb_logits", "flow_logits", "flowmag"]
    for preload in (False, True):
        sources = split_sources(store, manifest, "1", fields, vec_tap="global_pool", preload=preload, out_of_fold=True)
        for part, prefix in ((sources.train, "oof/"), (sources.val, "oof/"), (sources.test, "")):
            loaded = part.load(0, fields)
            video_id = part.video_ids[0]
            for name, array in (("rgb_map", "rgb/conv3"), ("flow_vec", "flow/global_pool"),
                                ("rgb_logits", "rgb/logits"), ("flow_logits", "flow/logits")):
                np.testing.assert_array_equal(loaded.get(name), store.array(video_id, prefix + array)[...])
            np.testing.assert_array_equal(loaded.get("flowmag"), store.array(video_id, "flowmag")[...])


def test_out_of_fold_sources_refuse_a_store_or_videos_without_fold_arrays(oof_feature_store, feature_store,
                                                                          tiny_dataset):
    from twostream.fusion.errors import FeatureSourceError

    _, manifest = tiny_dataset
    with pytest.raises(FeatureSourceError, match="holds no out-of-fold arrays; extract features with "
                                                 "--fold-checkpoints DIR written by train-streams --folds K"):
        StoredFeatureSource(feature_store, out_of_fold_arrays=True)
    tested = [v.video_id for v in manifest.select(1, "test")]
    with pytest.raises(FeatureSourceError, match=f"have no out-of-fold arrays .*{tested[0]}.*--fold-checkpoints"):
        StoredFeatureSource(oof_feature_store, tested, out_of_fold_arrays=True)


def test_vectors_are_the_backbones_pooled_tap_unless_vec_tap_names_another(make_tap_store):
    store = make_tap_store("vgg16", ["conv5"], ["fc6", "fc7"])  # filled with 1 (conv5), 2 (fc6), 3 (fc7), 4
    assert field_arrays(store)["rgb_vec"] == "rgb/fc7"  # VGG's classifier reads fc7, though fc6 comes first
    assert head_taps(store, HeadConfig(on="vectors")) == ({}, {"rgb": "fc7", "flow": "fc7"})
    assert head_taps(store, HeadConfig(on="vectors", vec_tap="fc6")) == ({}, {"rgb": "fc6", "flow": "fc6"})
    fields = ["rgb_vec", "flow_vec"]
    read = {choice: StoredFeatureSource(store, vec_tap=choice).load(0, fields) for choice in (None, "fc6")}
    assert read[None].get("rgb_vec").tolist() == [[[3.0, 3.0]]] and read["fc6"].get("flow_vec").max() == 2.0
    per_stream = StoredFeatureSource(store, vec_tap={"flow": "fc6"}).load(0, fields)
    assert (per_stream.get("rgb_vec").max(), per_stream.get("flow_vec").max()) == (3.0, 2.0)
    with pytest.raises(FeatureSourceError, match=r"holds no rgb/fc8 .*extract features with --rgb-taps fc8"):
        StoredFeatureSource(store, vec_tap="fc8")


def test_a_store_without_the_pooled_vector_refuses_vectors_by_naming_the_tap_to_extract(make_tap_store):
    store = make_tap_store("bninception", ["inception4e"], [])
    assert "rgb_vec" not in field_arrays(store)  # maps still serve the gate
    _, vectors = head_taps(store, HeadConfig(on="vectors"))
    with pytest.raises(FeatureSourceError, match=r"holds no rgb/global_pool .*--rgb-taps global_pool"):
        field_arrays(store, vec_tap=vectors)

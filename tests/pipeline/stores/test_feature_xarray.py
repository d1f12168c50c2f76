"""A features store as a lazy xarray Dataset: named dimensions, the store's values, the docstring's example."""
import sys

import numpy as np
import pytest

from twostream.pipeline.export_features import ExportConfig, export_features
from twostream.pipeline.stores.feature_store import FeatureStore, write_array
from twostream.pipeline.stores.feature_xarray import XarrayMissingError, open_features_xarray
from twostream.pipeline.stores.video_store import StoreError


def test_dimensions_values_and_coordinates(feature_store):
    pytest.importorskip("xarray")
    store = FeatureStore.open(feature_store)
    ids = store.video_ids()
    features = open_features_xarray(feature_store)
    conv3 = features["rgb_conv3"]
    assert conv3.dims == ("video", "snippet", "crop", "channel", "y", "x")
    assert features["flowmag"].dims == ("video", "snippet", "crop", "y", "x")
    assert features["flow_logits"].dims == ("video", "snippet", "crop", "class")
    assert features["rgb_global_pool"].dims == ("video", "snippet", "crop", "channel")  # 32 channels, as conv3
    assert list(features["class"].values) == store.classes
    assert list(features["video"].values) == ids
    assert list(features["label"].values) == [store.label(v) for v in ids]
    assert type(conv3.data).__module__.startswith("dask")  # lazy until computed
    assert conv3.data.chunksize[0] == 1
    for index in (0, len(ids) - 1):
        assert np.array_equal(conv3.isel(video=index).values, store.array(ids[index], "rgb/conv3")[...])
        assert np.array_equal(features["flowmag"].sel(video=ids[index]).values, store.array(ids[index], "flowmag")[...])


def test_the_docstring_example_gives_the_mean_map_activation_per_class(feature_store):
    pytest.importorskip("xarray")
    store = FeatureStore.open(feature_store)
    features = open_features_xarray(feature_store)
    per_video = features["rgb_conv3"].mean(["snippet", "crop", "channel", "y", "x"])
    per_class = per_video.groupby("class_name").mean().compute().to_series()
    by_hand = {}
    for video_id in store.video_ids():
        by_hand.setdefault(store.classes[store.label(video_id)], []).append(
            store.read(video_id, "rgb/conv3").mean(dtype=np.float64))
    assert sorted(per_class.index) == sorted(by_hand)
    for name, means in by_hand.items():
        assert per_class[name] == pytest.approx(np.mean(means), rel=1e-3)


def test_an_hdf5_export_opens_the_same(feature_store, tmp_path):
    pytest.importorskip("xarray")
    path = tmp_path / "features.h5"
    export_features(feature_store, path, config=ExportConfig(format="h5", taps=["conv3", "flowmag"]))
    from_h5, from_zarr = open_features_xarray(path), open_features_xarray(feature_store)
    assert set(from_h5.data_vars) == {"rgb_conv3", "flow_conv3", "flowmag"}
    for name in from_h5.data_vars:
        assert np.array_equal(from_h5[name].values, from_zarr[name].values)


def test_without_xarray_the_error_says_how_to_install_it(feature_store, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)  # what `import xarray` meets when it is not installed
    with pytest.raises(XarrayMissingError, match=r"pip install twostream-fusion\[xarray\]"):
        open_features_xarray(feature_store)


def _synthetic_store(path, shapes_per_video):
    streams = {"rgb": {"taps": ["map", "pool"], "map_tap": "map"}, "flow": {"taps": ["map"], "map_tap": "map"}}
    store = FeatureStore.create_or_open(path, {"streams": streams}, classes=["a", "b"])
    for index, shapes in enumerate(shapes_per_video):
        with store.write_video(f"v_{index}") as group:
            for name, shape in shapes.items():
                write_array(group, name, np.full(shape, index, dtype=np.float32), "float16")
            group.attrs.update({"label": index % 2, "class_name": "ab"[index % 2]})
    return path


def test_dimensions_of_other_sizes_take_the_tap_as_prefix_and_videos_must_share_shapes(tmp_path):
    pytest.importorskip("xarray")
    shapes = {"rgb/map": (2, 1, 4, 3, 3), "rgb/pool": (2, 1, 5), "flow/map": (2, 1, 6, 3, 3), "flowmag": (2, 1, 3, 3)}
    features = open_features_xarray(_synthetic_store(tmp_path / "a.zarr", [shapes, shapes]))
    assert features["rgb_map"].dims == ("video", "snippet", "crop", "channel", "y", "x")
    assert features["flow_map"].dims == ("video", "snippet", "crop", "map_channel", "y", "x")
    assert features["rgb_pool"].dims == ("video", "snippet", "crop", "pool_channel")
    assert features.sizes["channel"] == 4 and features.sizes["map_channel"] == 6
    assert features["flow_map"].sel(video="v_1").values.min() == 1
    other = {**shapes, "rgb/map": (3, 1, 4, 3, 3)}
    with pytest.raises(StoreError, match="videos of one shape"):
        open_features_xarray(_synthetic_store(tmp_path / "b.zarr", [shapes, other]))

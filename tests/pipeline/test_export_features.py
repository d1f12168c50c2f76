"""export-features: npy and HDF5 exports of a real tiny features store, skipped videos, overwrite,
bounded memory on a store larger than the limit, and an export killed midway."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import zarr

from twostream.cli.main import main
from twostream.pipeline.export_features import ExportConfig, ExportError, export_features
from twostream.pipeline.stores.feature_h5 import H5FeatureStore, read_attrs
from twostream.pipeline.stores.feature_readers import open_feature_store
from twostream.pipeline.stores.feature_store import FeatureStore, write_array
from twostream.pipeline.stores.video_store import StoreError


def test_npy_export_matches_the_store(feature_store, tmp_path, capsys):
    out = tmp_path / "npy"
    assert main(["export-features", "--features", str(feature_store), "--format", "npy", "--out", str(out)]) == 0
    assert "videos written" in capsys.readouterr().out
    store = FeatureStore.open(feature_store)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == store.video_ids()
    names = [f"{s}/{t}" for s in ("rgb", "flow") for t in store.taps(s)] + ["flowmag"]
    for video_id in store.video_ids():
        sidecar = json.loads((out / video_id / "features.json").read_text())
        assert sidecar["label"] == store.label(video_id)
        assert sidecar["class_name"] == store.classes[store.label(video_id)]
        assert sidecar["attrs"]["flow_stack_starts"] == store.video(video_id).attrs["flow_stack_starts"]
        for name in names:
            file = name.replace("/", "_") + ".npy"
            loaded, stored = np.load(out / video_id / file), store.array(video_id, name)[...]
            assert loaded.dtype == stored.dtype and np.array_equal(loaded, stored)
            assert len(sidecar["files"][file]["axes"]) == stored.ndim
    described = json.loads((out / store.video_ids()[0] / "features.json").read_text())["files"]
    assert described["rgb_conv3.npy"]["axes"] == ["snippet", "crop", "channel", "y", "x"]
    assert described["flow_logits.npy"]["axes"] == ["snippet", "crop", "class"]
    assert described["flowmag.npy"]["axes"] == ["snippet", "crop", "y", "x"]
    assert json.loads((out / "store.json").read_text())["twostream"]["classes"] == store.classes


def test_h5_export_mirrors_groups_and_attributes(feature_store, tmp_path):
    out = tmp_path / "features.h5"
    summary = export_features(feature_store, out, config=ExportConfig(format="h5", compression="lzf"))
    store = FeatureStore.open(feature_store)
    assert summary.written == store.video_ids() and not summary.skipped
    with h5py.File(out, "r") as handle:
        dataset = handle[f"videos/{store.video_ids()[0]}/rgb/conv3"]
        assert dataset.compression == "lzf" and dataset.chunks[0] == 1
        assert [d.label for d in dataset.dims] == ["snippet", "crop", "channel", "y", "x"]
    with H5FeatureStore.open(out) as exported:
        assert exported.attrs == store.attrs
        assert exported.video_ids() == store.video_ids()
        for video_id in store.video_ids():
            assert read_attrs(exported.video(video_id).attrs) == dict(store.video(video_id).attrs)
            for name in ("rgb/conv3", "flow/logits", "flowmag"):
                assert np.array_equal(exported.array(video_id, name)[...], store.array(video_id, name)[...])


def test_selected_taps_streams_and_videos(feature_store, tmp_path):
    store = FeatureStore.open(feature_store)
    chosen = store.video_ids()[:2]
    out = tmp_path / "rgb.h5"
    summary = export_features(feature_store, out, config=ExportConfig(format="h5", taps=["conv3", "logits"],
                                                                      streams=["rgb"], video_ids=chosen))
    assert summary.arrays == ["rgb/conv3", "rgb/logits"] and summary.written == chosen
    with H5FeatureStore.open(out) as exported:
        assert exported.video_ids() == chosen and exported.taps("rgb") == ["conv3", "logits"]
        with pytest.raises(StoreError, match="holds no flow stream"):
            exported.stream_config("flow")
        with pytest.raises(StoreError, match="holds no 'rgb/global_pool'"):
            exported.array(chosen[0], "rgb/global_pool")
    with pytest.raises(ExportError, match="no tap 'conv9'"):
        export_features(feature_store, tmp_path / "x.h5", config=ExportConfig(format="h5", taps=["conv9"]))
    with pytest.raises(ExportError, match="not in"):
        export_features(feature_store, tmp_path / "x.h5", config=ExportConfig(format="h5", video_ids=["v_nowhere"]))
    with pytest.raises(ExportError, match="uncompressed"):
        export_features(feature_store, tmp_path / "x", config=ExportConfig(format="npy", compression="gzip"))
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "x").exists()


def test_failed_and_incomplete_videos_are_skipped_and_reported(feature_store, tmp_path, capsys):
    copy = tmp_path / "features.zarr"
    shutil.copytree(feature_store, copy)
    store = FeatureStore.open(copy)
    complete = store.video_ids()
    store.record_failure("v_Broken_g09_c01", "ffmpeg could not decode", 3)
    partial = zarr.open_group(str(copy / "videos" / "v_Partial_g09_c01"), mode="w")
    partial.create_array("flowmag", shape=(1, 1, 2, 2), dtype="float16")
    out = tmp_path / "features.h5"
    assert main(["export-features", "--features", str(copy), "--format", "h5", "--out", str(out)]) == 1  # like the extract commands
    report = capsys.readouterr()
    assert f"{len(complete)} videos written" in report.out and "2 skipped" in report.out
    assert "SKIPPED v_Broken_g09_c01: failed: ffmpeg could not decode" in report.err
    assert "SKIPPED v_Partial_g09_c01: incomplete" in report.err
    with H5FeatureStore.open(out) as exported:
        assert exported.video_ids() == complete
        assert "ffmpeg" in exported.failures()["v_Broken_g09_c01"]["error"]
        with pytest.raises(StoreError, match="it was skipped: incomplete"):
            exported.video("v_Partial_g09_c01")
    summary = export_features(copy, tmp_path / "npy",
                              config=ExportConfig(format="npy", video_ids=[complete[0], "v_Broken_g09_c01"]))
    assert summary.written == [complete[0]] and list(summary.skipped) == ["v_Broken_g09_c01"]
    assert not (tmp_path / "npy" / "v_Broken_g09_c01").exists()


def test_an_existing_output_is_refused_unless_overwrite(feature_store, tmp_path):
    store = FeatureStore.open(feature_store)
    for fmt, out in (("h5", tmp_path / "features.h5"), ("npy", tmp_path / "npy")):
        export_features(feature_store, out, config=ExportConfig(format=fmt, video_ids=store.video_ids()[:1]))
        with pytest.raises(ExportError, match="exists; pass --overwrite"):
            export_features(feature_store, out, config=ExportConfig(format=fmt))
        export_features(feature_store, out, config=ExportConfig(format=fmt, overwrite=True))
        written = open_feature_store(out).video_ids() if fmt == "h5" else sorted(p.name for p in out.iterdir()
                                                                                 if p.is_dir())
        assert written == store.video_ids()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.h5", "npy"]  # nothing left beside them
    with pytest.raises(ExportError, match="is the store being exported"):
        export_features(feature_store, feature_store, config=ExportConfig(format="h5", overwrite=True))
    assert FeatureStore.open(feature_store).video_ids() == store.video_ids()
    assert main(["export-features", "--features", str(feature_store), "--format", "h5", "--out", str(tmp_path / "features.h5")]) == 2


# ---- a store larger than the memory limit -----------------------------------------------------------------
SNIPPETS, CROPS, CHANNELS, GRID = 25, 10, 128, 16
VIDEOS = 4
ARRAY_BYTES = SNIPPETS * CROPS * CHANNELS * GRID * GRID * 2  # float16: 16 MiB
STORE_BYTES = VIDEOS * 2 * ARRAY_BYTES  # two streams: 128 MiB
LIMIT_BYTES = 8 << 20
BLOCK_BYTES = 2 << 20


@pytest.fixture(scope="module")
def large_store(tmp_path_factory):
    """A features store of synthetic maps holding more bytes (uncompressed) than the memory limit."""
    path = tmp_path_factory.mktemp("large") / "features.zarr"
    streams = {s: {"backbone": "synthetic", "taps": ["map"], "map_tap": "map", "num_classes": 2}
               for s in ("rgb", "flow")}
    config = {"streams": streams, "sampling": {"snippets": SNIPPETS, "crops": CROPS}}
    store = FeatureStore.create_or_open(path, config, classes=["a", "b"])
    pattern = np.arange(GRID * GRID, dtype=np.float16).reshape(GRID, GRID)
    for index in range(VIDEOS):
        data = np.broadcast_to(pattern + index, (SNIPPETS, CROPS, CHANNELS, GRID, GRID))
        with store.write_video(f"v_{index}") as group:
            for stream in ("rgb", "flow"):
                write_array(group, f"{stream}/map", np.ascontiguousarray(data), "float16")
            write_array(group, "flowmag", np.ascontiguousarray(data[:, :, 0]), "float16")
            group.attrs.update({"label": index % 2, "class_name": "ab"[index % 2]})
    return path


MEASURE = """
import json, sys
from twostream.pipeline.export_features import ExportConfig, export_features

def status(key):
    return int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith(key))) * 1024

store, out, fmt, block = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
options = {"block_bytes": block, **({"compression": "lzf"} if fmt == "h5" else {})}
export_features(store, out + ".warm", config=ExportConfig(format=fmt, video_ids=["v_0"], **options))  # caches loaded
open("/proc/self/clear_refs", "w").write("5")  # restart the peak (VmHWM) from here
before = status("VmRSS")
export_features(store, out, config=ExportConfig(format=fmt, **options))
print(json.dumps({"before": before, "peak": status("VmHWM")}))
"""


@pytest.mark.parametrize("fmt", ["h5", "npy"])
def test_export_memory_stays_bounded_on_a_store_larger_than_the_limit(large_store, tmp_path, fmt):
    assert STORE_BYTES > 10 * LIMIT_BYTES and ARRAY_BYTES > LIMIT_BYTES  # one array read whole would exceed it
    out = tmp_path / ("features.h5" if fmt == "h5" else "npy")
    # One malloc arena: the per-thread arenas of zarr's reader threads would otherwise add megabytes of noise.
    env = {**os.environ, "MALLOC_ARENA_MAX": "1"}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(large_store), str(out), fmt, str(BLOCK_BYTES)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    grown = measured["peak"] - measured["before"]
    print(f"{fmt}: peak RSS {measured['peak'] / 2**20:.1f} MiB, grew {grown / 2**20:.1f} MiB "
          f"exporting {STORE_BYTES / 2**20:.0f} MiB")
    assert grown < LIMIT_BYTES
    stored = FeatureStore.open(large_store).array("v_3", "flow/map")
    if fmt == "h5":
        exported = open_feature_store(out)
        assert exported.video_ids() == [f"v_{i}" for i in range(VIDEOS)]
        assert np.array_equal(exported.array("v_3", "flow/map")[24, 9], stored[24, 9])
    else:
        written = np.load(out / "v_3" / "flow_map.npy", mmap_mode="r")
        assert written.shape == stored.shape and np.array_equal(written[24, 9], stored[24, 9])


def test_a_killed_export_leaves_nothing_that_looks_complete(large_store, tmp_path):
    out = tmp_path / "features.h5"
    command = [sys.executable, "-m", "twostream.cli", "export-features", "--features", str(large_store), "--format", "h5",
               "--out", str(out), "--compression", "gzip"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    partial = []
    while not partial and process.poll() is None and time.monotonic() < deadline:
        partial = [p for p in tmp_path.iterdir() if p.name.startswith(".features.h5.partial-")]
        time.sleep(0.01)
    time.sleep(0.2)  # into the copy (the whole export takes over a second)
    assert process.poll() is None, f"the export ended before it could be killed: {process.stderr.read()}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not out.exists()
    assert partial and all(p.exists() for p in partial)
    for leftover in partial:
        with pytest.raises(StoreError, match="unfinished export"):
            H5FeatureStore.open(leftover)
    with pytest.raises(StoreError, match="does not exist"):
        open_feature_store(out)
    assert main(["export-features", "--features", str(large_store), "--format", "h5", "--out", str(out), "--videos", "v_0"]) == 0
    assert not any(p.exists() for p in partial)  # the next run removed what the killed one left aside
    assert [p.name for p in tmp_path.iterdir()] == ["features.h5"]


def test_exports_carry_the_out_of_fold_arrays_of_the_fold_videos(oof_feature_store, tmp_path):
    store = FeatureStore.open(oof_feature_store)
    in_folds = [v for v in store.video_ids() if v in store.folds["assignment"]]
    others = [v for v in store.video_ids() if v not in store.folds["assignment"]]
    assert in_folds and others
    export_features(oof_feature_store, tmp_path / "features.h5",
                    config=ExportConfig(format="h5", taps=("logits", "conv3")))
    export_features(oof_feature_store, tmp_path / "npy", config=ExportConfig(format="npy", taps=("logits",)))
    with H5FeatureStore.open(tmp_path / "features.h5") as exported:
        assert exported.folds == store.folds
        for name in ("oof/rgb/logits", "oof/flow/conv3"):
            assert np.array_equal(exported.array(in_folds[0], name)[...], store.array(in_folds[0], name)[...])
        assert "oof" not in exported.video(others[0])
    assert (tmp_path / "npy" / in_folds[0] / "oof_flow_logits.npy").is_file()
    assert not (tmp_path / "npy" / others[0] / "oof_flow_logits.npy").exists()


# ---- localisation exports of a dense store -------------------------------------------------------------------
def bsn_reader(feature_path: str, video_name: str, temporal_scale: int) -> np.ndarray:
    """BSN/BMN's loader as their data code describes it: pandas.read_csv of
    <feature_path>csv_mean_<T>/<video>.csv, every value of every row, then channels first."""
    import pandas as pd

    frame = pd.read_csv(feature_path + "csv_mean_" + str(temporal_scale) + "/" + video_name + ".csv")
    return np.asarray(frame.values[:, :], dtype=np.float32).T


def mmaction_reader(folder, video_name: str) -> np.ndarray:
    """mmaction2's localisation feature loading as documented: numpy.loadtxt, comma-separated, the header row
    skipped, then channels first."""
    return np.loadtxt(folder / f"{video_name}.csv", dtype=np.float32, delimiter=",", skiprows=1).T


def test_localization_csv_reads_as_bsn_and_mmaction2_read_csv_mean_100(dense_feature_store, tmp_path, capsys):
    from twostream.data.rescale import rescale_positions

    out = tmp_path / "csv_mean_100"
    assert main(["export-features", "--features", str(dense_feature_store), "--format", "localization-csv", "--out", str(out)]) == 0
    assert "videos written (rgb/logits, flow/logits)" in capsys.readouterr().out
    store = FeatureStore.open(dense_feature_store)
    classes = len(store.classes)
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{v}.csv" for v in store.video_ids()] + ["store.json"])
    for video_id in store.video_ids():
        features = bsn_reader(str(tmp_path) + "/", video_id, 100)
        assert features.shape == (2 * classes, 100)
        assert (out / f"{video_id}.csv").read_text().splitlines()[0] == ",".join(f"f{i}" for i in range(2 * classes))
        snippets = np.concatenate([store.read(video_id, "rgb/logits")[:, 0], store.read(video_id, "flow/logits")[:, 0]],
                                  axis=1)
        np.testing.assert_allclose(features.T, rescale_positions(snippets, 100), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(mmaction_reader(out, video_id), features)
    sidecar = json.loads((out / "store.json").read_text())
    video_id = store.video_ids()[0]
    assert sidecar["export"]["columns"] == {"rgb/logits": [0, classes], "flow/logits": [classes, 2 * classes]}
    assert sidecar["export"]["videos"][video_id] == {"snippets": 5, "stride": 2, "frames": 10, "feature_frame": 10}
    assert sidecar["export"]["positions"] == 100 and sidecar["twostream"]["config"]["sampling"]["kind"] == "dense"


def test_localization_npy_holds_the_pooled_vectors_rgb_then_flow(dense_feature_store, tmp_path):
    store = FeatureStore.open(dense_feature_store)
    native = export_features(dense_feature_store, tmp_path / "native",
                             config=ExportConfig(format="localization-npy", taps=["global_pool"], positions="native"))
    assert native.arrays == ["rgb/global_pool", "flow/global_pool"]
    video_id = store.video_ids()[1]
    loaded = np.load(tmp_path / "native" / f"{video_id}.npy")
    assert loaded.dtype == np.float32 and loaded.shape == (5, 64)
    np.testing.assert_array_equal(loaded[:, :32], store.read(video_id, "rgb/global_pool")[:, 0])
    np.testing.assert_array_equal(loaded[:, 32:], store.read(video_id, "flow/global_pool")[:, 0])
    export_features(dense_feature_store, tmp_path / "mixed",
                    config=ExportConfig(format="localization-npy", taps=["flow/logits", "rgb/global_pool"],
                                        positions=16))
    mixed = np.load(tmp_path / "mixed" / f"{video_id}.npy")
    assert mixed.shape == (16, 32 + len(store.classes))
    rgb_only = export_features(dense_feature_store, tmp_path / "rgb",
                               config=ExportConfig(format="localization-npy", streams=["rgb"], positions=8))
    assert rgb_only.arrays == ["rgb/logits"]
    assert np.load(tmp_path / "rgb" / f"{video_id}.npy").shape == (8, len(store.classes))


def test_localization_exports_refuse_what_they_cannot_write(dense_feature_store, feature_store, tmp_path):
    with pytest.raises(ExportError, match="holds TSN snippets .* --sampling dense --stride N"):
        export_features(feature_store, tmp_path / "x", config=ExportConfig(format="localization-csv"))
    with pytest.raises(ExportError, match="one tap per stream.*gives 2 for rgb"):
        export_features(dense_feature_store, tmp_path / "x",
                        config=ExportConfig(format="localization-csv", taps=["logits", "global_pool"]))
    with pytest.raises(ExportError, match="--positions applies to the localization formats, not npy"):
        ExportConfig(format="npy", positions=100)
    with pytest.raises(ExportError, match="positive number of rows or 'native'"):
        ExportConfig(format="localization-npy", positions=0)
    with pytest.raises(ExportError, match="holds no tap 'flowmag'"):
        export_features(dense_feature_store, tmp_path / "x",
                        config=ExportConfig(format="localization-csv", taps=["flowmag"]))
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as parsed:
        main(["export-features", "--features", str(dense_feature_store), "--format", "localization-csv", "--positions", "many",
              "--out", str(tmp_path / "y")])
    assert parsed.value.code == 2


def test_npy_export_of_a_dense_store_has_no_flowmag(dense_feature_store, tmp_path):
    summary = export_features(dense_feature_store, tmp_path / "npy", config=ExportConfig(format="npy"))
    assert summary.arrays == ["rgb/global_pool", "rgb/logits", "flow/global_pool", "flow/logits"]

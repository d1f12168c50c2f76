"""Damaged stores: every kind of damage (changed bytes, a truncated or deleted chunk, a deleted array's or
video's zarr.json) named on reading by store, video and array; batches that record a damaged video and go on;
`verify` finding damage planted in 5 videos and `verify --repair` restoring the store to what it was."""
import json
import random
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr

from twostream.cli.main import main
from twostream.fusion.results import ResultsTable
from twostream.pipeline.batch import Execution
from twostream.pipeline.export_features import ExportConfig, export_features
from twostream.pipeline.extract_features import extract_features
from twostream.pipeline.stores.feature_h5 import H5FeatureStore
from twostream.pipeline.stores.feature_store import FeatureStore
from twostream.pipeline.stores.frame_store import FrameStore
from twostream.pipeline.stores.verify import verify_store
from twostream.pipeline.stores.video_store import GROUP, StoreDamageError

DAMAGE = ("changed bytes", "truncated chunk", "deleted chunk", "deleted array metadata", "deleted group metadata")


def plant(store: Path, video_id: str, array: str, kind: str) -> str:
    """Damage one array (or the group) of one video of a store as `kind` says; return the damaged part's name."""
    folder = store / "videos" / video_id
    if kind == "deleted group metadata":
        (folder / "zarr.json").unlink()
        return GROUP
    if kind == "deleted array metadata":
        (folder / array / "zarr.json").unlink()
        return array
    chunk = sorted(path for path in (folder / array / "c").rglob("*") if path.is_file())[0]
    data = chunk.read_bytes()
    if kind == "changed bytes":
        middle = len(data) // 2
        chunk.write_bytes(data[:middle] + bytes(byte ^ 0xFF for byte in data[middle:middle + 16]) + data[middle + 16:])
    elif kind == "truncated chunk":
        chunk.write_bytes(data[:len(data) // 3])
    else:
        chunk.unlink()
    return array


def copied(store: Path, folder: Path) -> Path:
    """A copy of a store, to damage."""
    return Path(shutil.copytree(store, folder / store.name))


def same_stores(first: Path, second: Path) -> bool:
    """Whether two stores hold the same videos with equal arrays."""
    one, two = zarr.open_group(str(first / "videos"), mode="r"), zarr.open_group(str(second / "videos"), mode="r")
    if sorted(one.group_keys()) != sorted(two.group_keys()):
        return False
    for video_id in one.group_keys():
        arrays = dict(one[video_id].arrays()) | {f"{name}/{key}": array for name, group in one[video_id].groups()
                                                  for key, array in group.arrays()}
        for name, array in arrays.items():
            if not np.array_equal(np.asarray(array[...]), np.asarray(two[video_id][name][...])):
                return False
    return True


@pytest.mark.parametrize("kind", DAMAGE)
def test_every_kind_of_damage_is_named_by_store_video_and_array_when_read(kind, feature_store, reference_store,
                                                                          tmp_path):
    features, frames = copied(feature_store, tmp_path), copied(reference_store, tmp_path)
    video_id = FeatureStore.open(features).video_ids()[0]
    reads = {features: (plant(features, video_id, "rgb/logits", kind),
                        lambda: FeatureStore.open(features).read(video_id, "rgb/logits")),
             frames: (plant(frames, video_id, "flow", kind), lambda: FrameStore.open(frames).flow(video_id))}
    for store, (damaged, read) in reads.items():
        with pytest.raises(StoreDamageError) as caught:
            read()
        message = str(caught.value)
        assert str(store) in message and video_id in message and damaged in message and "\n" not in message


def test_a_command_that_meets_damage_exits_2_with_one_line(feature_store, tiny_dataset, tmp_path, capsys):
    _, manifest = tiny_dataset
    features = copied(feature_store, tmp_path)
    test_video = manifest.select("1", "test")[0].video_id
    plant(features, test_video, "flow/logits", "truncated chunk")
    manifest_path = manifest.save(tmp_path / "manifest.json")
    assert main(["evaluate", str(manifest_path), "--features", str(features), "--out", str(tmp_path / "r.json")]) == 2
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == 1 and test_video in printed[0] and "array flow/logits is damaged" in printed[0]

    out = tmp_path / "left-out.json"
    assert main(["evaluate", str(manifest_path), "--features", str(features), "--out", str(out),
                 "--leave-out-damaged"]) == 0
    printed = capsys.readouterr().err
    assert f"leaving out 1 damaged video(s) of {len(manifest)} ({test_video})" in printed
    evaluated = ResultsTable.from_dict(json.loads(out.read_text())).outcomes["split 1"]["video_ids"]
    assert sorted(evaluated) == sorted(video.video_id for video in manifest.select("1", "test") if video.video_id != test_video)


def test_batches_record_a_damaged_video_and_go_on(feature_store, reference_store, tiny_dataset, features_config,
                                                  tmp_path, capsys):
    _, manifest = tiny_dataset
    features, frames = copied(feature_store, tmp_path), copied(reference_store, tmp_path)
    video_ids = FeatureStore.open(features).video_ids()
    damaged = video_ids[3]
    plant(features, damaged, "flow/logits", "changed bytes")
    plant(frames, damaged, "flow", "deleted chunk")
    for format in ("npy", "h5"):
        summary = export_features(features, tmp_path / f"export.{format}", config=ExportConfig(format=format))
        assert summary.written == [v for v in video_ids if v != damaged] and "flow/logits" in summary.skipped[damaged]
    assert not (tmp_path / "export.npy" / damaged).exists()
    with h5py.File(tmp_path / "export.h5", "r") as handle:
        assert damaged not in handle["videos"]
    assert main(["export-rawframes", "--frames", str(frames), "--out", str(tmp_path / "raw")]) == 1
    assert f"FAILED {damaged}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == [v for v in video_ids if v != damaged]
    summary = extract_features(manifest, frames, tmp_path / "again.zarr", config=features_config(),
                               execution=Execution(no_cluster=True, retries=0))
    assert list(summary.failed) == [damaged] and "array flow is damaged" in summary.failed[damaged]
    assert len(summary.written) == len(manifest) - 1


def test_the_hdf5_export_checksums_every_chunk_and_names_damage(feature_store, tmp_path):
    out = tmp_path / "features.h5"
    export_features(feature_store, out, config=ExportConfig(format="h5", taps=("logits",), streams=("rgb",)))
    video_id = H5FeatureStore.open(out).video_ids()[0]
    with h5py.File(out, "r") as handle:
        dataset = handle["videos"][video_id]["rgb/logits"]
        assert dataset.fletcher32
        offset = dataset.id.get_chunk_info(0).byte_offset
    with open(out, "r+b") as stream:
        stream.seek(offset + 2)
        byte = stream.read(1)
        stream.seek(offset + 2)
        stream.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(StoreDamageError, match=f"video {video_id}, array rgb/logits is damaged"):
        H5FeatureStore.open(out).array(video_id, "rgb/logits")[...]


def test_verify_finds_damage_planted_in_5_videos_and_repair_restores_the_features_store(
        feature_store, reference_store, tiny_dataset, tmp_path, capsys):
    _, manifest = tiny_dataset
    features = copied(feature_store, tmp_path)
    chosen = random.Random(5).sample(FeatureStore.open(features).video_ids(), len(DAMAGE))
    planted = {video_id: plant(features, video_id, array, kind)
               for video_id, kind, array in zip(chosen, DAMAGE, ("rgb/logits", "flow/global_pool", "flowmag",
                                                                  "flow/conv3", "rgb/logits"))}
    report = verify_store(features, workers=2)
    assert {video_id: list(damage) for video_id, damage in report.damaged.items()} == {
        video_id: [name] for video_id, name in sorted(planted.items())}
    assert main(["verify", "--features", str(features)]) == 1
    printed = capsys.readouterr().out
    assert all(f"DAMAGED {video_id} {name}:" in printed for video_id, name in planted.items())
    manifest_path = manifest.save(tmp_path / "manifest.json")
    assert main(["verify", str(manifest_path), "--features", str(features), "--frames", str(reference_store),
                 "--repair", "--no-cluster"]) == 0
    assert same_stores(features, feature_store) and not verify_store(features).damaged
    assert not FeatureStore.open(features).failures()


def test_verify_repair_extracts_the_damaged_videos_of_a_frames_store_again(reference_store, tiny_dataset, tmp_path,
                                                                        capsys):
    _, manifest = tiny_dataset
    frames = copied(reference_store, tmp_path)
    video_ids = FrameStore.open(frames).video_ids()
    plant(frames, video_ids[1], "rgb", "truncated chunk")
    plant(frames, video_ids[6], "flow", "deleted array metadata")
    assert main(["verify", "--frames", str(frames)]) == 1
    printed = capsys.readouterr().out
    assert f"DAMAGED {video_ids[1]} rgb" in printed and f"DAMAGED {video_ids[6]} flow" in printed
    assert main(["verify", "--frames", str(frames), "--repair"]) == 2  # it needs the manifest to find the videos
    assert sorted(verify_store(frames).damaged) == [video_ids[1], video_ids[6]]  # nothing was taken out
    manifest_path = manifest.save(tmp_path / "manifest.json")
    assert main(["verify", str(manifest_path), "--frames", str(frames), "--repair", "--no-cluster"]) == 0
    assert same_stores(frames, reference_store) and main(["verify", "--frames", str(frames)]) == 0


def _file_size_limit() -> None:
    """In the child: files may grow to 20 kB only, and a write past that fails instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_a_write_that_fails_publishes_no_half_video_and_the_rerun_completes(tiny_dataset, tmp_path):
    _, manifest = tiny_dataset
    manifest_path, frames = manifest.save(tmp_path / "manifest.json"), tmp_path / "frames.zarr"
    command = [sys.executable, "-m", "twostream.cli", "extract-frames", str(manifest_path), "--frames", str(frames),
               "--frame-size", "native", "--flow", "farneback", "--no-cluster", "--retries", "0"]
    limited = subprocess.run(command, preexec_fn=_file_size_limit, capture_output=True, text=True)
    assert limited.returncode == 1 and "File too large" in limited.stdout  # ulimit -f: the big videos failed
    store = FrameStore.open(frames)
    failed = set(store.failures())
    assert failed and set(store.video_ids()) == {v.video_id for v in manifest.videos} - failed
    assert not verify_store(frames).damaged  # what was published is whole
    assert subprocess.run(command, capture_output=True, text=True).returncode == 0
    assert len(FrameStore.open(frames).video_ids()) == len(manifest) and not FrameStore.open(frames).failures()


def test_verify_counts_the_arrays_an_earlier_version_wrote_without_chunk_checksums(feature_store, tmp_path, capsys):
    features = copied(feature_store, tmp_path)
    assert verify_store(features, workers=2).unchecked == 0  # every array of a store written now
    video_id = FeatureStore.open(features).video_ids()[0]
    group = zarr.open_group(str(features / "videos" / video_id), mode="r+")
    values = np.asarray(group["rgb/logits"][...])
    del group["rgb/logits"]
    older = group.create_array("rgb/logits", shape=values.shape, dtype=values.dtype,  # as stores were written before
                               compressors=(zarr.codecs.BloscCodec(cname="zstd", clevel=5),))
    older[...] = values
    report = verify_store(features, workers=2)
    assert (report.unchecked, report.damaged) == (1, {})
    assert main(["verify", "--features", str(features)]) == 0
    assert "1 arrays carry no chunk checksums" in capsys.readouterr().out


def test_verify_repair_extracts_out_of_fold_arrays_again_with_the_recorded_fold_checkpoints(
        oof_feature_store, reference_store, tiny_dataset, tmp_path):
    _, manifest = tiny_dataset
    features = copied(oof_feature_store, tmp_path)
    store = FeatureStore.open(features)
    video_id = next(v for v in store.video_ids() if "oof" in store.video(v))  # a training video of the folds
    before = np.asarray(store.read(video_id, "oof/rgb/logits"))
    plant(features, video_id, "oof/rgb/logits", "changed bytes")
    report = verify_store(features, workers=2)
    assert report.damaged == {video_id: {"oof/rgb/logits": report.damaged[video_id]["oof/rgb/logits"]}}
    manifest_path = manifest.save(tmp_path / "manifest.json")
    assert main(["verify", str(manifest_path), "--features", str(features), "--frames", str(reference_store),
                 "--repair", "--no-cluster"]) == 0
    repaired = FeatureStore.open(features)
    np.testing.assert_array_equal(np.asarray(repaired.read(video_id, "oof/rgb/logits")), before)
    assert same_stores(features, oof_feature_store) and not verify_store(features).damaged

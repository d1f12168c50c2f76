"""extract-frames end to end: store content, resume, failures, killed jobs and workers, concurrency."""
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from twostream.data.errors import TwostreamError
from twostream.data.manifest import Manifest, VideoEntry
from twostream.data.runtime import ffmpeg_executable
from twostream.pipeline.batch import Execution
from twostream.pipeline.decode import FrameSize, read_video
from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames
from twostream.pipeline.flow import get_flow_algorithm, quantize_flow
from twostream.pipeline.stores.frame_store import FLOW_CHUNK, FrameStore
from twostream.pipeline.stores.video_store import StoreError

IN_PROCESS = Execution(no_cluster=True, retries=0)


def _store_arrays(path: Path) -> dict:
    store = FrameStore.open(path)
    return {v: (store.rgb(v), store.flow(v)) for v in store.video_ids()}


def _assert_same_stores(a: Path, b: Path) -> None:
    first, second = _store_arrays(a), _store_arrays(b)
    assert sorted(first) == sorted(second)
    for video_id in first:
        assert np.array_equal(first[video_id][0], second[video_id][0]), video_id
        assert np.array_equal(first[video_id][1], second[video_id][1]), video_id


def test_store_holds_frames_and_flow_as_computed_directly(tiny_dataset, reference_store):
    _, manifest = tiny_dataset
    store = FrameStore.open(reference_store)
    assert store.video_ids() == sorted(v.video_id for v in manifest)
    video = manifest.videos[0]
    decoded, info = read_video(manifest.video_path(video), FrameSize.parse("native"))
    rgb, flow = store.rgb(video.video_id), store.flow(video.video_id)
    assert rgb.shape == decoded.shape and flow.shape == (len(decoded) - 1, *decoded.shape[1:3], 2)
    assert np.abs(rgb.astype(int) - decoded).mean() < 4  # JPEG at quality 95 on grainy 64x48 frames
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in decoded])
    assert np.array_equal(flow, quantize_flow(get_flow_algorithm("farneback").compute(gray), 20.0))
    attrs = store.info(video.video_id)
    assert attrs["frames"] == info.frames and attrs["fps"] == info.fps and attrs["flow"] == "farneback"
    assert attrs["source_bytes"] == manifest.video_path(video).stat().st_size and attrs["tool_version"]
    assert store.attrs["config"]["flow_params"] == get_flow_algorithm("farneback").params


def test_flow_batch_changes_nothing_in_the_store_and_is_checked(tiny_dataset, reference_store, tmp_path):
    _, manifest = tiny_dataset
    config = FrameExtractionConfig(frame_size="native", flow="farneback", flow_batch=3)
    extract_frames(manifest, tmp_path / "batched.zarr", config=config, execution=IN_PROCESS)
    _assert_same_stores(reference_store, tmp_path / "batched.zarr")
    with pytest.raises(TwostreamError, match="--flow-batch"):
        extract_frames(manifest, tmp_path / "zero.zarr", config=FrameExtractionConfig(flow_batch=0),
                       execution=IN_PROCESS)


def test_layout_is_few_files_and_stack_sized_chunks(reference_store):
    store = FrameStore.open(reference_store)
    video_id = store.video_ids()[0]
    group = store.video(video_id)
    assert group["rgb"].chunks == (1,) and group["flow"].chunks[0] == FLOW_CHUNK
    files = [f for f in (reference_store / "videos" / video_id).rglob("*") if f.is_file()]
    assert len(files) <= 6


def test_rerun_skips_done_videos_and_another_config_is_refused(tiny_dataset, reference_store, tmp_path,
                                                               fast_frames_config):
    _, manifest = tiny_dataset
    copy = tmp_path / "frames.zarr"
    shutil.copytree(reference_store, copy)
    again = extract_frames(manifest, copy, config=fast_frames_config, execution=IN_PROCESS)
    assert again.written == [] and again.skipped == len(manifest)
    with pytest.raises(StoreError, match="another configuration.*flow"):
        extract_frames(manifest, copy, config=FrameExtractionConfig(frame_size="native", flow="tvl1-opencv"),
                       execution=IN_PROCESS)


def _make_video(path: Path, size: str, frames: int, codec: list[str]) -> None:
    width, height = (int(side) for side in size.split("x"))
    subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={width + width % 2}x{height + height % 2}:rate=10", "-vf", f"format=yuv444p,scale={width}:{height}",
                    "-frames:v", str(frames), *codec, str(path)], check=True)


def _bad_batch(tmp_path: Path, good: Manifest) -> Manifest:
    root = tmp_path / "vidéos à part"
    root.mkdir()
    entries = []
    for video in good.videos[:4]:
        target = root / video.path.replace("/", " - ")
        shutil.copy(good.video_path(video), target)
        entries.append(VideoEntry(video.video_id, target.name, video.label, video.class_name))
    (root / "zero.mp4").write_bytes(b"")
    _make_video(root / "long.avi", "64x48", 40, ["-c:v", "mpeg4"])
    (root / "claims_more.avi").write_bytes((root / "long.avi").read_bytes()[: (root / "long.avi").stat().st_size // 3])
    _make_video(root / "odd 321x241.mp4", "321x241", 8, ["-c:v", "libx264", "-pix_fmt", "yuv444p"])
    _make_video(root / "one_frame.mp4", "64x48", 1, ["-c:v", "libx264", "-pix_fmt", "yuv420p"])
    for name in ("zero.mp4", "claims_more.avi", "odd 321x241.mp4", "one_frame.mp4"):
        entries.append(VideoEntry(Path(name).stem.replace(" ", "_"), name, 0, good.classes[0]))
    return Manifest("mixed", str(root), list(good.classes), entries)


def test_bad_videos_are_recorded_and_good_ones_land_on_a_local_cluster(tiny_dataset, tmp_path, fast_frames_config):
    _, good = tiny_dataset
    manifest = _bad_batch(tmp_path, good)
    store_path = tmp_path / "frames.zarr"
    summary = extract_frames(manifest, store_path, config=fast_frames_config, execution=Execution(workers=2, retries=1))
    store = FrameStore.open(store_path)
    assert set(store.video_ids()) == {v.video_id for v in good.videos[:4]} | {"odd_321x241"}
    assert store.rgb("odd_321x241").shape == (8, 241, 321, 3)
    assert set(summary.failed) == {"zero", "claims_more", "one_frame"}
    assert "empty" in summary.failed["zero"]
    assert "truncated" in summary.failed["claims_more"]
    assert "at least 2" in summary.failed["one_frame"]
    assert set(store.failures()) == set(summary.failed)
    assert store.failures()["zero"]["attempts"] == 1  # an empty file stays empty: not retried


def _cli(manifest_path: Path, store: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "twostream.cli", "extract-frames", str(manifest_path), "--frames", str(store),
            "--frame-size", "native", "--flow", "farneback", *extra]


def _wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def _complete_count(store: Path) -> int:
    folder = store / "videos"
    return sum(entry.is_dir() for entry in folder.iterdir()) if folder.is_dir() else 0


def _staging_busy(store: Path) -> bool:
    folder = store / "staging"
    return folder.is_dir() and any(entry.is_dir() for entry in folder.iterdir())


@pytest.mark.parametrize("kill_when", ["first_video_done", "video_half_written", "most_videos_done"])
def test_sigkill_then_rerun_gives_the_uninterrupted_store(tiny_dataset, reference_store, tmp_path, kill_when):
    _, manifest = tiny_dataset
    manifest_path = manifest.save(tmp_path / "manifest.json")
    store = tmp_path / "frames.zarr"
    job = subprocess.Popen(_cli(manifest_path, store, "--no-cluster", "--flow-batch", "1"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        condition = {"first_video_done": lambda: _complete_count(store) >= 1,
                     "video_half_written": lambda: _complete_count(store) >= 2 and _staging_busy(store),
                     "most_videos_done": lambda: _complete_count(store) >= len(manifest) - 3}[kill_when]
        _wait_until(condition)
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
    partial = FrameStore.open(store)
    assert 1 <= len(partial.video_ids()) < len(manifest)  # the kill landed mid-run
    for video_id in partial.video_ids():  # whatever is visible is whole
        assert partial.rgb(video_id).shape[0] == partial.flow(video_id).shape[0] + 1
    assert subprocess.run(_cli(manifest_path, store, "--no-cluster"), capture_output=True).returncode == 0
    _assert_same_stores(store, reference_store)
    assert not [entry for entry in (store / "staging").iterdir() if entry.is_dir()]


def test_a_killed_dask_worker_does_not_lose_or_duplicate_videos(tiny_dataset, reference_store, tmp_path,
                                                                fast_frames_config):
    from dask.distributed import Client, LocalCluster

    _, manifest = tiny_dataset
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = []

        def kill_a_worker_holding_results(done: int, total: int, failed: int) -> None:
            # once every video is done, the worker holding the most results holds one not yet collected: its
            # death loses a finished video, which the batch must compute again rather than drop
            if done == 1 and not killed:
                holders = _wait_for_all_results(client, total)
                worker = max(holders, key=lambda address: len(holders[address]))
                os.kill(pids[worker], signal.SIGKILL)
                killed.append(worker)

        summary = extract_frames(manifest, tmp_path / "frames.zarr", config=fast_frames_config,
                                 execution=Execution(scheduler=cluster.scheduler_address, retries=2),
                                 progress=kill_a_worker_holding_results)
    # a video whose result died with the worker is found complete when its task runs again
    assert killed and summary.ok and summary.elsewhere
    assert sorted(summary.written + summary.elsewhere) == sorted(v.video_id for v in manifest)
    _assert_same_stores(tmp_path / "frames.zarr", reference_store)


def _wait_for_all_results(client, total: int, timeout: float = 120.0) -> dict[str, list[str]]:
    """Wait until the scheduler holds `total` finished batch results; return each worker's result keys."""
    def results_by_worker(dask_scheduler) -> dict[str, list[str]]:
        holders: dict[str, list[str]] = {}
        for task in dask_scheduler.tasks.values():
            if str(task.key).startswith("twostream-") and task.state == "memory":
                for worker in task.who_has:
                    holders.setdefault(worker.address, []).append(str(task.key))
        return holders

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holders = client.run_on_scheduler(results_by_worker)
        if len({key for keys in holders.values() for key in keys}) == total:
            return holders
        time.sleep(0.1)
    raise AssertionError(f"the batch's {total} results did not all finish within {timeout:.0f} s")


def test_two_jobs_with_overlapping_manifests_share_one_store(tiny_dataset, reference_store, tmp_path,
                                                             fast_frames_config):
    _, manifest = tiny_dataset
    ids = [v.video_id for v in manifest]
    first = manifest.subset(ids[:8]).save(tmp_path / "first.json")
    second = manifest.subset(ids[4:]).save(tmp_path / "second.json")
    store = tmp_path / "frames.zarr"
    FrameStore.create_or_open(store, fast_frames_config.store_config(), dataset=manifest.dataset,
                              classes=list(manifest.classes))
    jobs = [subprocess.Popen(_cli(m, store, "--no-cluster"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for m in (first, second)]
    for job in jobs:
        _, err = job.communicate(timeout=300)
        assert job.returncode == 0, err.decode()
    _assert_same_stores(store, reference_store)
    assert not [entry for entry in (store / "staging").iterdir() if entry.is_dir()]


def test_two_jobs_started_together_split_the_videos_and_each_is_computed_once(tiny_dataset, reference_store,
                                                                               tmp_path):
    _, tiny = tiny_dataset
    # each video four times over: work of a few seconds, so that neither job can finish before the other starts
    copies = [dataclasses.replace(video, video_id=f"{video.video_id}-{k}") for video in tiny.videos for k in range(4)]
    manifest = dataclasses.replace(tiny, videos=copies)
    manifest_path = manifest.save(tmp_path / "manifest.json")
    store = tmp_path / "frames.zarr"
    jobs = [subprocess.Popen(_cli(manifest_path, store, "--no-cluster"), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True) for _ in range(2)]
    outputs = [job.communicate(timeout=600)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], outputs
    written = [int(re.search(r"(\d+) videos written", out).group(1)) for out in outputs]
    assert sum(written) == len(manifest) and min(written) > 0, outputs  # split, none computed twice
    computed, reference = _store_arrays(store), _store_arrays(reference_store)
    assert sorted(computed) == sorted(video.video_id for video in copies)
    for video_id, (rgb, flow) in computed.items():
        original = reference[video_id.rsplit("-", 1)[0]]
        assert np.array_equal(rgb, original[0]) and np.array_equal(flow, original[1]), video_id
    assert not list((store / "leases").iterdir())  # every lease released


def test_a_killed_jobs_claims_lapse_and_a_live_jobs_are_respected(tiny_dataset, reference_store, tmp_path,
                                                                    fast_frames_config):
    _, manifest = tiny_dataset
    manifest_path = manifest.save(tmp_path / "manifest.json")
    store = tmp_path / "frames.zarr"
    FrameStore.create_or_open(store, fast_frames_config.store_config(), dataset=manifest.dataset,
                              classes=list(manifest.classes))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (store / "leases").mkdir()
    killed_video, busy_video = manifest.videos[0].video_id, manifest.videos[1].video_id
    (store / "leases" / killed_video).write_text(f"{socket.gethostname()}-{int(dead.stdout)}-0a0a0a0a "
                                                 f"{time.time() + 3600}\n")  # its process is gone: lapsed
    (store / "leases" / busy_video).write_text(f"another-host-4242-0b0b0b0b {time.time() + 3600}\n")  # live elsewhere
    run = subprocess.run(_cli(manifest_path, store, "--no-cluster"), capture_output=True, text=True)
    assert run.returncode == 0 and "1 held by another job or complete when reached" in run.stdout
    frames = FrameStore.open(store)
    assert killed_video in frames.video_ids() and busy_video not in frames.video_ids()
    (store / "leases" / busy_video).write_text(f"another-host-4242-0b0b0b0b {time.time() - 1}\n")  # it expired
    assert subprocess.run(_cli(manifest_path, store, "--no-cluster"), capture_output=True).returncode == 0
    _assert_same_stores(store, reference_store)


def test_shared_flow_batches_across_a_workers_threads_change_nothing_in_the_store(tiny_dataset, tmp_path):
    _, manifest = tiny_dataset
    tvl1 = {"scales": 2, "warps": 2, "iterations": 40, "inner_iterations": 10}
    alone = FrameExtractionConfig(frame_size="native", flow_params=tvl1, device="cpu", flow_batch=4,
                                  flow_sharing="off")
    extract_frames(manifest, tmp_path / "alone.zarr", config=alone, execution=IN_PROCESS)
    shared = FrameExtractionConfig(**{**alone.__dict__, "flow_sharing": "on"})
    summary = extract_frames(manifest, tmp_path / "shared.zarr", config=shared,
                             execution=Execution(workers=1, threads_per_worker=3))
    assert summary.ok
    _assert_same_stores(tmp_path / "alone.zarr", tmp_path / "shared.zarr")
    configs = [FrameStore.open(tmp_path / name).attrs["config"] for name in ("shared.zarr", "alone.zarr")]
    assert configs[0] == configs[1]
    with pytest.raises(TwostreamError, match="tvl1 only"):
        FrameExtractionConfig(flow="farneback", flow_sharing="on").flow_algorithm()

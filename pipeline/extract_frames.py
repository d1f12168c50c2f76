"""extract-frames: decode each video, compute its optical flow, and write both to frames.zarr."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from twostream.data.manifest import Manifest
from twostream.data.runtime import AUTO_DEVICE
from twostream.pipeline.batch import Execution, Task, run_batch
from twostream.pipeline.decode import FrameSize, VideoDecodeError, VideoReader
from twostream.pipeline.flow import get_flow_algorithm, quantize_flow
from twostream.pipeline.flow.base import FlowAlgorithm, check_pair_count
from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.torch_flow import TorchTVL1
from twostream.pipeline.flow.windows import SHARING_CHOICES, FlowWindows
from twostream.pipeline.stores.frame_store import FrameGroupWriter, FrameStore, source_fingerprint
from twostream.pipeline.stores.leases import left_to_another_job, run_claimed
from twostream.pipeline.stores.rawframes import import_rawframes_video
from twostream.pipeline.stores.video_store import tool_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameExtractionConfig:
    """What decides the content of frames.zarr (recorded in its attributes) and how work is batched."""

    frame_size: str = "340x256"
    flow: str = "tvl1"
    flow_params: dict[str, Any] = field(default_factory=dict)
    bound: float = 20.0
    rgb_encoding: str = "jpeg"
    jpeg_quality: int = 95
    flow_batch: int | None = None  # frame pairs solved together (None: the algorithm's choice); not results
    device: str = AUTO_DEVICE  # where tvl1 runs (auto: CUDA when available, else the CPU); not results
    flow_compile: str = "auto"  # tvl1: its primal-dual step fused by torch.compile (on, off, auto: CUDA only) or triton
    flow_sharing: str = "auto"  # tvl1 pairs of a worker's videos solved in shared batches: on, off, auto (CUDA)

    def flow_algorithm(self) -> FlowAlgorithm:
        """The flow algorithm these settings name, on `device` (tvl1 only), batched by `flow_batch`."""
        placement: dict[str, Any] = {}
        if self.device not in (None, AUTO_DEVICE) or self.flow_compile != "auto" or self.flow_sharing == "on":
            if self.flow != "tvl1":
                raise FlowError(f"--device, --flow-compile and --flow-sharing apply to --flow tvl1 only, "
                                f"not {self.flow}")
            placement.update(device=self.device, compile=self.flow_compile)
        if self.flow_sharing not in SHARING_CHOICES:
            raise FlowError(f"flow sharing {self.flow_sharing!r}: use one of {', '.join(SHARING_CHOICES)}")
        algorithm = get_flow_algorithm(self.flow, **self.flow_params, **placement)
        return algorithm.batched(self.flow_batch) if self.flow_batch else algorithm

    def shares_flow(self, algorithm: FlowAlgorithm) -> bool:
        """Whether `algorithm` (from `flow_algorithm`) solves its pairs in batches shared between the videos a
        worker extracts at once, the video decoding ahead meanwhile: `flow_sharing`, auto meaning on CUDA."""
        if self.flow_sharing == "auto":
            return isinstance(algorithm, TorchTVL1) and algorithm.device.type == "cuda"
        return self.flow_sharing == "on"

    def store_config(self, from_rawframes: bool = False) -> dict[str, Any]:
        """The store attributes this configuration writes (flow parameters resolved to their values)."""
        if from_rawframes:
            return {"frame_size": "as imported", "flow": "imported", "flow_params": {}, "bound": float(self.bound),
                    "rgb_encoding": self.rgb_encoding, "jpeg_quality": int(self.jpeg_quality)}
        check_pair_count(self.flow_batch, "flow_batch (--flow-batch)")
        algorithm = self.flow_algorithm()
        return {"frame_size": str(FrameSize.parse(self.frame_size)), "flow": algorithm.name,
                "flow_params": algorithm.params, "bound": float(self.bound),
                "rgb_encoding": self.rgb_encoding, "jpeg_quality": int(self.jpeg_quality)}


@dataclass
class ExtractionSummary:
    """The outcome of one extract-frames run."""

    store: str
    total: int
    skipped: int
    written: list[str]
    failed: dict[str, str]
    frames: int
    seconds: float
    # found held or complete when its task ran: another job's on the same store, or this job's own when a worker
    # died after writing a video and before its result came back, so the task ran again
    elsewhere: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every video of the manifest is now in the store."""
        return not self.failed


def extract_video_frames(store_path: str, video_id: str, source: str, config: dict[str, Any],
                         overwrite: bool = False) -> dict[str, Any]:
    """Decode one video, compute its flow and publish its group in the store; return counts."""
    cv2.setNumThreads(1)  # one task per core: OpenCV must not oversubscribe the machine
    settings = FrameExtractionConfig(**config)
    store = FrameStore.open(store_path)
    algorithm = settings.flow_algorithm()
    started = time.monotonic()
    reader = VideoReader(source, FrameSize.parse(settings.frame_size))
    with store.write_video(video_id, overwrite=overwrite) as group, reader:
        writer: FrameGroupWriter | None = None
        flow: FlowWindows | None = None
        window: list[np.ndarray] = []
        for frame in reader:
            if writer is None:
                writer = FrameGroupWriter(group, frame.shape[0], frame.shape[1], settings.rgb_encoding)
                flow = FlowWindows(algorithm, frame.shape[0], frame.shape[1], settings.shares_flow(algorithm))
            writer.add_frame(frame, settings.jpeg_quality)
            window.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
            if len(window) > flow.window_pairs:
                for computed in flow.submit(np.stack(window)):
                    writer.add_flow(quantize_flow(computed, settings.bound))
                window = window[-1:]  # the last frame starts the next window: fields stay aligned
        info = reader.info
        if writer is None or info is None or info.frames < 2:
            raise VideoDecodeError(source, f"has {0 if info is None else info.frames} frame(s); "
                                           "optical flow needs at least 2")
        last = flow.submit(np.stack(window)) if len(window) > 1 else []
        for computed in [*last, *flow.drain()]:
            writer.add_flow(quantize_flow(computed, settings.bound))
        writer.close()
        group.attrs.update({**source_fingerprint(source), **asdict(info), "flow_fields": info.frames - 1,
                            "flow": algorithm.name, "flow_params": algorithm.params, "bound": settings.bound,
                            "frame_size": settings.frame_size, "rgb_encoding": settings.rgb_encoding,
                            "tool_version": tool_version()})
    return {"frames": info.frames, "seconds": time.monotonic() - started}


def extract_frames(
    manifest: Manifest,
    store: str | Path,
    *, config: FrameExtractionConfig = FrameExtractionConfig(),
    execution: Execution = Execution(),
    overwrite: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
    from_rawframes: str | Path | None = None,
) -> ExtractionSummary:
    """Extract RGB frames and quantised flow of every manifest video into a frames.zarr store.

    With `from_rawframes`, frames and flow are imported from `<from_rawframes>/<video_id>/` folders
    instead of being decoded and computed. Completed videos are skipped (unless `overwrite`);
    failures are retried, then recorded in the store with their error, and the batch goes on.
    """
    frame_store = FrameStore.create_or_open(store, config.store_config(from_rawframes is not None),
                                            dataset=manifest.dataset, classes=list(manifest.classes))
    removed = frame_store.remove_stale_staging()
    if removed:
        log.info("removed %d unfinished video groups left by an interrupted run", len(removed))
    todo = [v for v in manifest.videos if overwrite or not frame_store.is_complete(v.video_id)]
    path = str(frame_store.path)
    if from_rawframes is not None:
        work = [(import_rawframes_video, (path, v.video_id, str(Path(from_rawframes) / v.video_id), overwrite))
                for v in todo]
    else:
        work = [(extract_video_frames, (path, v.video_id, str(manifest.video_path(v)), asdict(config), overwrite))
                for v in todo]
    tasks = [Task(v.video_id, run_claimed, (FrameStore, path, v.video_id, overwrite, function, *args))
             for v, (function, args) in zip(todo, work)]
    frames = 0
    elsewhere: list[str] = []

    def on_result(video_id: str, outcome: dict[str, Any]) -> None:
        nonlocal frames
        if left_to_another_job(outcome):
            elsewhere.append(video_id)
            return
        frames += outcome["frames"]
        frame_store.clear_failure(video_id)

    def on_error(video_id: str, error: str, attempts: int) -> None:
        frame_store.record_failure(video_id, error, attempts)

    batch = run_batch(tasks, execution, progress, on_result, on_error)
    written = sorted(set(batch.results) - set(elsewhere))
    return ExtractionSummary(str(frame_store.path), len(manifest), len(manifest) - len(todo), written,
                             dict(sorted(batch.errors.items())), frames, batch.seconds, sorted(elsewhere))

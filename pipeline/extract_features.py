"""extract-features: run the frozen spatial and temporal nets over TSN snippets and crops of each
video in frames.zarr, and write their taps to features.zarr.

With dense sampling (temporal localisation), the snippets are one every N frames instead, each
snippet's taps are averaged over its crops, the pooled vector and logits are kept by default, and
no flow magnitude is written (it serves the fusion heads, which read TSN stores only).

With fold checkpoints (`train-streams --folds K`), each video of the folds' assignment also gets the
taps of the pair that never trained on it, under ``oof/`` (out-of-fold scores for the fusion heads).
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np
import torch

from twostream.data.folds import Folds, fold_checkpoint, read_folds
from twostream.data.io import prefetch
from twostream.data.manifest import Manifest, VideoEntry
from twostream.data.runtime import AUTO_DEVICE, autocast, resolve_device
from twostream.data.sampling import (
    DENSE,
    EVAL_CROP_SHARE,
    FLOW_STACK,
    SAMPLINGS,
    STREAMS,
    TSN,
    Crop,
    SamplingError,
    cut,
    cut_flow,
    clip_frames,
    clip_starts,
    dense_snippets,
    evaluation_crops,
    evaluation_snippets,
    flow_channels,
    rgb_index,
)
from twostream.pipeline.backbones import (
    I3D_NORMALIZATION,
    Backbone,
    checkpoint_bytes,
    imagenet_backbone,
    imagenet_checkpoint,
    load_checkpoint,
    normalization_named,
)
from twostream.pipeline.batch import Execution, Task, run_batch
from twostream.pipeline.flow import TSN_BOUND, dequantize_flow
from twostream.pipeline.stores.feature_store import (
    FLOWMAG,
    FeatureStore,
    KeptNetwork,
    out_of_fold,
    tap_dtype,
    write_array,
    write_networks,
)
from twostream.pipeline.stores.frame_store import FrameStore
from twostream.pipeline.stores.leases import left_to_another_job, run_claimed
from twostream.pipeline.stores.video_store import StoreError

log = logging.getLogger(__name__)
DEFAULT_CROP_SIZE = 224  # TSN's test crops


@dataclass(frozen=True)
class FeatureExtractionConfig:
    """Which checkpoints run, which taps are kept, and how snippets and crops are sampled.

    A checkpoint is a file, or `imagenet` / `imagenet:<backbone>` for the ImageNet weights that
    install offline (the flow stream's cross-modality initialised).
    """

    rgb_checkpoint: str
    flow_checkpoint: str
    rgb_taps: tuple[str, ...] | None = None  # None: the backbone's default taps
    flow_taps: tuple[str, ...] | None = None
    snippets: int = 25
    crops: int = 10
    # None: what the checkpoints record (input_size; a crop of that size), else TSN's 224 crops fed as they are
    crop_size: int | None = None
    input_size: int | None = None  # resize crops to this side before the network (None: see crop_size)
    batch_size: int = 50  # views per forward pass
    device: str = AUTO_DEVICE
    amp: bool = True  # bf16/fp16 autocast on CUDA; CPU stays exact
    strict: bool = True
    any_classes: bool = False  # allow checkpoints trained on another label set (features only)
    fold_checkpoints: str | None = None  # a train-streams --folds output folder: also write out-of-fold taps
    rgb_prefix: str | None = None  # pick the network under this key prefix from a file holding several
    flow_prefix: str | None = None
    rgb_normalization: str | None = None  # a normalisation name overriding the checkpoint's (caffe_tsn ...)
    flow_normalization: str | None = None
    sampling: str = TSN  # tsn: `snippets` evenly spaced; dense: one snippet every `stride` frames
    stride: int | None = None  # dense only: frames between snippets (ActivityNet: 16, THUMOS14: 5)

    def __post_init__(self) -> None:
        """Refuse a sampling that cannot run: an unknown kind, a dense one without a stride, a stride for TSN."""
        if self.sampling not in SAMPLINGS:
            raise SamplingError(f"unknown sampling {self.sampling!r}; use one of {', '.join(SAMPLINGS)}")
        if self.sampling == TSN and self.stride is not None:
            raise SamplingError("--stride applies to --sampling dense; TSN sampling takes --snippets")
        if self.sampling == DENSE:
            if self.stride is None or self.stride < 1:
                raise SamplingError("--sampling dense needs --stride N, a positive number of frames between snippets "
                                    "(ActivityNet features use 16, THUMOS14 5)")
            if self.fold_checkpoints:
                raise SamplingError("out-of-fold taps serve fusion training, which reads TSN stores; extract dense "
                                    "features without --fold-checkpoints")


@dataclass
class StreamModel:
    """A loaded frozen stream: the network, its checkpoint's identity and the taps to keep."""

    stream: str
    net: Backbone
    sha256: str
    taps: tuple[str, ...]
    class_names: tuple[str, ...] | None
    preprocessing: dict[str, int] = field(default_factory=dict)  # input and crop size the checkpoint records
    source: dict[str, str] = field(default_factory=dict)  # checkpoint_prefix, or pretrained: imagenet:<backbone>

    def describe(self) -> dict[str, Any]:
        """What the store records of this stream."""
        return {"backbone": self.net.name, "checkpoint_sha256": self.sha256, "num_classes": self.net.num_classes,
                "normalization": self.net.normalization.to_dict(), "taps": list(self.taps),
                "map_tap": self.net.map_tap, **self.source}


# Room for the full pair and the pairs of up to 31 folds: a worker runs every fold's nets, video after video.
@functools.lru_cache(maxsize=64)
def load_stream(stream: str, checkpoint: str, taps: tuple[str, ...] | None, device: str, strict: bool,
                *, prefix: str | None = None, normalization: str | None = None) -> StreamModel:
    """Load a stream's checkpoint (a file, or `imagenet[:<backbone>]`) once per process, on `device`, in eval mode.

    `prefix` picks one network of a file holding several; `normalization` names one that replaces the checkpoint's.
    """
    override = normalization_named(normalization) if normalization else None
    backbone = imagenet_backbone(checkpoint)
    if backbone is None:
        loaded = load_checkpoint(checkpoint, strict=strict, normalization=override, prefix=prefix)
        source = {"checkpoint_prefix": prefix} if prefix else {}
    else:
        if prefix:
            raise StoreError(f"--{stream}-prefix picks a network from a checkpoint file; {checkpoint} needs none")
        loaded = imagenet_checkpoint(backbone, stream)
        loaded = dataclasses.replace(loaded, normalization=override or loaded.normalization)
        source = {"pretrained": f"imagenet:{backbone}"}
    expected = "rgb" if stream == "rgb" else "flow"
    if loaded.modality != expected:
        raise StoreError(f"checkpoint {checkpoint} is a {loaded.modality} network, but it was given for the "
                         f"{stream} stream")
    net = loaded.build(device)
    if device.startswith("cuda"):
        net = net.to(memory_format=net.channels_last)
    chosen = tuple(taps) if taps else tuple(net.default_taps)
    for tap in chosen:
        if tap not in net.taps:
            raise StoreError(f"{net.name} has no tap {tap!r}; it has {', '.join(net.taps)}")
    recorded = {key: int(loaded.config[key]) for key in ("input_size", "crop_size")
                if isinstance(loaded.config.get(key), int)}
    return StreamModel(stream, net, loaded.sha256, chosen, loaded.class_names, recorded, source)


def with_checkpoint_sizes(config: FeatureExtractionConfig,
                          frame_short_side: Callable[[], int]) -> FeatureExtractionConfig:
    """Fill the crop and input sizes left unset from what the checkpoints record (their preprocessing).

    A checkpoint trained at input size N records it, and its views are fed at N. Crops are what the
    checkpoint records, else, for a checkpoint that records its input size, the centre share the
    stream trainer validated on (224/256 of the frames' short side, read by `frame_short_side()` only
    then); without any record they are TSN's 224 pixels, fed as they are. The two checkpoints must
    agree on a size they record and the flags leave unset.
    """
    unset = [key for key in ("input_size", "crop_size") if getattr(config, key) is None]
    if not unset:
        return config
    recorded: dict[str, int] = {}
    for stream in STREAMS:
        for key, value in _model(config, stream).preprocessing.items():
            if recorded.setdefault(key, value) != value and key in unset:
                raise StoreError(f"the rgb and flow checkpoints record different {key.replace('_', ' ')}s "
                                 f"({recorded[key]} and {value}); pass --{key.replace('_', '-')}")
    crop_size = config.crop_size or recorded.get("crop_size")
    if crop_size is None:
        crop_size = int(frame_short_side() * EVAL_CROP_SHARE) if "input_size" in recorded else DEFAULT_CROP_SIZE
    input_size = config.input_size or recorded.get("input_size") or crop_size
    return dataclasses.replace(config, crop_size=crop_size, input_size=input_size)


def _frame_short_side(frames: FrameStore, manifest: Manifest) -> int:
    """The short side of the first of the manifest's videos that the frames store holds (0 when it holds none)."""
    for video in manifest:
        if frames.is_complete(video.video_id):
            return int(min(frames.rgb(video.video_id, [0]).shape[1:3]))
    return 0


def store_config(config: FeatureExtractionConfig, frames: FrameStore, folds: Folds | None = None) -> dict[str, Any]:
    """The configuration a features store records (and requires of later runs); with `folds`, the fold
    assignment and every fold checkpoint's sha256 under "folds"."""
    models = {s: _model(config, s) for s in STREAMS}
    sampling = _sampling_record(config, models["rgb"].net.CLIP_FRAMES)
    recorded = {"streams": {s: m.describe() for s, m in models.items()}, "sampling": sampling,
                "frames": {"config": frames.config, "path": str(frames.path)}}
    if folds is not None:
        recorded["folds"] = {**folds.to_json(), "checkpoint_sha256": {
            str(fold): {s: _fold_model(config, fold, s).sha256 for s in STREAMS} for fold in range(1, folds.k + 1)}}
    return recorded


def _sampling_record(config: FeatureExtractionConfig, clip: int = 0) -> dict[str, Any]:
    """What a store records of its sampling, with networks that read clips of `clip` frames (0: single frames
    and flow stacks; TSN stores keep the keys they had before dense sampling existed)."""
    common = {"crops": config.crops, "crop_size": config.crop_size, "input_size": config.input_size or config.crop_size}
    if clip:
        common.update({"clip_frames": clip, "rgb_frame": "every frame of the clip, each with the flow field leaving it"})
    else:
        common.update({"flow_stack": FLOW_STACK, "rgb_frame": "middle frame of the flow stack"})
    if config.sampling == TSN:
        return {"snippets": config.snippets, **common}
    return {"kind": DENSE, "stride": config.stride, **common, "crop_reduction": "mean"}


def _snippet_starts(config: FeatureExtractionConfig, num_frames: int) -> np.ndarray:
    """The flow-stack starts of a video's snippets under the configured sampling."""
    if config.sampling == DENSE:
        return dense_snippets(num_frames, int(config.stride))
    return evaluation_snippets(num_frames, config.snippets)


def with_sampling_taps(config: FeatureExtractionConfig) -> FeatureExtractionConfig:
    """Check the streams' networks against the sampling (networks that read clips: both streams, dense sampling
    only); for dense sampling fill unset taps with each backbone's pooled vector and logits, and refuse map taps
    over several crops (their mean would mix mirrored maps). TSN sampling's config is returned as it is."""
    clips = {stream: _model(config, stream).net.CLIP_FRAMES for stream in STREAMS}
    if len(set(clips.values())) > 1:
        raise SamplingError("one stream's network reads clips and the other's single frames ("
                            + ", ".join(f"{stream}: {frames or 'frames'}" for stream, frames in clips.items())
                            + "); give both streams networks of one kind")
    if config.sampling != DENSE:
        if clips["rgb"]:
            raise SamplingError(f"the streams' networks read clips of {clips['rgb']} frames: extract their features "
                                "with --sampling dense --stride N (THUMOS14's I3D features: --stride 4)")
        return config
    chosen = {}
    for stream in STREAMS:
        given = config.rgb_taps if stream == "rgb" else config.flow_taps
        net = _model(config, stream).net
        chosen[stream] = tuple(given) if given else (net.pooled_tap, "logits")
        maps = [t for t in chosen[stream] if len(net.tap_shape(t, config.input_size or config.crop_size)) > 1]
        if maps and config.crops > 1:
            raise SamplingError(f"dense features are averaged over the crops, and {stream} tap {maps[0]!r} is a map "
                                f"(mirrored crops would be mixed); use --crops 1 for maps, or vector taps such as "
                                f"{net.pooled_tap} and logits")
    return dataclasses.replace(config, rgb_taps=chosen["rgb"], flow_taps=chosen["flow"])


def _model(config: FeatureExtractionConfig, stream: str) -> StreamModel:
    if stream == "rgb":
        return _load(config, stream, str(config.rgb_checkpoint), config.rgb_prefix, config.rgb_normalization)
    return _load(config, stream, str(config.flow_checkpoint), config.flow_prefix, config.flow_normalization)


def _fold_model(config: FeatureExtractionConfig, fold: int, stream: str) -> StreamModel:
    return _load(config, stream, str(fold_checkpoint(config.fold_checkpoints, fold, stream)))


def _load(config: FeatureExtractionConfig, stream: str, checkpoint: str, prefix: str | None = None,
          normalization: str | None = None) -> StreamModel:
    taps = config.rgb_taps if stream == "rgb" else config.flow_taps
    return load_stream(stream, checkpoint, tuple(taps) if taps else None, config.device, config.strict, prefix=prefix,
                       normalization=normalization)


def check_fold_models(config: FeatureExtractionConfig, folds: Folds) -> None:
    """Refuse fold checkpoints that are missing, or whose backbone, class count or taps differ from the full pair's."""
    for stream in STREAMS:
        full = _model(config, stream).describe()
        for fold in range(1, folds.k + 1):
            path = fold_checkpoint(config.fold_checkpoints, fold, stream)
            if not path.is_file():
                raise StoreError(f"{path} does not exist; finish the fold runs with `twostream train-streams --folds "
                                 f"{folds.k} --resume --out {config.fold_checkpoints}`")
            described = _fold_model(config, fold, stream).describe()
            differing = [key for key in ("backbone", "num_classes", "taps", "map_tap") if described[key] != full[key]]
            if differing:
                raise StoreError(f"{path} differs from the full {stream} checkpoint in {', '.join(differing)} "
                                 f"({', '.join(f'{key} {described[key]} vs {full[key]}' for key in differing)}); "
                                 "pass the --fold-checkpoints folder that train-streams --folds wrote with the "
                                 "full checkpoints")


def _require_same_folds(store: Path, config: dict[str, Any]) -> None:
    """Refuse to extend a store made with(out) fold checkpoints without (with) them, naming the flag."""
    if not (store / "zarr.json").is_file():
        return
    existing = FeatureStore.open(store)
    recorded, wanted = existing.config.get("folds"), config.get("folds")
    if recorded == wanted:
        return
    if recorded is None:
        raise StoreError(f"{store} was extracted without --fold-checkpoints; write out-of-fold features to a new "
                         "--features store (or delete this one)")
    path = existing.attrs.get("fold_checkpoints_dir", "its folder")
    if wanted is None:
        raise StoreError(f"{store} was extracted with --fold-checkpoints {path}; pass it again, or write to a new "
                         "--features store")
    raise StoreError(f"{store} was extracted with other fold checkpoints (--fold-checkpoints {path}: other "
                     "checkpoints or folds); pass that folder, or write to a new --features store")


@dataclass
class _Views:
    """One batch of network inputs for both streams (uint8, N x C x H x W, or N x C x L x H x W for clips),
    and the flow magnitudes (None for clips)."""

    rgb: np.ndarray
    flow: np.ndarray
    flowmag: np.ndarray | None


def _resize(piece: np.ndarray, size: int) -> np.ndarray:
    if piece.shape[0] == size:
        return piece
    return cv2.resize(piece, (size, size), interpolation=cv2.INTER_LINEAR)


def _snippet_views(frames: FrameStore, video_id: str, starts: np.ndarray, crops: list[Crop],
                   input_size: int, bound: float) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each snippet: RGB crops (crops, 3, s, s), flow crops (crops, 10, s, s), magnitude crops (crops, c, c)."""
    rgb_frames = frames.rgb(video_id, [int(i) for i in rgb_index(starts)])
    for snippet, start in enumerate(starts):
        stack = frames.flow(video_id, int(start), FLOW_STACK)
        field = dequantize_flow(stack[FLOW_STACK // 2], bound)  # the field leaving the snippet's RGB frame
        magnitude = np.hypot(field[..., 0], field[..., 1]).astype(np.float32)
        rgb = np.stack([_resize(np.ascontiguousarray(cut(rgb_frames[snippet], c)), input_size).transpose(2, 0, 1)
                        for c in crops])
        flow = np.stack([flow_channels(np.stack([_resize(np.ascontiguousarray(f), input_size)
                                                 for f in cut_flow(stack, c)])) for c in crops])
        mag = np.stack([np.ascontiguousarray(cut(magnitude[..., None], c))[..., 0] for c in crops])
        yield rgb, flow, mag


def _clip_views(frames: FrameStore, video_id: str, num_frames: int, starts: np.ndarray, clip: int,
                crops: list[Crop], input_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, None]]:
    """For each clip of the video's `num_frames` frames: RGB crops (crops, 3, L, s, s) and flow crops (crops, 2,
    L, s, s), uint8; each RGB frame is decoded once however many clips overlap it (the flow fields, cheap to
    decompress, are read per clip)."""
    decoded: dict[int, np.ndarray] = {}
    for start in starts:
        indices = [int(i) for i in clip_frames(int(start), clip, num_frames)]
        decoded = {i: frame for i, frame in decoded.items() if i >= indices[0]}
        wanted = sorted(set(indices) - decoded.keys())
        if wanted:
            decoded.update(zip(wanted, frames.rgb(video_id, wanted)))
        fields = frames.flow(video_id, indices[0], indices[-1] - indices[0] + 1)[np.asarray(indices) - indices[0]]
        rgb = np.stack([np.stack([_resize(np.ascontiguousarray(cut(decoded[i], c)), input_size) for i in indices])
                        .transpose(3, 0, 1, 2) for c in crops])
        flow = np.stack([np.stack([_resize(np.ascontiguousarray(f), input_size) for f in cut_flow(fields, c)])
                         .transpose(3, 0, 1, 2) for c in crops])
        yield rgb, flow, None


def _batches(views: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]], per_batch: int) -> Iterator[_Views]:
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    for item in views:
        pending.append(item)
        if len(pending) == per_batch:
            yield _stacked(pending)
            pending = []
    if pending:
        yield _stacked(pending)


def _stacked(views: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> _Views:
    return _Views(*(None if part[0] is None else np.stack(part) for part in zip(*views)))


def _forward(model: StreamModel, batch: np.ndarray, device: str, amp: bool) -> dict[str, np.ndarray]:
    """Run one stream on a (snippets, crops, C, s, s) uint8 batch; return its taps shaped (snippets, crops, ...)."""
    snippets, crops = batch.shape[:2]
    x = torch.from_numpy(batch.reshape(snippets * crops, *batch.shape[2:])).to(device, non_blocking=True)
    x = model.net.normalization.apply(x, model.stream)
    if device.startswith("cuda"):
        x = x.contiguous(memory_format=model.net.channels_last)
    with torch.inference_mode(), autocast(device, amp):
        outputs = model.net.forward_taps(x, model.taps)
    return {tap: value.float().cpu().numpy().reshape(snippets, crops, *value.shape[1:])
            for tap, value in outputs.items()}


def extract_video_features(frames_path: str, store_path: str, video_id: str, *, label: int, class_name: str,
                           config: dict[str, Any], overwrite: bool = False, fold: int | None = None) -> dict[str, Any]:
    """Compute and publish one video's features (with `fold`, also that fold's nets' taps under oof/);
    return its snippet count."""
    cv2.setNumThreads(1)
    settings = FeatureExtractionConfig(**config)
    frames, store = FrameStore.open(frames_path), FeatureStore.open(store_path)
    models = {s: _model(settings, s) for s in STREAMS}
    nets = {**models, **({out_of_fold(s): _fold_model(settings, fold, s) for s in STREAMS} if fold else {})}
    num_frames = frames.num_frames(video_id)
    height, width = frames.rgb(video_id, [0]).shape[1:3]
    crops = evaluation_crops(height, width, settings.crop_size, settings.crops)
    input_size = settings.input_size or settings.crop_size
    per_batch = max(1, settings.batch_size // len(crops))
    dense = settings.sampling == DENSE
    outputs: dict[str, list[np.ndarray]] = {}
    clip = models["rgb"].net.CLIP_FRAMES
    if clip:  # with_sampling_taps made sure both streams read clips, densely
        starts = clip_starts(num_frames, clip, int(settings.stride))
        views = _clip_views(frames, video_id, num_frames, starts, clip, crops, input_size)
        placed = {"clip_starts": starts.tolist(), "clip_frames": clip}
    else:
        starts = _snippet_starts(settings, num_frames)
        views = _snippet_views(frames, video_id, starts, crops, input_size, float(frames.config["bound"]))
        placed = {"flow_stack_starts": starts.tolist(), "rgb_frames": rgb_index(starts).tolist()}
        map_grid = models["rgb"].net.tap_shape(models["rgb"].net.map_tap, input_size)[1:]
    for batch in prefetch(_batches(views, per_batch)):
        for prefix, model in nets.items():
            for tap, value in _forward(model, getattr(batch, model.stream), settings.device, settings.amp).items():
                outputs.setdefault(f"{prefix}/{tap}", []).append(value.mean(axis=1, keepdims=True) if dense else value)
        if not dense:
            mags = [[cv2.resize(m, map_grid[::-1], interpolation=cv2.INTER_AREA) for m in snippet]
                    for snippet in batch.flowmag]
            outputs.setdefault(FLOWMAG, []).append(np.asarray(mags, dtype=np.float32))
    with store.write_video(video_id, overwrite=overwrite) as group:
        for name, parts in outputs.items():
            dtype = "float16" if name == FLOWMAG else tap_dtype(name.rsplit("/", 1)[1])  # oof/rgb/logits: logits
            write_array(group, name, np.concatenate(parts), dtype)
        group.attrs.update({"label": int(label), "class_name": class_name, "frames": num_frames, **placed,
                            "crops": [asdict(c) for c in crops],
                            **({"stride": settings.stride} if dense else {})})
    return {"snippets": len(starts)}


def extract_features(
    manifest: Manifest,
    frames_store: str | Path,
    store: str | Path,
    *, config: FeatureExtractionConfig,
    execution: Execution = Execution(),
    overwrite: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
) -> "FeatureExtractionSummary":
    """Extract both streams' features of every manifest video found in `frames_store` into `store`.

    The checkpoints' class counts must match the manifest's. Completed videos are skipped (unless
    `overwrite`); failures are retried, recorded with their error, and the batch goes on. With
    `config.fold_checkpoints`, the videos of its folds.json also get their fold's taps under oof/.
    """
    frames = FrameStore.open(frames_store)
    config = dataclasses.replace(config, device=str(resolve_device(config.device)))
    config = with_checkpoint_sizes(config, lambda: _frame_short_side(frames, manifest))
    config = with_sampling_taps(config)
    for stream in STREAMS:
        model = _model(config, stream)
        # ImageNet features are wanted for their own sake; fusion refuses their 1000 classes later.
        if model.net.num_classes != len(manifest.classes) and not config.any_classes and not model.source.get(
                "pretrained"):
            raise StoreError(f"the {stream} checkpoint has {model.net.num_classes} classes but the manifest has "
                             f"{len(manifest.classes)}; use checkpoints trained on this dataset, or pass "
                             "--any-classes to extract features anyway (fusion training then needs other logits)")
    bound = float(frames.config["bound"])
    if _model(config, "flow").net.normalization == I3D_NORMALIZATION and bound != TSN_BOUND:
        raise StoreError(f"{frames.path} quantised its flow with a bound of {bound:g} px; I3D's flow input is "
                         f"flow clipped to +-{TSN_BOUND:g} px and divided by {TSN_BOUND:g}, which this "
                         f"normalisation reads off flow quantised with --bound {TSN_BOUND:g}: extract the "
                         "frames again with it")
    folds = read_folds(config.fold_checkpoints) if config.fold_checkpoints else None
    if folds is not None:
        check_fold_models(config, folds)
    recorded = store_config(config, frames, folds)
    _require_same_folds(Path(store), recorded)
    feature_store = FeatureStore.create_or_open(
        store, recorded, fill=lambda root: write_networks(root, _kept_networks(config)),
        dataset=manifest.dataset, classes=list(manifest.classes),
        checkpoints={"rgb": _checkpoint_record(config.rgb_checkpoint),
                     "flow": _checkpoint_record(config.flow_checkpoint)},
        **(_fold_paths(config, folds) if folds is not None else {}))
    feature_store.remove_stale_staging()
    missing = [v.video_id for v in manifest if not frames.is_complete(v.video_id)]
    todo = [v for v in manifest if (overwrite or not feature_store.is_complete(v.video_id))
            and v.video_id not in missing]
    settings = asdict(config)
    assignment = folds.assignment if folds is not None else {}
    path = str(feature_store.path)

    def task(video: VideoEntry) -> Task:
        work = functools.partial(extract_video_features, str(frames.path), path, video.video_id, label=video.label,
                                 class_name=video.class_name, config=settings, overwrite=overwrite,
                                 fold=assignment.get(video.video_id))
        return Task(video.video_id, run_claimed, (FeatureStore, path, video.video_id, overwrite, work))

    tasks = [task(v) for v in todo]
    elsewhere: list[str] = []

    def on_result(video_id: str, outcome: Any) -> None:
        if left_to_another_job(outcome):
            elsewhere.append(video_id)
        else:
            feature_store.clear_failure(video_id)

    batch = run_batch(tasks, execution, progress, on_result,
                      on_error=lambda video_id, error, attempts: feature_store.record_failure(video_id, error, attempts))
    return FeatureExtractionSummary(str(feature_store.path), len(manifest), len(manifest) - len(todo) - len(missing),
                                    sorted(set(batch.results) - set(elsewhere)), dict(sorted(batch.errors.items())),
                                    missing, batch.seconds, sorted(elsewhere))


def _kept_networks(config: FeatureExtractionConfig) -> dict[str, KeptNetwork]:
    """Both streams' networks as a new store keeps them, so stage two runs where the checkpoint files are not."""
    def kept(model: StreamModel) -> KeptNetwork:
        return KeptNetwork(checkpoint_bytes(model.net, class_names=model.class_names), model.sha256)

    return {stream: kept(_model(config, stream)) for stream in STREAMS}


def _checkpoint_record(checkpoint: str) -> str:
    """What the store records as a stream's checkpoint: the file's absolute path, or `imagenet:<backbone>`."""
    backbone = imagenet_backbone(checkpoint)
    return str(Path(checkpoint).resolve()) if backbone is None else f"imagenet:{backbone}"


def _fold_paths(config: FeatureExtractionConfig, folds: Folds) -> dict[str, Any]:
    """Root attributes naming the fold checkpoints: their folder, and per fold and stream the path and sha256."""
    def described(fold: int, stream: str) -> dict[str, str]:
        path = fold_checkpoint(config.fold_checkpoints, fold, stream).resolve()
        return {"path": str(path), "sha256": _fold_model(config, fold, stream).sha256}

    return {"fold_checkpoints_dir": str(Path(config.fold_checkpoints).resolve()),
            "fold_checkpoints": {str(fold): {s: described(fold, s) for s in STREAMS} for fold in range(1, folds.k + 1)}}


@dataclass
class FeatureExtractionSummary:
    """The outcome of one extract-features run."""

    store: str
    total: int
    skipped: int
    written: list[str]
    failed: dict[str, str]
    not_in_frames: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # found held or complete when its task ran: another job's on the same store, or this job's own when a worker
    # died after writing a video and before its result came back, so the task ran again
    elsewhere: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every video that has frames now has features."""
        return not self.failed

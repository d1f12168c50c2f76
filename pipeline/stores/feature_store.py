"""features.zarr: per video, the frozen streams' taps over TSN snippets and crops, and flow magnitude.

Per video group ``videos/<video_id>``:

- ``rgb/<tap>`` and ``flow/<tap>``: shape (S, crops, ...) — maps (S, crops, C, H, W) and pooled
  vectors (S, crops, D) in float16, logits (S, crops, classes) in float32. One chunk per snippet and
  crop, one shard file per array.
- ``flowmag``: (S, crops, H, W) float16, the optical-flow magnitude (pixels) at each snippet's RGB
  frame, cropped like the RGB crop and resized to the spatial net's map grid (feature amplification).
- ``oof/rgb/<tap>`` and ``oof/flow/<tap>`` (stores extracted with ``--fold-checkpoints``, and only
  for the videos of its folds, i.e. the split's training videos): the same taps, shapes, dtypes and
  chunking, from the fold pair that never trained on the video (``train-streams --folds K``), over
  the same views. Out-of-fold scores for training the fusion heads; written in the same atomic
  group as the full arrays, so a complete video has both or neither.
- attributes: label, class name, snippet flow-stack starts, RGB frame indices, frames, and the
  completion mark.

Dense stores (``extract-features --sampling dense --stride N``, for temporal localisation) hold one
snippet every N frames; each tap is the mean over the snippet's crops, so the crop axis has length 1;
by default only the pooled vector and the logits are kept, and there is no ``flowmag``. Their
videos' attributes add ``stride``; their root's ``config.sampling`` records ``kind: "dense"``, the
stride and ``crop_reduction: "mean"`` (TSN stores record no kind). With networks that read clips (I3D)
the snippets are clips: S clips of ``clip_frames`` frames, a clip every N frames; videos record
``clip_starts`` (each clip's first frame) instead of flow-stack starts and RGB frame indices, the root's
sampling ``clip_frames``, and maps are (S, 1, C, T, H, W).

Root group ``networks``: ``rgb`` and ``flow``, each stream's network as the bytes of a checkpoint file in this
project's format (the attribute ``checkpoint_sha256`` names the checkpoint it was loaded from), written with the
store: what stage two needs of the streams (the frozen classifiers for dropout scores, the layers a gate body or
amplification starts from) travels with the features, so a copied store needs no checkpoint files.

Root attributes (``twostream``): both streams' backbone, checkpoint sha256, normalisation, class
count and taps; the sampling (snippets, crops, crop and input size); the class names; and the
frames store's configuration; with fold checkpoints, ``config.folds`` (split, K, seed, the
assignment video id -> fold, each fold's checkpoint sha256 per stream) and ``fold_checkpoints``
(per fold and stream the checkpoint's path and sha256). A store refuses to be extended with another
configuration, with fold checkpoints or without them alike.
"""
from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from twostream.data.sampling import DENSE, STREAMS, TSN
from twostream.pipeline.stores.integrity import CheckedArray, checked_array
from twostream.pipeline.stores.video_store import StoreError, VideoStore, create_array

FLOWMAG = "flowmag"
OOF = "oof"  # the prefix of the out-of-fold arrays
NETWORKS = "networks"  # the root group keeping each stream's network, as the bytes of a checkpoint file
NETWORK_CHUNK_BYTES = 4 << 20


def out_of_fold(name: str) -> str:
    """The name of a stream array's out-of-fold twin ("rgb/logits" -> "oof/rgb/logits")."""
    return f"{OOF}/{name}"


class FeatureReader(abc.ABC):
    """What every reader of the features layout offers, over its `attrs`, `path` and `video(video_id)` group
    (a zarr group in features.zarr, an HDF5 group in the HDF5 export)."""

    kind = "features"
    path: Path
    attrs: dict[str, Any]

    @abc.abstractmethod
    def video(self, video_id: str) -> Any:
        """The group of a complete video."""

    @abc.abstractmethod
    def video_ids(self) -> list[str]:
        """Ids of the complete videos, sorted."""

    @abc.abstractmethod
    def failures(self) -> dict[str, dict[str, Any]]:
        """Videos that could not be stored, with their "error" text."""

    @property
    def config(self) -> dict[str, Any]:
        """The configuration the features were extracted with."""
        return dict(self.attrs.get("config", {}))

    @property
    def folds(self) -> dict[str, Any] | None:
        """The folds whose out-of-fold arrays the store holds (split, k, seed, assignment), None without."""
        return self.config.get("folds")

    @property
    def sampling_kind(self) -> str:
        """How the snippets were sampled: "tsn" (evenly spaced per video) or "dense" (one every N frames)."""
        return str(self.config.get("sampling", {}).get("kind", TSN))

    @property
    def has_flowmag(self) -> bool:
        """Whether the videos hold the flow magnitude array (TSN stores do, dense stores do not)."""
        return self.sampling_kind != DENSE

    @property
    def classes(self) -> list[str]:
        """Class names, in label order."""
        return list(self.attrs.get("classes", []))

    def taps(self, stream: str) -> list[str]:
        """The taps stored for a stream."""
        return list(self.stream_config(stream)["taps"])

    def stream_config(self, stream: str) -> dict[str, Any]:
        """Backbone, checkpoint and taps of one stream."""
        if stream not in STREAMS:
            raise StoreError(f"unknown stream {stream!r}; use one of {', '.join(STREAMS)}")
        streams = self.config.get("streams", {})
        if stream not in streams:
            raise StoreError(f"{self.path} holds no {stream} stream (it has {', '.join(streams) or 'none'})")
        return dict(streams[stream])

    def array(self, video_id: str, name: str) -> CheckedArray:
        """A video's array by name: "rgb/<tap>", "flow/<tap>" or "flowmag"; its reads name the video and array
        when they meet damage."""
        return self.array_in(self.video(video_id), video_id, name)

    def array_in(self, group: Any, video_id: str, name: str) -> CheckedArray:
        """Array `name` of the video `video_id` whose group `group` is already open (see `array`)."""
        return checked_array(self, group, video_id, name)

    def expected_arrays(self) -> list[str]:
        """The arrays every video of the store holds: each stream's taps, then the flow magnitude where kept."""
        names = [f"{stream}/{tap}" for stream in self.config.get("streams", {}) for tap in self.taps(stream)]
        return names + ([FLOWMAG] if self.has_flowmag else [])

    def label(self, video_id: str) -> int:
        """A video's class index."""
        return int(self.video(video_id).attrs["label"])

    def network(self, stream: str) -> KeptNetwork | None:
        """A stream's network as the store keeps it, None where it keeps none (stores of older versions,
        the HDF5 export): then stage two needs the checkpoint file."""
        return None


class FeatureStore(VideoStore, FeatureReader):
    """Reader (and, through `write_video`, writer) of a features.zarr store."""

    kind = "features"

    def network(self, stream: str) -> KeptNetwork | None:
        """A stream's network as the store keeps it (written when the store was created), None without."""
        if NETWORKS not in self.root or stream not in self.root[NETWORKS]:
            return None
        array = self.root[NETWORKS][stream]
        return KeptNetwork(np.asarray(array[...], dtype=np.uint8).tobytes(), str(array.attrs["checkpoint_sha256"]))

    def read(self, video_id: str, name: str, snippets: Any = slice(None), crops: Any = slice(None)) -> np.ndarray:
        """Read (a selection of snippets and crops of) one array as float32."""
        array = self.array(video_id, name)
        if isinstance(snippets, slice) and isinstance(crops, slice):
            data = array[snippets, crops]
        else:
            data = array.get_orthogonal_selection((_index(snippets), _index(crops)))
        return np.asarray(data, dtype=np.float32)


@dataclass(frozen=True)
class KeptNetwork:
    """A stream's network kept in a features store: the bytes of a checkpoint file in this project's format,
    and the sha256 of the checkpoint the features were extracted with."""

    checkpoint: bytes
    source_sha256: str


def write_networks(root: zarr.Group, networks: Mapping[str, KeptNetwork]) -> None:
    """Keep each stream's network in a store's `networks` group, so that stage two needs no checkpoint file."""
    group = root.require_group(NETWORKS)
    for stream, kept in networks.items():
        data = np.frombuffer(kept.checkpoint, dtype=np.uint8)
        array = create_array(group, stream, shape=data.shape, chunks=(min(len(data), NETWORK_CHUNK_BYTES),),
                             dtype="uint8")
        array[...] = data
        array.attrs["checkpoint_sha256"] = kept.source_sha256


def _index(selection: Any) -> Any:
    return selection if isinstance(selection, slice) else np.atleast_1d(np.asarray(selection, dtype=np.int64))


def write_array(group: zarr.Group, name: str, data: np.ndarray, dtype: str) -> None:
    """Write one (S, crops, ...) array with one chunk per snippet and crop, in one shard."""
    shape = data.shape
    chunks = (1, 1, *shape[2:])
    create_array(group, name, shape=shape, chunks=chunks, shards=shape, dtype=dtype)[...] = data.astype(dtype, copy=False)


def axis_names(name: str, ndim: int) -> tuple[str, ...]:
    """What each axis of a video's array means: ("snippet", "crop", then "channel", "y", "x" for maps,
    "channel" for pooled vectors, "class" for logits, "y", "x" for flowmag)."""
    trailing = {3: ("channel", "y", "x"), 2: ("y", "x"),
                1: ("class",) if name.endswith("/logits") else ("channel",)}.get(ndim - 2)
    if trailing is None:
        raise StoreError(f"array {name!r} has {ndim} dimensions; features arrays have 3 to 5")
    return ("snippet", "crop", *trailing)


def tap_dtype(tap: str) -> str:
    """Storage type of a tap: float32 for logits, float16 for maps and vectors."""
    return "float32" if tap == "logits" else "float16"


def snippet_blocks(shape: tuple[int, ...], itemsize: int, block_bytes: int) -> list[slice]:
    """Consecutive ranges of snippets (first axis) of an array, each at most `block_bytes` (at least one snippet)."""
    per_snippet = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    step = max(1, block_bytes // per_snippet)
    return [slice(start, min(start + step, shape[0])) for start in range(0, shape[0], step)]

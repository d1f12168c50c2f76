"""Feature sources over a features store (features.zarr or its HDF5 export; lazy) or loaded from it into memory,
and which of the store's taps each field reads."""
from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from twostream.data.sampling import DENSE, STREAMS
from twostream.fusion.errors import FeatureSourceError
from twostream.fusion.features import InMemoryFeatureSource, VideoFeatures, require_fields
from twostream.pipeline.backbones import BACKBONES, Backbone, BackboneError, backbone_type
from twostream.pipeline.stores.feature_readers import open_feature_store
from twostream.pipeline.stores.feature_store import FLOWMAG, FeatureReader, out_of_fold
from twostream.pipeline.stores.video_store import StoreDamageError, StoreError

OUT_OF_FOLD_ADVICE = "extract features with --fold-checkpoints DIR written by train-streams --folds K"

# One tap for both streams, or one per stream (a stream left out takes its default).
TapChoice = str | Mapping[str, str] | None


def open_fusion_store(store: str | os.PathLike | FeatureReader) -> FeatureReader:
    """Open a features store (or its HDF5 export) for fusion, refusing a dense store: its snippets are one
    every N frames for temporal localisation, averaged over crops, without the maps and flow magnitude
    the heads read."""
    reader = store if isinstance(store, FeatureReader) else open_feature_store(store)
    if reader.sampling_kind == DENSE:
        stride = reader.config["sampling"].get("stride")
        raise FeatureSourceError(
            f"{reader.path} holds dense features (one snippet every {stride} frames, for temporal localisation); "
            "fusion trains and evaluates on TSN stores: extract features again with --sampling tsn (the default) "
            "into another --features store")
    return reader


def stream_backbone(store: FeatureReader, stream: str) -> type[Backbone]:
    """The backbone class that made a stream's features, whose class attributes declare its taps."""
    name = store.stream_config(stream)["backbone"]
    try:
        return backbone_type(name)
    except BackboneError:
        raise FeatureSourceError(f"{store.path}: the {stream} features come from backbone {name!r}, whose taps are "
                                 "unknown here; name the taps to read (--map-tap, --vector-tap)") from None


def last_map_tap(store: FeatureReader, stream: str) -> str:
    """The last convolutional map of a stream's backbone (Park et al.'s A and B: conv5, inception5b)."""
    return stream_backbone(store, stream).LAST_MAP_TAP


def pooled_tap(store: FeatureReader, stream: str) -> str:
    """The pooled vector a stream's final classifier reads (fc7 for VGG, global_pool for the others)."""
    return stream_backbone(store, stream).POOLED_TAP


def _require_tap(store: FeatureReader, stream: str, tap: str) -> None:
    taps = store.stream_config(stream)["taps"]
    if tap not in taps:
        raise FeatureSourceError(f"{store.path} holds no {stream}/{tap} (its {stream} taps: {', '.join(taps)}); "
                                 f"extract features with --{stream}-taps {tap} ...")


def _tap_of(choice: TapChoice, stream: str) -> str | None:
    return choice.get(stream) if isinstance(choice, Mapping) else choice


def field_arrays(store: FeatureReader, map_tap: TapChoice = None, vec_tap: TapChoice = None,
                 out_of_fold_arrays: bool = False) -> dict[str, str]:
    """Map each feature-source field to the store array holding it (maps at `map_tap`, vectors at `vec_tap`).

    Each of `map_tap` and `vec_tap` names one tap for both streams or maps a stream to its tap. A map
    tap left unset is the one the store records (the gate's); a vector tap left unset is the pooled
    vector the backbone's classifier reads, served when the store caches it. A tap named here and
    missing from the store is refused. With `out_of_fold_arrays`, every stream field (maps, vectors,
    logits) maps to its oof/ twin, the taps of the fold models that never trained on the video;
    flowmag stays.
    """
    mapping = {FLOWMAG: FLOWMAG}
    for stream in STREAMS:
        described = store.stream_config(stream)
        taps = described["taps"]
        chosen_map = _tap_of(map_tap, stream) or described["map_tap"]
        _require_tap(store, stream, chosen_map)
        mapping[f"{stream}_map"] = f"{stream}/{chosen_map}"
        chosen_vec = _tap_of(vec_tap, stream)
        if chosen_vec is not None:
            _require_tap(store, stream, chosen_vec)
        elif described["backbone"] in BACKBONES:
            chosen_vec = pooled_tap(store, stream)
        if chosen_vec in taps:
            mapping[f"{stream}_vec"] = f"{stream}/{chosen_vec}"
        if "logits" in taps:
            mapping[f"{stream}_logits"] = f"{stream}/logits"
    if out_of_fold_arrays:
        if store.folds is None:
            raise FeatureSourceError(f"{store.path} holds no out-of-fold arrays; {OUT_OF_FOLD_ADVICE}")
        mapping = {name: array if name == FLOWMAG else out_of_fold(array) for name, array in mapping.items()}
    return mapping


class StoredFeatureSource:
    """A FeatureSource reading each video's requested fields from a features store (zarr or HDF5) when asked."""

    def __init__(self, store: str | os.PathLike | FeatureReader, video_ids: Sequence[str] | None = None,
                 map_tap: TapChoice = None, vec_tap: TapChoice = None, out_of_fold_arrays: bool = False) -> None:
        """Serve `video_ids` (default: every complete video) of a features store or its HDF5 export; with
        `out_of_fold_arrays`, every stream field from the fold models' oof/ arrays (see `field_arrays`)."""
        self.store = open_fusion_store(store)
        available = set(self.store.video_ids())
        ids = list(video_ids) if video_ids is not None else sorted(available)
        absent = [v for v in ids if v not in available]
        if absent:
            self._raise_if_damaged(absent[0])
            failures = self.store.failures()
            reason = f" (it failed: {failures[absent[0]]['error']})" if absent[0] in failures else ""
            raise FeatureSourceError(f"{len(absent)} videos are not in {self.store.path}, e.g. {absent[0]!r}{reason}; "
                                     "run extract-features for them or leave them out")
        if not ids:
            raise FeatureSourceError(f"{self.store.path} holds no complete video")
        for stream in STREAMS:
            outputs = self.store.stream_config(stream)["num_classes"]
            if outputs != len(self.store.classes):
                raise FeatureSourceError(
                    f"{self.store.path}: the {stream} net scores {outputs} classes but the dataset has "
                    f"{len(self.store.classes)}; fusion needs streams trained on this dataset's classes")
        self._ids = ids
        self._arrays = field_arrays(self.store, map_tap, vec_tap, out_of_fold_arrays)
        if out_of_fold_arrays:
            assignment = self.store.folds["assignment"]
            outside = [v for v in ids if v not in assignment]
            if outside:
                raise FeatureSourceError(
                    f"{len(outside)} videos have no out-of-fold arrays in {self.store.path}, e.g. {outside[0]!r} (its "
                    f"folds cover split {self.store.folds['split']}'s training videos); {OUT_OF_FOLD_ADVICE} for "
                    "this split")
        self._labels = np.array([self.store.label(v) for v in ids], dtype=np.int64)
        self._grid_field = next(name for name in ("rgb_logits", "flowmag", *self._arrays) if name in self._arrays)

    def _raise_if_damaged(self, video_id: str) -> None:
        """Raise the store's own error for a video it lists as absent because its group is damaged."""
        try:
            self.store.video(video_id)
        except StoreDamageError:
            raise
        except StoreError:
            return

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.store.classes)

    @property
    def fields(self) -> frozenset[str]:
        """The fields the store holds."""
        return frozenset(self._arrays)

    @property
    def video_ids(self) -> list[str]:
        """Video ids in index order."""
        return list(self._ids)

    @property
    def labels(self) -> np.ndarray:
        """Labels in index order."""
        return self._labels.copy()

    def __len__(self) -> int:
        """Number of videos."""
        return len(self._ids)

    def load(self, index: int, fields: Collection[str]) -> VideoFeatures:
        """Read one video's requested fields (as stored: float16 maps, float32 logits)."""
        require_fields(self, fields)
        video_id = self._ids[index]
        arrays = {name: np.asarray(self.store.array(video_id, self._arrays[name])[...]) for name in fields}
        return VideoFeatures(video_id, int(self._labels[index]), arrays)

    def view_grid(self, index: int) -> tuple[int, int]:
        """Return video `index`'s number of snippets and of crops, from its logits array's shape (no data read)."""
        array = self.store.array(self._ids[index], self._arrays[self._grid_field])
        return int(array.shape[0]), int(array.shape[1])

    def read_views(self, index: int, fields: Collection[str], snippets: np.ndarray,
                   crops: np.ndarray) -> dict[str, np.ndarray]:
        """Read only the views (snippets[k], crops[k]) of the named fields, each shaped (K, ...), as stored.

        One view is one chunk of the store (zarr) or a slice of one chunk (HDF5), so a training step
        reads what it samples and nothing else.
        """
        require_fields(self, fields)
        video_id = self._ids[index]
        group = self.store.video(video_id)  # opened once; the fields' arrays were checked on construction
        snippet_rows, snippet_of = np.unique(np.asarray(snippets, dtype=np.int64), return_inverse=True)
        crop_rows, crop_of = np.unique(np.asarray(crops, dtype=np.int64), return_inverse=True)
        out = {}
        for name in fields:
            array = self.store.array_in(group, video_id, self._arrays[name])
            if hasattr(array, "get_orthogonal_selection"):  # zarr: one call fetches the chunks concurrently
                block = np.asarray(array.get_orthogonal_selection((snippet_rows, crop_rows)))
                out[name] = block[snippet_of, crop_of]
            else:  # HDF5: a slice of one chunk per view
                out[name] = np.stack([np.asarray(array[int(s), int(c)]) for s, c in zip(snippets, crops)])
        return out

    def centre_crop(self) -> int:
        """Index of the centre crop among the store's crops (1 crop: 0; 3: 1; 10: 4)."""
        return {1: 0, 3: 1, 10: 4}[int(self.store.config["sampling"]["crops"])]

    def in_memory(self, fields: Collection[str]) -> InMemoryFeatureSource:
        """Load the requested fields of every video into memory, once."""
        return InMemoryFeatureSource([self.load(i, fields) for i in range(len(self))], self.num_classes)

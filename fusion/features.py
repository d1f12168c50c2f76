"""The contract between cached stage-one features and stage two: one video's arrays, a source of videos.

Per video, for each stream s in {rgb, flow}, stage one caches (TSN sampling, S snippets x C crops):

=================  ============================  =============================================
field              shape                         meaning
=================  ============================  =============================================
``<s>_map``        ``(S, crops, Ch, H, W)``      feature maps at one tap
``<s>_vec``        ``(S, crops, D)``             pooled feature vectors
``<s>_logits``     ``(S, crops, num_classes)``   pre-softmax class scores
``flowmag``        ``(S, crops, H', W')``        optical-flow magnitude (resized to the map grid)
=================  ============================  =============================================

plus the video's integer label and id. A source need not hold every field; a consumer names the
fields it needs and a source without them is refused with a message that lists what it has.
Arrays may be stored in any float dtype; consumers compute in float32.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from twostream.data.sampling import STREAMS
from twostream.fusion.errors import FeatureSourceError
from twostream.fusion.late import StreamScores

# Number of dimensions after the leading (snippets, crops) pair, per field.
FIELD_TRAILING_DIMS: Mapping[str, int] = {
    "rgb_map": 3,
    "flow_map": 3,
    "rgb_vec": 1,
    "flow_vec": 1,
    "rgb_logits": 1,
    "flow_logits": 1,
    "flowmag": 2,
}
FIELDS: tuple[str, ...] = tuple(FIELD_TRAILING_DIMS)


def logits_field(stream: str) -> str:
    """Return the name of a stream's logits field ('rgb' -> 'rgb_logits')."""
    if stream not in STREAMS:
        raise FeatureSourceError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
    return f"{stream}_logits"


@dataclass(frozen=True)
class VideoFeatures:
    """One video's cached arrays (field name -> array with leading (snippets, crops)), label and id."""

    video_id: str
    label: int
    arrays: Mapping[str, np.ndarray] = field(repr=False)

    @property
    def snippets(self) -> int:
        """Number of cached snippets S."""
        return int(next(iter(self.arrays.values())).shape[0])

    @property
    def crops(self) -> int:
        """Number of cached crops per snippet."""
        return int(next(iter(self.arrays.values())).shape[1])

    def get(self, name: str) -> np.ndarray:
        """Return one field's array, or raise FeatureSourceError naming the fields present."""
        try:
            return self.arrays[name]
        except KeyError:
            have = ", ".join(sorted(self.arrays)) or "none"
            raise FeatureSourceError(f"video {self.video_id}: no field {name!r} (has: {have})") from None


@runtime_checkable
class FeatureSource(Protocol):
    """A finite, indexable collection of videos' cached features (in memory, or read from a store)."""

    @property
    def num_classes(self) -> int:
        """Number of classes the logits and labels refer to."""
        ...

    @property
    def fields(self) -> frozenset[str]:
        """The fields every video of this source holds."""
        ...

    @property
    def video_ids(self) -> Sequence[str]:
        """Video ids, in index order."""
        ...

    @property
    def labels(self) -> np.ndarray:
        """Integer labels, in index order, shape (N,)."""
        ...

    def __len__(self) -> int:
        """Number of videos."""
        ...

    def load(self, index: int, fields: Collection[str]) -> VideoFeatures:
        """Return video `index` holding (at least) the named fields."""
        ...

    def view_grid(self, index: int) -> tuple[int, int]:
        """Return video `index`'s number of snippets and of crops, without reading its arrays."""
        ...

    def read_views(self, index: int, fields: Collection[str], snippets: np.ndarray,
                   crops: np.ndarray) -> dict[str, np.ndarray]:
        """Return the named fields at the views (snippets[k], crops[k]) of video `index`, each shaped (K, ...),
        reading only those views."""
        ...


def require_fields(source: FeatureSource, needed: Iterable[str]) -> None:
    """Raise FeatureSourceError unless `source` holds every field in `needed`."""
    missing = sorted(set(needed) - set(source.fields))
    if missing:
        have = ", ".join(sorted(source.fields)) or "none"
        raise FeatureSourceError(f"features lack {', '.join(missing)} (have: {have}); re-extract with those outputs")


def _validate_video(video: VideoFeatures, num_classes: int) -> None:
    if not video.arrays:
        raise FeatureSourceError(f"video {video.video_id}: no arrays")
    if not 0 <= video.label < num_classes:
        raise FeatureSourceError(f"video {video.video_id}: label {video.label} outside 0..{num_classes - 1}")
    lead = None
    for name, array in video.arrays.items():
        if name not in FIELD_TRAILING_DIMS:
            raise FeatureSourceError(f"video {video.video_id}: unknown field {name!r}; known: {', '.join(FIELDS)}")
        expected_ndim = 2 + FIELD_TRAILING_DIMS[name]
        if array.ndim != expected_ndim:
            raise FeatureSourceError(
                f"video {video.video_id}: {name} has shape {array.shape}; expected {expected_ndim} dimensions"
            )
        if lead is None:
            lead = array.shape[:2]
        elif array.shape[:2] != lead:
            raise FeatureSourceError(
                f"video {video.video_id}: {name} has (snippets, crops) {array.shape[:2]}, other fields {lead}"
            )
        if name.endswith("_logits") and array.shape[-1] != num_classes:
            raise FeatureSourceError(
                f"video {video.video_id}: {name} has {array.shape[-1]} classes, source has {num_classes}"
            )
    if lead is not None and min(lead) < 1:
        raise FeatureSourceError(f"video {video.video_id}: needs at least one snippet and one crop, has {lead}")


class InMemoryFeatureSource:
    """A FeatureSource over numpy arrays held in memory; validates shapes once, on construction."""

    def __init__(self, videos: Sequence[VideoFeatures], num_classes: int) -> None:
        """Wrap `videos` (all holding the same fields) labelled in 0..num_classes-1."""
        if num_classes < 2:
            raise FeatureSourceError(f"num_classes must be at least 2, got {num_classes}")
        if not videos:
            raise FeatureSourceError("a feature source needs at least one video")
        ids = [video.video_id for video in videos]
        if len(set(ids)) != len(ids):
            raise FeatureSourceError("video ids must be unique")
        first_fields = frozenset(videos[0].arrays)
        for video in videos:
            _validate_video(video, num_classes)
            if frozenset(video.arrays) != first_fields:
                raise FeatureSourceError(
                    f"video {video.video_id} holds {sorted(video.arrays)}, video {ids[0]} holds {sorted(first_fields)}"
                )
        self._videos = list(videos)
        self._num_classes = num_classes
        self._fields = first_fields

    @classmethod
    def from_arrays(
        cls,
        video_ids: Sequence[str],
        labels: Sequence[int] | np.ndarray,
        num_classes: int,
        **arrays: np.ndarray,
    ) -> "InMemoryFeatureSource":
        """Build from per-field arrays stacked over videos, each of shape (N, S, crops, ...)."""
        count = len(video_ids)
        if len(labels) != count:
            raise FeatureSourceError(f"{len(labels)} labels for {count} videos")
        for name, array in arrays.items():
            if len(array) != count:
                raise FeatureSourceError(f"{name} holds {len(array)} videos, expected {count}")
        videos = [
            VideoFeatures(str(video_ids[i]), int(labels[i]), {name: array[i] for name, array in arrays.items()})
            for i in range(count)
        ]
        return cls(videos, num_classes)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self._num_classes

    @property
    def fields(self) -> frozenset[str]:
        """The fields every video holds."""
        return self._fields

    @property
    def video_ids(self) -> list[str]:
        """Video ids in index order."""
        return [video.video_id for video in self._videos]

    @property
    def labels(self) -> np.ndarray:
        """Labels in index order, shape (N,)."""
        return np.array([video.label for video in self._videos], dtype=np.int64)

    def __len__(self) -> int:
        """Number of videos."""
        return len(self._videos)

    def load(self, index: int, fields: Collection[str]) -> VideoFeatures:
        """Return video `index` (every field is in memory already, so all are returned)."""
        require_fields(self, fields)
        return self._videos[index]

    def view_grid(self, index: int) -> tuple[int, int]:
        """Return video `index`'s number of snippets and of crops."""
        video = self._videos[index]
        return video.snippets, video.crops

    def read_views(self, index: int, fields: Collection[str], snippets: np.ndarray,
                   crops: np.ndarray) -> dict[str, np.ndarray]:
        """Return the named fields at the views (snippets[k], crops[k]), each shaped (K, ...)."""
        video = self.load(index, fields)
        return {name: video.get(name)[snippets, crops] for name in fields}

    def subset(self, indices: Iterable[int]) -> "InMemoryFeatureSource":
        """Return a source over the videos at `indices` (for carving a validation set, say)."""
        return InMemoryFeatureSource([self._videos[i] for i in indices], self._num_classes)


def view_logits(source: FeatureSource, stream: str) -> Iterator[np.ndarray]:
    """Yield each video's pre-softmax scores of one stream over its views, shape (snippets, crops, C), in order."""
    name = logits_field(stream)
    require_fields(source, [name])
    for index in range(len(source)):
        yield source.load(index, [name]).get(name).astype(np.float32)


def averaged_logits(source: FeatureSource, stream: str) -> np.ndarray:
    """Return each video's pre-softmax scores of one stream averaged over snippets and crops, shape (N, C)."""
    return np.stack([views.mean(axis=(0, 1)) for views in view_logits(source, stream)])


def stream_scores(source: FeatureSource, stream: str) -> StreamScores:
    """Return one stream's per-video summaries of its views' scores (mean logits, mean softmax, SCI-weighted)."""
    return StreamScores.from_views(view_logits(source, stream))

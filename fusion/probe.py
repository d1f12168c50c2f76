"""The attribute probe: how well the cached features tell a per-video attribute, and which stream is right where.

For each map or vector tap both streams cache, every video's features are averaged over space, views
and snippets and the two streams' averages concatenated; a standardised logistic regression fitted on
the split's training videos predicts the attribute of its test videos, beside the accuracy of always
answering the training videos' most common value. A gate can only weigh the streams by an attribute
that its input shows; this says whether it does, tap by tap.

Beside it, for each training-score mode the store serves (`clean`, the full models' cached scores,
always; `out-of-fold`, the fold models', when the store holds them), the share of training videos on
which only the spatial stream is right, only the temporal one, both or neither (scores averaged over
views), over all of them and per attribute value: what a gate trained on those scores is taught.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from twostream.data.attributes import attribute_values, gather_attributes
from twostream.data.io import write_json_atomic
from twostream.data.manifest import Manifest
from twostream.data.sampling import STREAMS
from twostream.fusion.errors import FeatureSourceError, FusionError
from twostream.fusion.sources import open_fusion_store
from twostream.pipeline.stores.feature_store import FeatureReader, out_of_fold

LOGITS = "logits"
CLEAN, OUT_OF_FOLD = "clean", "out-of-fold"  # the training-score modes of train-gate that read cached scores
OUTCOMES: tuple[str, ...] = ("rgb_only", "flow_only", "both", "neither")


@dataclass(frozen=True, kw_only=True)
class ProbeConfig:
    """What to probe: the attribute, the split whose training videos fit and whose test videos score the
    probe, the taps (default: every map and vector tap both streams hold), a CSV of attributes over the
    manifest's, where to write the result as JSON, and the logistic regression's iteration limit."""

    attribute: str
    split: str = "1"
    taps: tuple[str, ...] | None = None
    attributes: str | os.PathLike | None = None
    out: str | os.PathLike | None = None
    max_iter: int = 2000

    def __post_init__(self) -> None:
        """Refuse a probe without an attribute to predict."""
        if not self.attribute:
            raise FusionError("name the attribute to probe (--attribute)")
        if self.taps is not None and not self.taps:
            raise FusionError("--taps needs at least one tap")
        if self.max_iter < 1:
            raise FusionError(f"max_iter must be positive, got {self.max_iter}")


def probe(manifest: Manifest, features: str | os.PathLike | FeatureReader, *, config: ProbeConfig) -> dict[str, Any]:
    """Probe the store's taps for the attribute on one split; return the result as a JSON-ready dict (and
    write it to `config.out` when set)."""
    store = open_fusion_store(features)
    values = attribute_values(gather_attributes(manifest, config.attributes), config.attribute)
    split = str(config.split)
    train, test = (_labelled(manifest, split, role, values) for role in ("train", "test"))
    _check_sets(config.attribute, split, train, test, values)
    _require_videos(store, [*train, *test])
    taps = probe_taps(store, config.taps)
    train_values = [values[video_id] for video_id in train]
    test_values = [values[video_id] for video_id in test]
    majority = majority_value(train_values)
    pooled = pooled_taps(store, [*train, *test], taps)
    result = {
        "attribute": config.attribute,
        "split": split,
        "features": str(store.path),
        "videos": {"train": len(train), "test": len(test)},
        "without_attribute": {role: len(manifest.select(split, role)) - len(ids)
                              for role, ids in (("train", train), ("test", test))},
        "values": {"train": _counts(train_values), "test": _counts(test_values)},
        "majority": {"value": majority, "accuracy": _accuracy([majority] * len(test), test_values)},
        "taps": {tap: {"kind": kind, "features": int(matrix.shape[1]),
                       **fit_and_score(matrix[:len(train)], train_values, matrix[len(train):], test_values,
                                       config.max_iter)}
                 for tap, (kind, matrix) in pooled.items()},
        "streams_right": streams_right(store, train, train_values),
    }
    if config.out is not None:
        write_json_atomic(config.out, result, indent=1)
    return result


def _labelled(manifest: Manifest, split: str, role: str, values: Mapping[str, str]) -> list[str]:
    return [video.video_id for video in manifest.select(split, role) if video.video_id in values]


def _check_sets(attribute: str, split: str, train: list[str], test: list[str], values: Mapping[str, str]) -> None:
    if not train or not test:
        role = "training" if not train else "test"
        raise FusionError(f"no {role} video of split {split} has the attribute {attribute!r}; a probe fits on the "
                          "training videos and scores the test videos")
    seen = sorted({values[video_id] for video_id in train})
    if len(seen) < 2:
        raise FusionError(f"every training video of split {split} has {attribute} {seen[0]!r}; a probe needs "
                          "at least two values to tell apart")


def _require_videos(store: FeatureReader, video_ids: Sequence[str]) -> None:
    available = set(store.video_ids())
    absent = [video_id for video_id in video_ids if video_id not in available]
    if absent:
        raise FeatureSourceError(f"{len(absent)} videos are not in {store.path}, e.g. {absent[0]!r}; "
                                 "run extract-features for them")


def probe_taps(store: FeatureReader, chosen: Sequence[str] | None = None) -> list[str]:
    """The taps to probe: `chosen`, each held for both streams, or by default every tap both streams hold
    except the logits."""
    shared = [tap for tap in store.taps(STREAMS[0]) if all(tap in store.taps(s) for s in STREAMS[1:])]
    if chosen is None:
        taps = [tap for tap in shared if tap != LOGITS]
        if not taps:
            raise FeatureSourceError(f"{store.path} holds no map or vector tap for both streams")
        return taps
    missing = [tap for tap in chosen if tap not in shared]
    if missing:
        raise FeatureSourceError(f"{store.path} holds no {missing[0]!r} for both streams "
                                 f"(taps of both: {', '.join(shared) or 'none'})")
    return list(dict.fromkeys(chosen))


def pool_views(array: np.ndarray) -> np.ndarray:
    """Average a tap's (snippets, crops, channels, ...) array over everything but its channels, in float32."""
    data = np.asarray(array, dtype=np.float32)
    return data.mean(axis=(0, 1, *range(3, data.ndim)))


def pooled_taps(store: FeatureReader, video_ids: Sequence[str],
                taps: Sequence[str]) -> dict[str, tuple[str, np.ndarray]]:
    """Each tap's kind ("map" or "vector") and its (videos, rgb channels + flow channels) matrix of pooled
    features, the spatial stream's first; read video by video."""
    rows: dict[str, list[np.ndarray]] = {tap: [] for tap in taps}
    kinds: dict[str, str] = {}
    for video_id in video_ids:
        for tap in taps:
            arrays = [store.array(video_id, f"{stream}/{tap}") for stream in STREAMS]
            kinds.setdefault(tap, "map" if arrays[0].ndim >= 5 else "vector")
            rows[tap].append(np.concatenate([pool_views(array[...]) for array in arrays]))
    return {tap: (kinds[tap], np.stack(rows[tap])) for tap in taps}


def fit_and_score(train: np.ndarray, train_values: Sequence[str], test: np.ndarray, test_values: Sequence[str],
                  max_iter: int = 2000) -> dict[str, Any]:
    """Fit a standardised logistic regression on (train, train_values); return its accuracy on (test,
    test_values) and whether its solver converged."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(train, list(train_values))
    converged = not any(issubclass(warning.category, ConvergenceWarning) for warning in caught)
    return {"accuracy": _accuracy(list(model.predict(test)), test_values), "converged": converged}


def majority_value(values: Sequence[str]) -> str:
    """The most common value (the first in sorted order among equally common ones)."""
    counts = Counter(values)
    return max(sorted(counts), key=lambda value: counts[value])


def _accuracy(predicted: Sequence[str], actual: Sequence[str]) -> float:
    return float(np.mean([p == a for p, a in zip(predicted, actual)])) if actual else float("nan")


def _counts(values: Sequence[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def score_modes(store: FeatureReader, video_ids: Sequence[str]) -> dict[str, tuple[list[str], str]]:
    """The training-score modes the store serves for `video_ids`: mode -> (the videos it covers, the
    logits arrays' prefix). Out-of-fold scores cover only the videos of the store's folds."""
    if not all(LOGITS in store.taps(stream) for stream in STREAMS):
        return {}
    modes = {CLEAN: (list(video_ids), "")}
    folds = store.folds
    if folds is not None:
        covered = [video_id for video_id in video_ids if video_id in folds["assignment"]]
        if covered:
            modes[OUT_OF_FOLD] = (covered, out_of_fold(""))
    return modes


def stream_outcomes(rgb_right: np.ndarray, flow_right: np.ndarray) -> np.ndarray:
    """Each video's outcome, one of OUTCOMES, from whether each stream is right."""
    rgb_right, flow_right = np.asarray(rgb_right, bool), np.asarray(flow_right, bool)
    return np.select([rgb_right & ~flow_right, flow_right & ~rgb_right, rgb_right & flow_right],
                     list(OUTCOMES[:3]), OUTCOMES[3])


def outcome_shares(outcomes: Sequence[str]) -> dict[str, Any]:
    """The number of videos and the share of each outcome among them."""
    counts = Counter(outcomes)
    return {"videos": len(outcomes), **{name: counts[name] / len(outcomes) for name in OUTCOMES}}


def streams_right(store: FeatureReader, video_ids: Sequence[str], values: Sequence[str]) -> dict[str, Any]:
    """Per training-score mode, the outcome shares over the videos it covers and per attribute value."""
    value_of = dict(zip(video_ids, values))
    found = {}
    for mode, (covered, prefix) in score_modes(store, video_ids).items():
        right = {stream: np.array([int(pool_views(store.array(v, f"{prefix}{stream}/{LOGITS}")[...]).argmax())
                                   == store.label(v) for v in covered]) for stream in STREAMS}
        outcomes = list(stream_outcomes(right["rgb"], right["flow"]))
        by_value = {value: outcome_shares([o for o, v in zip(outcomes, covered) if value_of[v] == value])
                    for value in sorted({value_of[v] for v in covered})}
        found[mode] = {"all": outcome_shares(outcomes), "by_value": by_value}
    return found

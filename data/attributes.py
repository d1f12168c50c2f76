"""Per-video attributes (say, which cue a video degrades): read from a CSV file or a synthetic dataset's
metadata.json, kept in the manifest's video entries.

An attribute is a named string value of a video (`degraded_cue: motion`). Attributes travel in the
manifest (`VideoEntry.attributes`), so every later stage can group videos by them; a CSV given to a
command overrides the manifest's values of the same name. Attributes are optional and may cover only
some videos: a consumer leaves out the videos that lack the one it needs, and says how many.
"""
from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from twostream.data.errors import AttributesError
from twostream.data.io import read_json
from twostream.data.manifest import Manifest

log = logging.getLogger(__name__)

VideoAttributes = dict[str, dict[str, str]]  # video id -> attribute name -> value
VIDEO_ID_COLUMN = "video_id"
NONE_VALUE = "none"  # a synthetic video without degradation
SYNTHETIC_ATTRIBUTES: tuple[str, ...] = ("degraded_cue", "degradation")
SYNTHETIC_METADATA = "metadata.json"


def read_attributes_csv(path: str | os.PathLike, columns: Sequence[str] | None = None,
                        known_ids: Collection[str] | None = None) -> VideoAttributes:
    """Return the attributes a CSV file gives, by video id.

    The file has a header row with a `video_id` column and one column per attribute; `columns` keeps
    only the named ones (default: every other column). An empty cell leaves that video without that
    attribute. With `known_ids`, a video id outside them is refused; so are a missing column, a
    repeated video id and a row whose field count differs from the header's, each naming the file.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AttributesError(f"attributes file {source} does not exist") from None
    except UnicodeDecodeError:
        raise AttributesError(f"attributes file {source} is not UTF-8 text; save it as a UTF-8 CSV") from None
    rows = csv.reader(text.splitlines())
    header = [name.strip() for name in next(rows, [])]
    wanted = _columns(source, header, columns)
    positions = {name: header.index(name) for name in (VIDEO_ID_COLUMN, *wanted)}
    attributes: VideoAttributes = {}
    first_line: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise AttributesError(f"{source}:{line}: {len(row)} fields, the header has {len(header)}")
        video_id = row[positions[VIDEO_ID_COLUMN]].strip()
        if not video_id:
            raise AttributesError(f"{source}:{line}: the {VIDEO_ID_COLUMN} cell is empty")
        if video_id in first_line:
            raise AttributesError(f"{source}:{line}: video {video_id!r} is listed twice "
                                  f"(first at line {first_line[video_id]})")
        first_line[video_id] = line
        attributes[video_id] = {name: row[positions[name]].strip() for name in wanted
                                if row[positions[name]].strip()}
    if known_ids is not None:
        _refuse_unknown(source, attributes, known_ids)
    return attributes


def _columns(source: Path, header: list[str], columns: Sequence[str] | None) -> list[str]:
    if not header or header == [""]:
        raise AttributesError(f"attributes file {source} is empty; it needs a header row with a "
                              f"{VIDEO_ID_COLUMN} column")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise AttributesError(f"{source}: column {repeated[0]!r} appears twice in the header")
    missing = [name for name in (VIDEO_ID_COLUMN, *(columns or ())) if name not in header]
    if missing:
        raise AttributesError(f"{source} has no column {missing[0]!r} (its columns: {', '.join(header)})")
    wanted = list(columns) if columns is not None else [name for name in header if name != VIDEO_ID_COLUMN]
    if not wanted:
        raise AttributesError(f"{source} has only the {VIDEO_ID_COLUMN} column; add a column per attribute")
    return wanted


def _refuse_unknown(where: object, attributes: Mapping[str, object], known_ids: Collection[str]) -> None:
    known = set(known_ids)
    unknown = [video_id for video_id in attributes if video_id not in known]
    if unknown:
        raise AttributesError(f"{where} names {len(unknown)} videos that are not in the manifest, "
                              f"e.g. {unknown[0]!r}; use the manifest's video ids (file names without extension)")


def read_synthetic_attributes(path: str | os.PathLike) -> VideoAttributes:
    """Return each video's degraded_cue and degradation from the synthetic generator's metadata.json
    (a video without degradation gets "none" for both)."""
    source = Path(path)
    payload = read_json(source, AttributesError, missing=f"{source} does not exist",
                        invalid=f"{source} is not valid JSON ({{error}})")
    if not is_synthetic_metadata(payload):
        raise AttributesError(f"{source} is not the metadata.json of `twostream make-synthetic` "
                              f"(it needs videos with {', '.join(SYNTHETIC_ATTRIBUTES)})")
    return {str(video["video_id"]): {name: NONE_VALUE if video[name] is None else str(video[name])
                                     for name in SYNTHETIC_ATTRIBUTES}
            for video in payload["videos"]}


def is_synthetic_metadata(payload: object) -> bool:
    """Whether a loaded JSON document is the synthetic generator's metadata (its config and finished videos)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("config"), dict):
        return False
    videos = payload.get("videos")
    return isinstance(videos, list) and bool(videos) and all(
        isinstance(video, dict) and {"video_id", *SYNTHETIC_ATTRIBUTES} <= set(video) for video in videos)


def find_synthetic_metadata(videos: str | os.PathLike) -> Path | None:
    """The synthetic generator's metadata.json beside a videos folder (in it, or in its parent, where
    `make-synthetic` writes it), or None when there is none."""
    folder = Path(videos)
    for candidate in (folder / SYNTHETIC_METADATA, folder.parent / SYNTHETIC_METADATA):
        try:
            payload = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # absent, unreadable or not JSON: not the generator's
            continue
        if is_synthetic_metadata(payload):
            return candidate
    return None


def manifest_attributes(manifest: Manifest) -> VideoAttributes:
    """The attributes the manifest's videos carry, by video id (videos without any left out)."""
    return {video.video_id: dict(video.attributes) for video in manifest.videos if video.attributes}


def merge_attributes(base: Mapping[str, Mapping[str, str]],
                     override: Mapping[str, Mapping[str, str]]) -> VideoAttributes:
    """Return `base` with `override`'s values added, an attribute given by both taking `override`'s value."""
    merged = {video_id: dict(values) for video_id, values in base.items()}
    for video_id, values in override.items():
        merged.setdefault(video_id, {}).update(values)
    return merged


def with_attributes(manifest: Manifest, attributes: Mapping[str, Mapping[str, str]]) -> Manifest:
    """Return the manifest with `attributes` merged into its videos' own (given values win); a video id
    the manifest lacks is refused."""
    _refuse_unknown("the given attributes", attributes, {video.video_id for video in manifest.videos})
    videos = [replace(video, attributes={**video.attributes, **attributes.get(video.video_id, {})})
              for video in manifest.videos]
    return Manifest(manifest.dataset, manifest.root, list(manifest.classes), videos, manifest.schema)


def annotate_index(manifest: Manifest, videos: str | os.PathLike,
                   csv_path: str | os.PathLike | None = None) -> Manifest:
    """Return a freshly indexed manifest with its videos' attributes: the synthetic generator's (when its
    metadata.json sits beside `videos`), then the CSV's at `csv_path` over them."""
    metadata = find_synthetic_metadata(videos)
    if metadata is not None:
        ids = {video.video_id for video in manifest.videos}
        found = {video_id: values for video_id, values in read_synthetic_attributes(metadata).items()
                 if video_id in ids}
        manifest = with_attributes(manifest, found)
        log.info("attributes %s of %d videos from %s", ", ".join(SYNTHETIC_ATTRIBUTES), len(found), metadata)
    if csv_path is not None:
        manifest = with_attributes(manifest, read_attributes_csv(
            csv_path, known_ids=[video.video_id for video in manifest.videos]))
    return manifest


def gather_attributes(manifest: Manifest | None, csv_path: str | os.PathLike | None = None) -> VideoAttributes:
    """The attributes a command sees: the manifest's, with a CSV's (checked against the manifest's
    video ids when there is a manifest) over them."""
    found = manifest_attributes(manifest) if manifest is not None else {}
    if csv_path is not None:
        known = [video.video_id for video in manifest.videos] if manifest is not None else None
        found = merge_attributes(found, read_attributes_csv(csv_path, known_ids=known))
    return found


def attribute_names(attributes: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Every attribute name any video carries, sorted."""
    return sorted({name for values in attributes.values() for name in values})


def attribute_values(attributes: Mapping[str, Mapping[str, str]], name: str) -> dict[str, str]:
    """Each video's value of attribute `name`, for the videos that have it; refuses a name no video has."""
    values = {video_id: given[name] for video_id, given in attributes.items() if name in given}
    if not values:
        have = ", ".join(attribute_names(attributes)) or "none"
        raise AttributesError(f"no video has the attribute {name!r} (attributes present: {have}); index the "
                              "dataset with `twostream index --attributes CSV`, or pass --attributes CSV")
    return values

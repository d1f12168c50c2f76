"""Dataset indexes: UCF101 and HMDB51 split files and folder-per-class trees, turned into a Manifest."""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from twostream.data.attributes import annotate_index
from twostream.data.errors import SplitFileError, TwostreamError
from twostream.data.manifest import Manifest, VideoEntry

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv")
_UCF_GROUP = re.compile(r"_g(\d+)_c\d+$")
_HMDB_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d+)\.txt$")
_HMDB_ROLES = {"1": "train", "2": "test", "0": "unused"}


@dataclass
class _Collected:
    """Videos gathered from split files before the disk check, keyed by relative path."""

    entries: dict[str, dict]
    origin: dict[str, tuple[Path, int]]  # relative path -> (split file, line) that first named it


def read_lines(path: Path) -> list[tuple[int, str]]:
    """Return (1-based line number, stripped text) for each non-blank line of a text file (LF or CRLF)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SplitFileError(path, None, "file does not exist") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SplitFileError(path, None, "is not a UTF-8 text file; is this really a split file?") from None
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def read_class_index(path: Path) -> list[str]:
    """Parse UCF101's classInd.txt ("<1-based id> <ClassName>" per line) into class names in id order."""
    classes: list[str] = []
    for number, line in read_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SplitFileError(path, number, f"expected '<id> <ClassName>', found {line!r}")
        if int(parts[0]) != len(classes) + 1:
            raise SplitFileError(path, number, f"class ids must run 1, 2, 3, ...; expected {len(classes) + 1}, found {parts[0]}")
        if parts[1] in classes:
            raise SplitFileError(path, number, f"class {parts[1]!r} is listed twice")
        classes.append(parts[1])
    if not classes:
        raise SplitFileError(path, None, "lists no classes")
    return classes


def index_ucf101(
    split_dir: str | Path,
    video_root: str | Path | None = None,
    splits: tuple[int, ...] | None = None,
    allow_missing: bool = False,
    dataset: str = "ucf101",
) -> Manifest:
    """Index UCF101-style split files (classInd.txt, trainlist0N.txt, testlist0N.txt) into a Manifest.

    With `video_root`, every listed video must exist under it (`<root>/<Class>/<file>`), or with
    `allow_missing` missing ones are dropped with a warning and a count.
    """
    split_dir = Path(split_dir)
    classes = read_class_index(split_dir / "classInd.txt")
    class_ids = {name: index for index, name in enumerate(classes)}
    available = sorted(int(p.stem[-2:]) for p in split_dir.glob("trainlist0[0-9].txt"))
    wanted = tuple(splits) if splits else tuple(available)
    if not wanted:
        raise SplitFileError(split_dir, None, "holds no trainlist0N.txt; point --splits at UCF101's split folder")
    collected = _Collected({}, {})
    for split in wanted:
        for role in ("train", "test"):
            list_path = split_dir / f"{role}list{split:02d}.txt"
            for number, line in read_lines(list_path):
                relative, label = _parse_ucf_line(list_path, number, line, class_ids, role)
                _record(collected, relative, str(split), role, list_path, number,
                        label=label, class_name=classes[label],
                        group=_ucf_group(Path(relative).stem))
    return _finish(dataset, classes, collected, video_root, allow_missing)


def _parse_ucf_line(path: Path, number: int, line: str, class_ids: dict[str, int], role: str) -> tuple[str, int]:
    parts = line.split()
    if len(parts) not in (1, 2):
        raise SplitFileError(path, number, f"expected '<Class>/<video> [<label>]', found {line!r}")
    relative = parts[0].replace("\\", "/")
    if "/" not in relative:
        raise SplitFileError(path, number, f"video {relative!r} lacks its class folder ('<Class>/<video>')")
    class_name = relative.split("/", 1)[0]
    if class_name not in class_ids:
        raise SplitFileError(path, number, f"class {class_name!r} is not in classInd.txt")
    label = class_ids[class_name]
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise SplitFileError(path, number, f"label {parts[1]!r} is not a 1-based class id")
        if int(parts[1]) - 1 != label:
            raise SplitFileError(
                path, number, f"label {parts[1]} disagrees with classInd.txt, which gives {class_name} id {label + 1}"
            )
    elif role == "train":
        raise SplitFileError(path, number, f"training list line {line!r} has no label")
    return relative, label


def _ucf_group(stem: str) -> int | None:
    match = _UCF_GROUP.search(stem)
    return int(match.group(1)) if match else None


def index_hmdb51(
    split_dir: str | Path,
    video_root: str | Path | None = None,
    splits: tuple[int, ...] | None = None,
    allow_missing: bool = False,
) -> Manifest:
    """Index HMDB51 split files (`<class>_test_splitN.txt`, tags 1 train / 2 test / 0 unused) into a Manifest."""
    split_dir = Path(split_dir)
    files: dict[tuple[str, int], Path] = {}
    for path in sorted(split_dir.glob("*_test_split*.txt")):
        match = _HMDB_FILE.match(path.name)
        if match:
            files[(match.group("cls"), int(match.group("split")))] = path
    if not files:
        raise SplitFileError(split_dir, None, "holds no <class>_test_splitN.txt files; point --splits at HMDB51's split folder")
    class_list = split_dir / "class_list.txt"
    classes = [line for _, line in read_lines(class_list)] if class_list.exists() else sorted({c for c, _ in files})
    unknown = sorted({c for c, _ in files} - set(classes))
    if unknown:
        raise SplitFileError(files[(unknown[0], min(s for c, s in files if c == unknown[0]))], None,
                             f"class {unknown[0]!r} is not in {class_list.name}")
    wanted = tuple(splits) if splits else tuple(sorted({s for _, s in files}))
    collected = _Collected({}, {})
    for split in wanted:
        for label, class_name in enumerate(classes):
            path = files.get((class_name, split))
            if path is None:
                raise SplitFileError(split_dir / f"{class_name}_test_split{split}.txt", None, "file does not exist")
            for number, line in read_lines(path):
                parts = line.split()
                if len(parts) != 2 or parts[1] not in _HMDB_ROLES:
                    raise SplitFileError(path, number, f"expected '<video> <0|1|2>', found {line!r}")
                _record(collected, f"{class_name}/{parts[0]}", str(split), _HMDB_ROLES[parts[1]], path, number,
                        label=label, class_name=class_name, group=None)
    return _finish("hmdb51", classes, collected, video_root, allow_missing)


def index_folder_tree(root: str | Path, test_fraction: float = 0.3, seed: int = 0) -> Manifest:
    """Index a folder-per-class tree (`<root>/<class>/<video>`) with one split assigned by a stable hash."""
    root = Path(root)
    if not root.is_dir():
        raise TwostreamError(f"dataset folder {root} does not exist")
    if not 0.0 <= test_fraction < 1.0:
        raise TwostreamError(f"test fraction {test_fraction} must be in [0, 1)")
    by_class = {
        folder.name: sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
        for folder in sorted(root.iterdir()) if folder.is_dir()
    }
    classes = [name for name, videos in by_class.items() if videos]
    if not classes:
        raise TwostreamError(f"{root} has no class folders with videos ({', '.join(VIDEO_EXTENSIONS)})")
    videos = []
    for label, class_name in enumerate(classes):
        for path in by_class[class_name]:
            digest = hashlib.sha256(f"{seed}:{class_name}/{path.name}".encode()).digest()
            role = "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"
            videos.append(VideoEntry(path.stem, f"{class_name}/{path.name}", label, class_name, {"1": role}))
    return Manifest("folder", str(root.resolve()), classes, videos)


DATASETS: tuple[str, ...] = ("ucf101", "hmdb51", "folder")


def index_dataset(
    dataset: str,
    videos: str | Path,
    *,
    splits: str | Path | None = None,
    split_numbers: tuple[int, ...] | None = None,
    allow_missing: bool = False,
    test_fraction: float = 0.3,
    seed: int = 0,
    attributes: str | Path | None = None,
) -> Manifest:
    """Index a dataset into a Manifest: UCF101 or HMDB51 from their split files, or a folder-per-class tree.

    `splits` is the folder of split files (UCF101, HMDB51), `split_numbers` narrows the splits read,
    `allow_missing` leaves out listed videos that are not on disk; a folder tree gets one split with
    `test_fraction` of its videos tested, chosen by a hash seeded with `seed`. The videos carry the
    synthetic generator's attributes when its metadata.json sits beside `videos`, and those of the
    CSV file `attributes` over them (see `twostream.data.attributes`).
    """
    if dataset not in DATASETS:
        raise TwostreamError(f"unknown dataset kind {dataset!r}; use one of {', '.join(DATASETS)}")
    if dataset == "folder":
        manifest = index_folder_tree(videos, test_fraction, seed)
    elif not splits:
        raise TwostreamError(f"--splits is required for --dataset {dataset}")
    else:
        index = index_ucf101 if dataset == "ucf101" else index_hmdb51
        manifest = index(splits, videos, split_numbers, allow_missing)
    return annotate_index(manifest, videos, attributes)


def _record(collected: _Collected, relative: str, split: str, role: str, path: Path, number: int, **fields) -> None:
    entry = collected.entries.get(relative)
    if entry is None:
        collected.entries[relative] = {"splits": {split: role}, **fields}
        collected.origin[relative] = (path, number)
        return
    if entry["label"] != fields["label"]:
        first = collected.origin[relative]
        raise SplitFileError(path, number, f"{relative} has class {fields['class_name']!r} here but "
                                           f"{entry['class_name']!r} at {first[0]}:{first[1]}")
    previous = entry["splits"].get(split)
    if previous is not None and previous != role:
        raise SplitFileError(path, number, f"{relative} is both {previous} and {role} in split {split}")
    entry["splits"][split] = role


def _finish(dataset: str, classes: list[str], collected: _Collected,
            video_root: str | Path | None, allow_missing: bool) -> Manifest:
    root = Path(video_root).resolve() if video_root is not None else None
    if root is not None and not root.is_dir():
        raise TwostreamError(f"video folder {video_root} does not exist")
    videos, missing = [], []
    for relative, fields in collected.entries.items():
        if root is not None and not (root / relative).is_file():
            missing.append(relative)
            continue
        videos.append(VideoEntry(Path(relative).stem, relative, fields["label"], fields["class_name"],
                                 dict(sorted(fields["splits"].items())), fields["group"]))
    if missing:
        path, number = collected.origin[missing[0]]
        if not allow_missing:
            raise SplitFileError(path, number, f"video {missing[0]} is not under {root} "
                                               f"({len(missing)} listed videos are missing); "
                                               "pass --allow-missing to index only the videos present")
        log.warning("%d videos listed in the split files are missing under %s and were left out (first: %s)",
                    len(missing), root, missing[0])
    return Manifest(dataset, str(root) if root is not None else "", classes, videos)

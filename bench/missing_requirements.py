"""Print, one per line, the requirements of setup.cfg that the running Python does not satisfy yet.

Used by bench/gpu_check.sh to install the project with --no-deps and then only what is missing, so a
machine without internet keeps the packages it has (its CUDA torch, its numpy) and needs wheels only for
the rest. Any installed OpenCV build counts for opencv-contrib-python-headless (the benchmark rows that
need contrib's cv2.optflow skip themselves without it), and an ffmpeg binary ($TWOSTREAM_FFMPEG or on
PATH) for imageio-ffmpeg, which only ships one.
Run: python bench/missing_requirements.py [--with pytest] [--setup-cfg setup.cfg]
Standard library only (packaging from pip's vendored copy when it is not installed): it runs before the
project is installed.
"""
from __future__ import annotations

import argparse
import configparser
import os
import shutil
from importlib import metadata
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version
except ImportError:  # a bare venv has pip, which vendors packaging
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import InvalidVersion, Version

SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"
OPENCV_BUILDS = ("opencv-contrib-python-headless", "opencv-contrib-python", "opencv-python-headless", "opencv-python")
# A requirement on one of these is met by any of them (they all install the same cv2 module).
ALTERNATIVES = {canonicalize_name(name): OPENCV_BUILDS for name in OPENCV_BUILDS}


def _ffmpeg_binary() -> bool:
    configured = os.environ.get("TWOSTREAM_FFMPEG")
    return os.path.isfile(configured) if configured else shutil.which("ffmpeg") is not None


# Requirements met by something other than a distribution, as twostream.data.runtime.ffmpeg_executable finds it.
MET_OTHERWISE = {canonicalize_name("imageio-ffmpeg"): _ffmpeg_binary}


def declared(setup_cfg: Path, extra_names: tuple[str, ...] = ()) -> list[Requirement]:
    """install_requires of `setup_cfg`, plus the requirements of its extras whose names are in `extra_names`."""
    config = configparser.ConfigParser()
    config.read(setup_cfg)
    lines = config["options"]["install_requires"].splitlines()
    if extra_names and config.has_section("options.extras_require"):
        wanted = {canonicalize_name(name) for name in extra_names}
        for extra in config["options.extras_require"].values():
            lines += [line for line in extra.splitlines() if line.strip()
                      and canonicalize_name(Requirement(line).name) in wanted]
    return [Requirement(line) for line in dict.fromkeys(line.strip() for line in lines) if line]


def _installed_version(name: str) -> Version | None:
    try:
        return Version(metadata.version(name))
    except (metadata.PackageNotFoundError, InvalidVersion):
        return None


def satisfied(requirement: Requirement, extra: str = "") -> bool:
    """Whether an installed distribution meets `requirement`, its extras' own requirements included."""
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
        return True
    if MET_OTHERWISE.get(canonicalize_name(requirement.name), lambda: False)():
        return True
    for name in ALTERNATIVES.get(canonicalize_name(requirement.name), (requirement.name,)):
        version = _installed_version(name)
        if version is not None and requirement.specifier.contains(version, prereleases=True):
            break
    else:
        return False
    for wanted in requirement.extras:
        needs = [Requirement(line) for line in metadata.requires(requirement.name) or []]
        if not all(satisfied(need, wanted) for need in needs if need.marker is not None):
            return False
    return True


def missing(setup_cfg: Path = SETUP_CFG, extra_names: tuple[str, ...] = ()) -> list[str]:
    """The declared requirements (see `declared`) that the running Python does not satisfy, as strings."""
    return [str(requirement) for requirement in declared(setup_cfg, extra_names) if not satisfied(requirement)]


def main() -> None:
    """Print the missing requirements, one per line (nothing when all are met)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with", dest="extra_names", action="append", default=[], metavar="NAME",
                        help="also check this requirement of the extras (e.g. pytest); repeatable")
    parser.add_argument("--setup-cfg", type=Path, default=SETUP_CFG)
    args = parser.parse_args()
    for line in missing(args.setup_cfg, tuple(args.extra_names)):
        print(line)


if __name__ == "__main__":
    main()

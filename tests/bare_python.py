"""Run a Python script or module as on a machine with only torch, numpy and Triton installed: the pipeline's
other requirements (OpenCV, zarr, ffmpeg, dask, ...) fail to import, as they do where they are absent.

    python tests/bare_python.py SCRIPT.py [ARGS ...]
    python tests/bare_python.py -m MODULE [ARGS ...]
"""
from __future__ import annotations

import os
import runpy
import sys

ABSENT = ("cv2", "zarr", "ffmpeg", "imageio_ffmpeg", "h5py", "dask", "distributed", "sklearn", "matplotlib",
          "safetensors", "xarray")


class AbsentModules:
    """A meta path finder that answers the ABSENT packages as uninstalled."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        """Raise ModuleNotFoundError for an absent package (or any of its modules); otherwise leave it to others."""
        if name.split(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def main() -> None:
    """Block the absent packages, then run the script or module named on the command line."""
    sys.meta_path.insert(0, AbsentModules())
    if sys.argv[1] == "-m":
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))  # as Python does for a script
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()

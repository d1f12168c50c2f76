"""The temporal-localisation export of a dense features store: one (positions, features) matrix per video.

Layout, as BSN, BMN, G-TAD and mmaction2's localisers read it::

    <out>/<video_id>.csv     localization-csv: a header row f0,f1,...,f{C-1}, then one row per temporal
                             position, comma-separated, no index column (pandas.read_csv(path).values and
                             numpy.loadtxt(path, delimiter=",", skiprows=1) give the (T, C) matrix)
    <out>/<video_id>.npy     localization-npy: the same (T, C) matrix, float32
    <out>/store.json         the store's root attributes and what the export took: tap per stream, column
                             ranges, positions, and per video its snippets, stride and feature frames (and
                             clip_frames, for networks that read clips)

ActionFormer's and TriDet's THUMOS14 features are this layout's npy files at native positions from a dense
I3D store (`--stride 4`, 16-frame clips) with `--taps global_pool`: (T, 2048) float32, RGB then flow, row i
the clip of frames 4i .. 4i + 15, which those trainers place at frame 4i + 8 (feat_stride 4, num_frames 16).

Columns are the rgb stream's tap, then the flow stream's (with logits of 200 classes: 400 columns,
as in the ActivityNet csv_mean_100 files). Name the folder csv_mean_<T> where the trainer expects it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LOCALIZATION_CSV = "localization-csv"
LOCALIZATION_NPY = "localization-npy"
LOCALIZATION_FORMATS = (LOCALIZATION_CSV, LOCALIZATION_NPY)
DEFAULT_POSITIONS = 100  # BSN and BMN's temporal scale on ActivityNet
NATIVE = "native"  # keep one row per snippet instead of rescaling
CSV_NUMBER = "%.6g"


def localization_file(video_id: str, format: str) -> str:
    """File name of one video's matrix: "<video_id>.csv" or "<video_id>.npy"."""
    return f"{video_id}.{'csv' if format == LOCALIZATION_CSV else 'npy'}"


def column_names(count: int) -> list[str]:
    """The header of a localisation csv: f0 .. f{count-1}."""
    return [f"f{index}" for index in range(count)]


def write_localization(path: Path, matrix: np.ndarray, format: str) -> None:
    """Write one video's (T, C) matrix as a localisation csv (header row, no index) or a float32 npy file."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if format == LOCALIZATION_CSV:
        np.savetxt(path, matrix, fmt=CSV_NUMBER, delimiter=",", header=",".join(column_names(matrix.shape[1])),
                   comments="")
    else:
        np.save(path, matrix)

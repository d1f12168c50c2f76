"""Open features for reading whatever holds them: a features.zarr store or its HDF5 export."""
from __future__ import annotations

import os
from pathlib import Path

import h5py

from twostream.pipeline.stores.feature_h5 import H5FeatureStore
from twostream.pipeline.stores.feature_store import FeatureReader, FeatureStore
from twostream.pipeline.stores.video_store import StoreError


def open_feature_store(path: str | os.PathLike) -> FeatureReader:
    """Open a features.zarr store (a folder) or an HDF5 export (a file) with the same read interface."""
    location = Path(path)
    if location.is_dir():
        return FeatureStore.open(location)
    if location.is_file() and h5py.is_hdf5(location):
        return H5FeatureStore.open(location)
    if location.exists():
        raise StoreError(f"{location} is neither a features.zarr store nor an HDF5 export of one")
    raise StoreError(f"{location} does not exist; create it with `twostream extract-features` "
                     "(or `twostream export-features --format h5`)")

"""Stage one: the commands that decode videos, compute flow, run the frozen backbones and export stores.

- Commands: `decode`, `batch` (dask execution), `extract_frames`, `extract_features`, `export_features`,
  `check_videos`.
- `flow`: optical flow (TV-L1 in PyTorch, OpenCV reference), quantisation, .flo, the colour coder.
- `backbones`: the networks, their taps, checkpoint layouts and loading, normalisation, partial BN.
- `stores`: frames.zarr and features.zarr, their HDF5 and npy exports, the xarray view, rawframes.
- `streams`: train-streams, TSN training of the spatial and temporal networks.
"""

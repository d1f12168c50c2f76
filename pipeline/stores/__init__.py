"""The stores stage one writes and later stages read: frames.zarr, features.zarr, their exports, rawframes."""

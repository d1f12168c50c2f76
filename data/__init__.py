"""Datasets, split files, the video manifest, snippet sampling and the synthetic video generator."""

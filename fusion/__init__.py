"""Stage two: fusion heads, late-fusion rules, training loops and evaluation on cached features.

- `features`: the cached-feature contract (FeatureSource, InMemoryFeatureSource); `sources`: feature
  sources over a features store or its HDF5 export.
- `heads`: gated fusion, m-fusion, baselines A and B, amplification, and their building blocks.
- `late`: fusion rules without training, with their titles; `results`: the comparison table.
- `training`: the one loop over the FusionTask protocol, losses, Algorithm 1's schedule, per-video
  evaluation, run folders (written and read) and the per-video analysis stored beside a run.
- What the fusion commands run: `configs` (their settings), `splits` (the validation carve and the
  sources of a split), `stream_networks` (the frozen streams reopened), `head_building` (the heads sized
  to the features), `train` (train-gate, train-mfuse) and `comparison` (evaluate).
- `report`: the HTML report and its figures.
"""

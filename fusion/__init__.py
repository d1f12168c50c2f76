"""Stage two: fusion heads, late-fusion rules, training loops and evaluation on cached features.

- `features`: the cached-feature contract (FeatureSource, InMemoryFeatureSource); `datasets`: K-segment
  and all-views sampling over it.
- Heads: `gating` (gated fusion), `multiplicative` (m-fusion, baselines A and B), `amplification`;
  their building blocks in `map_fusion` and `layers`.
- `late`: fusion rules without training; `metrics` and `results`: accuracies and the comparison table.
- Training: `losses`, `schedule` (Algorithm 1's phases), `tasks`, `training` (fit and its entry
  points), `evaluation` (per-video predictions), `runs` (the run folder), `analysis` (per-video stream
  scores and gate features stored beside a run).
- `report`: the HTML report and its figures, from finished run folders.
"""

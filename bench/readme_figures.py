"""Write the README's headline figures from the recorded benchmark JSONs: the demo run (demo.json, which
bench/demo_record.py writes) and fusion quality over unseen seeds (fusion_quality_<preset>.json), so that no
figure in the README is copied by hand.

Run: python bench/readme_figures.py [--check]
It rewrites the block between the README's figure markers; --check only says whether the block is current
(exit 1 when it is not).
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from twostream.fusion.configs import GateConfig
from twostream.fusion.results import accuracy_text, difference_text
from twostream.fusion.train import gate_method

from fusion_quality import DEFAULT_GATE

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "benchmarks" / "results"
BEGIN = "<!-- figures: written by python bench/readme_figures.py from docs/benchmarks/results -->"
END = "<!-- figures: end -->"
BEST_FIXED = "weighted average (grid search)"
ORACLE = "oracle: either stream's top-1 right"
MIMIC, DISTRACTOR = "mimic", "distractor"  # the degradations whose flow, or frames, mislead
WIDTH = 105  # the README's line length


def _wrapped(text: str) -> str:
    return textwrap.fill(text, width=WIDTH, break_long_words=False, break_on_hyphens=False)


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))


def _shares(rows: list[dict[str, Any]], run: str) -> dict[str, float]:
    """A gated run's mean spatial share per degradation, by degradation name (the column names carry counts)."""
    row = next(row for row in rows if row["run"] == run)
    return {key.split(" (")[0]: value for key, value in row.items() if " (" in key}


def _quality(preset: str) -> str:
    """One preset's unseen-seed figures: the default gate minus the best fixed weighting, and its share gap."""
    recorded = _load(f"fusion_quality_{preset}")
    seeds = recorded["report_seeds"]
    figures = recorded["presets"][preset]
    row = next(row for row in figures["differences"] if row["method"] == DEFAULT_GATE and row["minus"] == BEST_FIXED)
    gaps = {str(row["seeds"]): row["mimic minus distractor"] for row in figures["gate_shares"]
            if row["run"] == DEFAULT_GATE}
    short = [f"by only {gaps[str(seed)]:.2f} on seed {seed}" for seed in seeds if gaps[str(seed)] < 0.25]
    return (f"{row['points']:+.1f} {row['95 % interval']} points on the `{preset}` preset "
            f"(seeds {seeds[0]} to {seeds[-1]}; share gap {gaps['all']:.2f}"
            + (f", {', '.join(short)}" if short else "") + ")")


def figures_block() -> str:
    """The README's block of figures, from the recorded JSONs."""
    demo = _load("demo")
    rows = {row["method"]: row for row in demo["results"]["rows"]}
    gated = gate_method(GateConfig(), "global_pool")
    cell = {method: accuracy_text(rows[method]["splits"]["split 1"]) for method in (BEST_FIXED, gated, ORACLE)}
    difference = rows[gated]["differences"]["split 1"][BEST_FIXED]
    videos = len(demo["results"]["outcomes"]["split 1"]["video_ids"])
    machine = demo["machine"]
    shares = _shares(demo["gate_shares"], "gated")
    held = "is" if difference["low"] > 0 else "is not"
    took = f"`make demo` took {demo['minutes']:.1f} minutes once installed; " if demo.get("minutes") else ""
    return "\n".join([
        BEGIN,
        _wrapped(f"On a {machine['cores']}-core {machine['cpu']} (torch {machine['torch']}, {demo['date'][:10]}), "
                 f"{took}mean class accuracy on its {videos} test videos, 95 % bootstrap intervals:"),
        "",
        "| method | mean class accuracy (%) |",
        "|---|---:|",
        f"| best fixed weighting of the streams (grid search on validation) | {cell[BEST_FIXED]} |",
        f"| gated fusion, `train-gate`'s defaults | {cell[gated]} |",
        f"| oracle: either stream right | {cell[ORACLE]} |",
        "",
        _wrapped(f"The paired difference, {difference_text(difference)} points, {held} shown above zero by one "
                 f"seed's {videos} videos. In this run the gate's spatial share is {shares[DISTRACTOR]:.2f} on videos "
                 f"whose frames mislead and {shares[MIMIC]:.2f} on videos whose flow misleads. Over seeds that no "
                 "choice saw ([fusion quality over seeds](docs/benchmarks/fusion-quality.md)), gated fusion with "
                 f"`train-gate`'s defaults minus the best fixed weighting is {_quality('quality')} and "
                 f"{_quality('demo')}; the share gap is the mean spatial share on videos whose flow misleads minus "
                 "that on videos whose frames mislead."),
        END,
    ])


def current_block(readme: str) -> str:
    """The README's block of figures as it stands."""
    start, stop = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[start:stop]


def main() -> int:
    """Rewrite (or with --check, compare) the README's block of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether the README's block is current")
    args = parser.parse_args()
    readme = README.read_text(encoding="utf-8")
    block, wanted = current_block(readme), figures_block()
    if args.check:
        print("the README's figures are current" if block == wanted else "the README's figures are out of date")
        return 0 if block == wanted else 1
    README.write_text(readme.replace(block, wanted), encoding="utf-8")
    print(f"written: the figures block of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

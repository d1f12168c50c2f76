"""The steps of the GPU check: which commands run, at which sizes, under which time limits, and what each
step's one-line headline is in the summary."""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

from steps import Step

# Each step's time limit in seconds, in running order: TV-L1's figures first, then its tests, which need only
# torch, numpy and Triton; then what needs the whole pipeline. The first eight add up to 400 s, which leaves
# 80 s of the 8-minute budget for the set-up (an offline pip install of the missing packages) and the
# environment query; I3D's clips per second come last, run when the set-up left the time for them.
LIMITS_S = {"flow": 140, "flow_tests": 45, "tests": 50, "flow_eager": 50, "extract_frames_sharing": 35,
            "extract_features_amp": 30, "extract_features_no_amp": 25, "fusion_cache": 25,
            "extract_features_i3d": 30}
OPTIONAL = {"extract_features_i3d"}  # started only with its whole limit left: skipped, not cut short
# The flow rows' inputs, written beforehand by `python bench/flow.py --prepare bench/inputs/flow_inputs.npz`
# and carried with the checkout: the flow steps then need neither ffmpeg nor OpenCV nor the shared data.
FLOW_INPUTS = Path("bench/inputs/flow_inputs.npz")
# gpu: the sizes of the check on a GPU; tiny: a few seconds on a CPU, for testing the check itself.
SIZES = {
    "gpu": {"flow": ["--gpu-pairs", "256", "--gpu-batches", "64", "128", "256", "--gpu-compile", "on", "triton"],
            "flow_eager": ["--gpu-pairs", "256", "--gpu-batches", "1", "64", "256", "--gpu-compile", "off",
                           "--iteration-pairs", "4"],
            "extract_features": ["--videos", "4"],
            "extract_features_i3d": ["--backbone", "i3d", "--preset", "demo", "--videos", "8", "--crops", "1",
                                     "--batch-size", "16"],
            "fusion_cache": ["--videos", "16", "--steps", "5"],
            "extract_frames": ["--sharing-videos", "16", "--sharing-frames", "48", "--threads", "8"]},
    "tiny": {"flow": ["--gpu-pairs", "1", "--gpu-batches", "1", "--work-batch", "1"],
             "flow_eager": ["--gpu-pairs", "1", "--gpu-batches", "1", "--iteration-pairs", "0"],
             "extract_features": ["--preset", "tiny", "--backbone", "tiny", "--videos", "1", "--snippets", "1",
                                  "--crops", "1", "--batch-size", "2"],
             "extract_features_i3d": ["--preset", "tiny", "--backbone", "i3d", "--videos", "1", "--crops", "1",
                                      "--batch-size", "1"],
             "fusion_cache": ["--videos", "1", "--steps", "1"],
             "extract_frames": ["--sharing-videos", "2", "--sharing-frames", "2", "--threads", "2"]},
}


def plan(python: str, device: str, sizes: str, *, work: Path, test_paths: list[str],
         root: Path = Path(".")) -> list[Step]:
    """The check's steps in running order; each writes its results under `work`. The flow steps read the
    prepared inputs where `root` holds them (else the shared data, through ffmpeg and OpenCV)."""
    size = SIZES[sizes]
    inputs = ["--inputs", str(root / FLOW_INPUTS)] if (root / FLOW_INPUTS).is_file() else []
    flow = [python, "bench/flow.py", *inputs]
    features = [python, "bench/extract_features.py", "--device", device, *size["extract_features"]]
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    commands = {
        "flow": flow + ["--rows", "work,model,cuda", "--work-device", device, *size["flow"]],
        "flow_tests": pytest + ["-m", "cuda or triton", f"--junitxml={work / 'flow_tests.xml'}", "tests/pipeline/flow"],
        "tests": pytest + ["-m", "cuda", f"--junitxml={work / 'tests.xml'}", *test_paths],
        "flow_eager": flow + ["--rows", "cuda,iterations", "--iteration-device", device, *size["flow_eager"]],
        "extract_frames_sharing": [python, "bench/extract_frames.py", "--only-sharing", "--device", device,
                                   *size["extract_frames"]],
        "extract_features_amp": features,
        "extract_features_no_amp": features + ["--no-amp"],
        "fusion_cache": [python, "bench/fusion_cache.py", "--device", device, *size["fusion_cache"]],
        "extract_features_i3d": [python, "bench/extract_features.py", "--device", device,
                                 *size["extract_features_i3d"]],
    }
    steps = []
    for name, command in commands.items():
        if name in ("flow_tests", "tests"):
            junit = work / f"{name}.xml"
            steps.append(Step(name, command, LIMITS_S[name], junit, load=junit_counts, judge=all_skipped))
        else:
            results = work / f"{name}.json"
            steps.append(Step(name, command + ["--out", str(results)], LIMITS_S[name], results,
                              optional=name in OPTIONAL))
    return steps


def junit_counts(path: Path) -> dict[str, Any]:
    """Test counts of a pytest JUnit XML report, and the distinct reasons of its skips."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(str(error)) from None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    keys = ("tests", "failures", "errors", "skipped")
    counts = {key: sum(int(suite.get(key, 0)) for suite in suites) for key in keys}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    reasons = [skip.get("message", "") for skip in root.iter("skipped")]
    counts["skip_reasons"] = sorted(set(reasons))
    return counts


def all_skipped(counts: dict[str, Any]) -> str | None:
    """Why a clean pytest run counts as skipped: it passed no test (every one skipped, or none selected)."""
    if counts["passed"] > 0:
        return None
    if counts["skipped"]:
        return f"all {counts['skipped']} tests skipped: {'; '.join(counts['skip_reasons'])}"
    return "no test selected"


def headline(name: str, results: dict[str, Any] | None) -> str:
    """The step's key figure for the summary table ("" when it has none)."""
    if not results:
        return ""
    if name in ("flow_tests", "tests"):
        failed = results["failures"] + results["errors"]
        return f"{results['passed']} passed, {failed} failed, {results['skipped']} skipped"
    rows = results.get("rows", [])
    if name.startswith("flow") and rows:
        best = max(rows, key=lambda row: row["pairs_per_s"])
        compared = next((c for c in results.get("measured_against_predicted", []) if c["row"] == best["row"]), None)
        modelled = f", {100 * compared['ratio']:.0f} % of the modelled figure" if compared else ""
        return (f"best {best['pairs_per_s']:.1f} pairs/s (batch {best['options']['batch_size']}, compile "
                f"{best['options'].get('compile')}), Sintel EPE {best['sintel_epe']:.4f}{modelled}")
    if name == "extract_frames_sharing" and rows:
        return f"{rows[-2]['value']:.1f} frames/s shared, {rows[-1]['value']:.2f}x alone"
    if name.startswith("extract_features"):
        whole = next((row for row in rows if row["measure"] == "whole extract-features path"), None)
        return f"{whole['value']:.1f} {whole['unit']} whole path" if whole is not None else ""
    if name == "fusion_cache" and rows:
        ratio = rows[-1]
        return f"end-to-end / cached: {ratio['seconds_per_step']:.1f}x time, {ratio['peak_bytes']:.1f}x memory"
    return ""

"""The report renders in a real browser: headless Chromium loads it and every figure decodes to an image."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from twostream.fusion.report.assemble import FIGURES
from twostream.fusion.report.build import ReportConfig, build_report

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
# Appended to a copy of the report (the report itself carries no script): after load, write each
# image's decoded size into the DOM, which --dump-dom then returns.
PROBE = ("<script>window.addEventListener('load', () => { const out = document.createElement('pre');"
         " out.id = 'image-probe'; out.textContent = JSON.stringify(Array.from(document.images).map(i =>"
         " ({id: i.closest('figure').id, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})));"
         " document.body.appendChild(out); });</script>")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of the Chromium binary; skips where it is absent, fails in CI (where .ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "chromium not found: install Debian's chromium package to run the rendering test"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_every_figure_loads_in_headless_chromium(chromium, trained_runs, tmp_path):
    flows = {"opencv": trained_runs.test.load(0, ["flow_map"]).get("flow_map")[0, 0, :2].transpose(1, 2, 0),
             "ours": trained_runs.test.load(1, ["flow_map"]).get("flow_map")[0, 0, :2].transpose(1, 2, 0)}
    report = build_report(trained_runs.paths, tmp_path / "report", config=ReportConfig(flow_bench={"fields": flows}))
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="image-probe">(.*?)</pre>', result.stdout, re.S)
    assert found, "the page did not finish loading: " + result.stdout[-500:]
    images = json.loads(found.group(1).replace("&quot;", '"'))
    assert [image["id"] for image in images] == [name for name, _ in FIGURES]
    for image in images:
        png = (report.parent / f"{image['id']}.png").read_bytes()
        # The PNG header holds the size the browser must have decoded.
        expected = (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
        assert image["complete"] and (image["width"], image["height"]) == expected, image

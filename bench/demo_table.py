"""Record a `make demo` run's results table for the documentation, with the machine and date it ran on.

Run after `make demo`: python bench/demo_table.py [--results demo_out/results/results.json]
    [--out docs/benchmarks/results/demo.json]
The documentation's demo page draws its table from that file.
"""
from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

from twostream.fusion.results import ResultsTable

from common import provenance

DOCS_RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "results"


def main() -> None:
    """Check the results file is a results table, then write it with its provenance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("demo_out/results/results.json"),
                        help="the results.json the demo's evaluate wrote")
    parser.add_argument("--out", type=Path, default=DOCS_RESULTS / "demo.json", help="the JSON to write")
    args = parser.parse_args()
    data = json.loads(args.results.read_text(encoding="utf-8"))
    ResultsTable.from_dict(data)  # refuses a file that is not a results table
    written = datetime.datetime.fromtimestamp(args.results.stat().st_mtime, datetime.timezone.utc)
    record = {"benchmark": "demo", **provenance(), "command": "make demo",
              "date": written.strftime("%Y-%m-%d %H:%M UTC"), "results": data}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()

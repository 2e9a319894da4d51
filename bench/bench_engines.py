"""One engine vs several: the wall time of a matrix on the first engine alone and on all of them, at the
same per-engine --jobs, and the ratio (issue 15 wants the default matrix on two engines in at most 0.6 of its
one-engine time, every cell still meeting its expectation).

A figure, not a test. Each run writes its reports under --out (one-engine/, all-engines/).

    .venv/bin/python bench/bench_engines.py --engine unix:///var/run/docker.sock --engine ssh://me@box2
    .venv/bin/python bench/bench_engines.py --engine E1 --engine E2 --matrix m.yaml --filter node-kill  # smoke
    .venv/bin/python bench/bench_engines.py --own-engine   # this machine's engine + a second one started here

Images are placed on every engine (built or transferred) before either clock starts: the figure is the
matrix, not a one-time `docker save | load`. The run on all engines starts the longest cells first, by the
durations of the one-engine run (`labctl matrix --durations`); at --jobs 1 the one-engine time is the sum of
its cells whatever their order, so `--one-engine-from RESULTS` may reuse an earlier one-engine run's report
(same matrix, cells and --jobs 1) instead of running it again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from labctl.lab import connect
from labctl.matrix import model, report, run, schedule

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests import dockerd  # noqa: E402  (a second engine of the bench's own, as the remote test starts)


def timed(matrix: model.Matrix, cells: list[model.Cell], engines: list, jobs: int, out: Path,
          known: dict[str, float] | None = None) -> dict:
    began = time.monotonic()
    result = run.run_matrix(matrix, cells, jobs, engines=engines, durations=known)
    seconds = time.monotonic() - began
    report.write_reports(result, out)
    totals = result.totals()
    return {"engines": [e.name for e in engines], "seconds": round(seconds, 1), "met": totals["met"],
            "cells": totals["cells"], "passed": result.passed,
            "per_engine": {e.name: sum(1 for r in result.results if r.engine == e.name) for e in engines}}


def reused(path: Path, cells: list[model.Cell], jobs: int) -> dict:
    """The one-engine figures of an earlier run's report; refused unless it ran exactly these cells at --jobs 1."""
    data = json.loads(path.read_text())
    if jobs != 1 or data.get("jobs") != 1 or sorted(c["id"] for c in data["cells"]) != sorted(c.id for c in cells):
        raise SystemExit(f"{path}: not a --jobs 1 run of these {len(cells)} cells: run the one-engine part again")
    totals = data["totals"]
    engine = (data.get("environment") or {}).get("engines", ["the first engine"])[0]
    return {"engines": [engine], "seconds": round(data["seconds"], 1), "met": totals["met"], "cells": totals["cells"],
            "passed": data["passed"], "per_engine": {engine: totals["cells"]}, "reused": str(path),
            "started_at": data.get("started_at")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", default=[], help="engine URL (repeat; first = alone)")
    parser.add_argument("--own-engine", action="store_true",
                        help="add a second engine started on this machine for the run (root; own socket, data root, "
                             "bridge 10.97.255.0/24); with no --engine the first is this machine's default engine")
    parser.add_argument("--matrix", default=str(ROOT / "matrices" / "default.yaml"))
    parser.add_argument("--filter", action="append", default=[], help="as `labctl matrix --filter`")
    parser.add_argument("--jobs", type=int, default=1, help="labs at once per engine")
    parser.add_argument("--out", default="reports/bench-engines")
    parser.add_argument("--one-engine-from", metavar="RESULTS",
                        help="results.json of an earlier one-engine run of the same cells at --jobs 1 (not re-run)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if len(args.engine) + (2 if args.own_engine and not args.engine else int(args.own_engine)) < 2:
        parser.error("give at least two --engine (or --own-engine)")
    if not args.own_engine:
        return measure(args, args.engine)
    with dockerd.own_engine() as url:
        return measure(args, [*(args.engine or ["unix:///var/run/docker.sock"]), url])


def measure(args: argparse.Namespace, urls: list[str]) -> int:
    matrix = model.load_matrix(args.matrix)
    cells = model.filter_cells(matrix.cells, args.filter)
    engines = [connect(url) for url in urls]
    for index, engine in enumerate(engines):  # before the clocks: the same images everywhere
        engine.ensure_images(lambda kind, message, name=engine.name: print(f"{name}: image {kind}: {message}",
                                                                           flush=True), sources=engines[:index])
    if args.one_engine_from:
        one = reused(Path(args.one_engine_from), cells, args.jobs)
    else:
        one = timed(matrix, cells, engines[:1], args.jobs, Path(args.out) / "one-engine")
    known = schedule.durations(Path(args.one_engine_from or Path(args.out) / "one-engine" / "results.json"))
    many = timed(matrix, cells, engines, args.jobs, Path(args.out) / "all-engines", known)
    ratio = round(many["seconds"] / one["seconds"], 2) if one["seconds"] else None
    figures = {"matrix": matrix.name, "cells": len(cells), "jobs_per_engine": args.jobs, "one": one, "all": many,
               "ratio": ratio}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"matrix {matrix.name}: {len(cells)} cells, --jobs {args.jobs} per engine")
        print(f"  1 engine : {one['seconds']:7.1f} s  {one['met']}/{one['cells']} met"
              + (f"  (reused: {one['reused']})" if one.get("reused") else ""))
        print(f"  {len(engines)} engines: {many['seconds']:7.1f} s  {many['met']}/{many['cells']} met  "
              f"cells per engine {many['per_engine']}")
        print(f"  ratio {ratio} (target <= 0.6)")
    return 0 if one["passed"] and many["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

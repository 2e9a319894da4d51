"""`labctl report merge` (issue 15): the shards of a run merge back into the whole run's report, cell for
cell — the JSON cells, the JUnit testcases and the HTML rows and cell sections, in the matrix's order."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.matrix import merge, model, report
from labctl.matrix.run import CellResult, MatrixResult

ROOT = Path(__file__).resolve().parents[2]


def whole_run() -> MatrixResult:
    """A finished run of the shipped quick matrix on two engines: every status, verdicts with timelines."""
    matrix = model.load_matrix(ROOT / "matrices" / "quick.yaml")
    results = []
    for index, cell in enumerate(matrix.cells):
        status = ("met", "unmet", "error", "met")[index % 4]
        at = 1_800_000_000.0 + 40 * index
        verdict = None if status == "error" else {
            "verdict": "pass", "reasons": [], "ike_sa_preserved": True, "child_sa": "rekeyed",
            "outage_ms": {"a->b": 400.0 + index}, "converge_ms": 700.0,
            "timeline": {"probe_start": at, "fault_at": at + 1, "converged_at": at + 1.7, "probe_end": at + 4}}
        results.append(CellResult(cell, status, [] if status == "met" else [f"mismatch {index}"],
                                  "lab did not get ready" if status == "error" else None, verdict,
                                  [{"time": at + 1.2, "node": "gw2", "lane": "hsrp", "kind": "hsrp", "text": "Active",
                                    "detail": "Standby -> Active"}], at, 30.0 + index, {"up": 10.0, "down": 2.0},
                                  engine=("ssh://rm@127.0.0.1:2222", "ssh://rm2@127.0.0.1:2222")[index % 2]))
    return MatrixResult(matrix, results, 1_800_000_000.0, 300.0, 2, None, [], {"labctl": "0.1.0", "esp": "x"})


def shard(whole: MatrixResult, index: int, total: int) -> MatrixResult:
    """What `labctl matrix --shard I/N` records: the shard's cells, in the order it runs them."""
    by_id = {r.cell.id: r for r in whole.results}
    cells = model.shard_cells([r.cell for r in whole.results], index, total)
    return MatrixResult(whole.matrix, [by_id[c.id] for c in cells], whole.started_at + index, 100.0 + index, 2,
                        (index, total), [], whole.environment)


def rows(page: str) -> list[str]:
    return re.findall(r"<tr class=.*?</tr>", page) + re.findall(r"<details.*?</details>", page, re.S)


def junit_cases(xml: str) -> list[str]:
    return [ET.tostring(case, encoding="unicode") for case in ET.fromstring(xml).iter("testcase")]


def test_two_shards_merge_into_the_whole_run(tmp_path: Path) -> None:
    whole = whole_run()
    assert len(whole.results) >= 3
    expected = report.write_reports(whole, tmp_path / "whole")
    for i in (1, 2):
        report.write_reports(shard(whole, i, 2), tmp_path / f"shard{i}")
    run = subprocess.run([sys.executable, "-m", "labctl.cli", "report", "merge", str(tmp_path / "shard2"),
                          str(tmp_path / "shard1" / "results.json"), "--out", str(tmp_path / "all")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr  # unmet cells: the merge fails like the run would
    want, got = (json.loads((d / "results.json").read_text()) for d in (tmp_path / "whole", tmp_path / "all"))
    assert got["cells"] == want["cells"]  # cell for cell, in the matrix's order
    assert (got["totals"], got["passed"], got["matrix"]) == (want["totals"], want["passed"], want["matrix"])
    assert got["shard"] is None and [s["shard"] for s in got["environment"]["shards"]] == ["2/2", "1/2"]
    assert got["seconds"] == 102.0 and got["started_at"] == whole.started_at + 1  # longest shard, first start
    assert junit_cases((tmp_path / "all" / "junit.xml").read_text()) == junit_cases(expected["junit"].read_text())
    assert rows((tmp_path / "all" / "report.html").read_text()) == rows(expected["html"].read_text())
    assert "merged from 2 shards" in (tmp_path / "all" / "report.html").read_text()


def test_a_cell_in_two_shards_or_two_matrices_are_refused() -> None:
    whole = whole_run()
    one = report.to_json(shard(whole, 1, 2))
    with pytest.raises(LabctlError, match="is in shard 1 and shard 2"):
        merge.merge([one, one])
    other = {**report.to_json(shard(whole, 2, 2)), "matrix": "other"}
    with pytest.raises(LabctlError, match="different matrices"):
        merge.merge([one, other])


def test_a_directory_without_results_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("[]")
    run = subprocess.run([sys.executable, "-m", "labctl.cli", "report", "merge", str(tmp_path), "--out",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "not a labctl matrix results.json" in run.stderr and "Traceback" not in run.stderr

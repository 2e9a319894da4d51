"""`labctl report merge`: the results.json of several shards (`labctl matrix --shard I/N` on CI runners)
back into one result, from which the usual junit.xml, results.json and report.html are written.

A merged report equals the report of the whole run cell for cell: every cell comes back with what it
recorded (status, verdict, events, timings, engine) in the whole matrix's order (each cell's `position`).
What only a whole run has — one start and one wall time — becomes the earliest start and the longest shard
(shards run at the same time); each shard's own figures are kept under environment.shards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError, UsageError
from labctl.matrix.model import Cell, Expect, FaultSpec, Matrix, Settings
from labctl.matrix.run import CellResult, MatrixResult


def read_results(path: str | Path) -> dict[str, Any]:
    """A shard's results.json (the file, or the report directory holding it)."""
    file = Path(path)
    if file.is_dir():
        file = file / "results.json"
    try:
        data = json.loads(file.read_text())
    except OSError as exc:
        raise UsageError(f"{file}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise LabctlError(f"{file}: not a results.json ({exc})") from None
    if not isinstance(data, dict) or "cells" not in data or "matrix" not in data:
        raise LabctlError(f"{file}: not a labctl matrix results.json (no matrix/cells)")
    return data


def cell_from_dict(data: dict[str, Any]) -> Cell:
    """The Cell a results.json entry describes (what the reports need of it)."""
    return Cell(id=data["id"], topology=data["topology"], topology_file=Path(data["topology_file"]), lab=data["lab"],
                fault_name=data["fault"], fault=FaultSpec.model_validate(data["fault_spec"]), mode=data["mode"],
                timers_name=data["timers"], timers=dict(data.get("timer_overrides") or {}),
                sabotage=data.get("sabotage"), settings=Settings.model_validate(data.get("settings") or {}),
                expect=Expect.model_validate(data.get("expect") or {}), line=0)


def result_from_dict(data: dict[str, Any]) -> CellResult:
    return CellResult(cell_from_dict(data), status=data["status"], mismatches=list(data.get("mismatches") or []),
                      error=data.get("error"), verdict=data.get("verdict"), events=list(data.get("events") or []),
                      started_at=data.get("started_at"), seconds=float(data.get("seconds") or 0.0),
                      stages=dict(data.get("stages") or {}), engine=data.get("engine"), position=data.get("position"))


def merge(docs: list[dict[str, Any]]) -> MatrixResult:
    """One MatrixResult from several shards' results.json of the same matrix; a cell in two shards, or
    shards of different matrices, are refused."""
    if not docs:
        raise UsageError("report merge needs at least one results.json")
    names = sorted({d["matrix"] for d in docs})
    if len(names) > 1:
        raise LabctlError(f"cannot merge reports of different matrices: {', '.join(names)}")
    seen: dict[str, int] = {}
    results: list[CellResult] = []
    for index, doc in enumerate(docs):
        for cell in doc["cells"]:
            if cell["id"] in seen:
                raise LabctlError(f"cell {cell['id']} is in shard {seen[cell['id']] + 1} and shard {index + 1}: "
                                  "merge the shards of one run (--shard 1/N .. N/N) only")
            seen[cell["id"]] = index
            results.append(result_from_dict(cell))
    results.sort(key=lambda r: (r.position is None, r.position if r.position is not None else 0, r.cell.id))
    first = docs[0]
    environment = dict(first.get("environment") or {})
    environment["shards"] = [{"shard": d.get("shard"), "cells": len(d["cells"]), "seconds": d.get("seconds"),
                              "started_at": d.get("started_at"), "environment": d.get("environment")} for d in docs]
    matrix = Matrix(first["matrix"], Path(first.get("file") or ""), first.get("description") or "")
    return MatrixResult(matrix, results, min(float(d.get("started_at") or 0.0) for d in docs),
                        max(float(d.get("seconds") or 0.0) for d in docs), int(first.get("jobs") or 1), None,
                        list(first.get("filters") or []), environment)

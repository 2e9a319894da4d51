"""Run a matrix: each cell on a fresh lab (up, failover, events, down whatever happens), judged against
its expectation. Cells that share a lab name or overlapping subnets run one after another on an engine; such
groups run in parallel up to --jobs.

Over several engines (`--engine A --engine B`) every engine has its own --jobs workers taking the next cell
from one queue (`schedule.CellQueue`), largest group first: a group runs at most one cell per engine at a
time, and a large group is shared out over the engines. Two engines on one host can run the same lab at
once: their bridges and firewall rules carry the engine's scope (`runtime.spec.bridge_name`)."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from labctl.errors import LabctlError
from labctl.matrix.gate import Kind, OpenGate, QuietGate, gates_by_host
from labctl.matrix.model import Cell, Expect, Matrix, exclusive_groups
from labctl.matrix.schedule import CellQueue, cost_of

if TYPE_CHECKING:
    from labctl.runtime.docker.engine import DockerEngine


def check_expectation(expect: Expect, verdict: dict[str, Any]) -> list[str]:
    """Why a verdict does not meet the expectation (empty: it does). Pure, for tests and reports."""
    mismatches = []
    got = verdict.get("verdict")
    if got != expect.verdict:
        why = "; ".join(verdict.get("reasons") or []) or "no reasons given"
        mismatches.append(f"expected verdict {expect.verdict.upper()}, got {str(got).upper()}"
                          + (f" ({why})" if got == "fail" else ""))
    if expect.ike_sa_preserved is not None and verdict.get("ike_sa_preserved") != expect.ike_sa_preserved:
        mismatches.append(f"expected ike_sa_preserved={str(expect.ike_sa_preserved).lower()}, "
                          f"got {str(verdict.get('ike_sa_preserved')).lower()}")
    if expect.child_sa is not None and verdict.get("child_sa") not in expect.child_sa:
        mismatches.append(f"expected child_sa {' or '.join(expect.child_sa)}, got {verdict.get('child_sa')}")
    if expect.reason is not None and got == "fail" and not any(
            expect.reason.lower() in r.lower() for r in verdict.get("reasons") or []):
        mismatches.append(f"expected a reason containing {expect.reason!r}, got: "
                          + ("; ".join(verdict.get("reasons") or []) or "none"))
    return mismatches


@dataclass
class CellResult:
    cell: Cell
    status: str = "pending"  # met | unmet | error | skipped
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None
    verdict: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    started_at: float | None = None
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)  # up, failover, down seconds
    # wall-clock [start, end] of up, measure and down while the cell held the quiet gate (waits excluded)
    windows: dict[str, list[float]] = field(default_factory=dict)
    engine: str | None = None  # the engine the cell's lab ran on
    position: int | None = None  # place in the whole matrix file, when the matrix is not at hand (merged shards)

    @property
    def met(self) -> bool:
        return self.status == "met"

    def to_dict(self) -> dict[str, Any]:
        return {**self.cell.to_dict(), "status": self.status, "met": self.met, "mismatches": self.mismatches,
                "error": self.error, "started_at": self.started_at, "seconds": round(self.seconds, 3),
                "stages": {k: round(v, 3) for k, v in self.stages.items()},
                "windows": {k: [round(t, 3) for t in v] for k, v in self.windows.items()}, "engine": self.engine,
                "verdict": self.verdict, "events": self.events}


class Reporter(Protocol):
    def started(self, cell: Cell) -> None: ...
    def stage(self, cell: Cell, message: str) -> None: ...
    def finished(self, result: CellResult) -> None: ...


class QuietReporter:
    def started(self, cell: Cell) -> None:
        pass

    def stage(self, cell: Cell, message: str) -> None:
        pass

    def finished(self, result: CellResult) -> None:
        pass


@dataclass
class MatrixResult:
    matrix: Matrix
    results: list[CellResult]
    started_at: float
    seconds: float
    jobs: int
    shard: tuple[int, int] | None = None
    filters: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)  # what ran: labctl, images, ESP mode, CPUs

    @property
    def passed(self) -> bool:
        return all(r.met for r in self.results)

    def totals(self) -> dict[str, int]:
        counts = {"cells": len(self.results), "met": 0, "unmet": 0, "error": 0, "skipped": 0}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts


def run_cell(engine: DockerEngine, cell: Cell, reporter: Reporter, gate: QuietGate | None = None) -> CellResult:
    """One cell: fresh lab, failover (no recovery: the lab goes anyway), events, then down in any case.
    With other cells in parallel, `gate` keeps their lab setup and teardown out of this cell's measurement."""
    from labctl.experiment import timeline
    from labctl.experiment.failover import failover, failover_and_back
    from labctl.lab import open_lab, up

    gate = gate or OpenGate()
    result = CellResult(cell, started_at=round(time.time(), 3), engine=engine.name)
    began = time.monotonic()
    mark = began

    def stage(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        result.stages[name] = now - mark
        mark = now

    @contextlib.contextmanager
    def holding(kind: Kind, window: str) -> Iterator[None]:
        with gate.hold(kind):
            start = time.time()
            try:
                yield
            finally:
                result.windows[window] = [start, time.time()]

    try:
        reporter.stage(cell, "up")
        up(cell.topology_file, (cell.sabotage,) if cell.sabotage else (), timeout=90.0,
           progress=lambda m: reporter.stage(cell, f"up: {m}"), engine=engine, overrides=cell.overrides(),
           creating=holding("churn", "up"))
        stage("up")
        lab = open_lab(engine.lab(cell.lab))
        reporter.stage(cell, f"failover: {cell.fault_name}")
        measured = dict(rate=cell.settings.rate, max_outage_ms=cell.settings.max_outage_ms,
                        max_loss_percent=cell.settings.max_loss_percent,
                        converge_timeout=cell.settings.converge_timeout_s(),
                        progress=lambda m: reporter.stage(cell, f"failover: {m}"), percent=cell.fault.percent)
        with holding("measure", "measure"):
            if cell.fault.recover:
                verdict = failover_and_back(lab, cell.fault.fault, cell.fault.node, cell.fault.link, **measured)
            else:
                verdict = failover(lab, cell.fault.fault, cell.fault.node, cell.fault.link, recover=False,
                                   **measured)
        stage("failover")
        result.verdict = verdict.to_dict()
        try:
            window = dict(verdict.timeline)
            if verdict.recovery:
                window["probe_end"] = verdict.recovery["timeline"].get("probe_end") or window.get("probe_end")
            result.events = timeline.collect(lab, window)
        except Exception as exc:  # noqa: BLE001 - engine errors too (runtime's own types): a note, not a failure
            result.events = []
            result.verdict.setdefault("notes", []).append(f"timeline events unavailable: {exc}")
        result.mismatches = check_expectation(cell.expect, result.verdict)
        result.status = "unmet" if result.mismatches else "met"
    except LabctlError as exc:
        result.status, result.error = "error", str(exc)
    except Exception as exc:  # a bug must not leave labs behind nor stop the other cells
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    finally:
        reporter.stage(cell, "down")
        try:
            with holding("churn", "down"):
                engine.down(cell.lab)
        except Exception as exc:  # noqa: BLE001 - reported on the cell, the run goes on
            result.status = "error"
            result.error = (result.error or "") + f"\ncleanup of lab {cell.lab} failed: {exc}"
        if result.started_at is not None:
            stage("down")
        result.seconds = time.monotonic() - began
    if result.status == "error":
        result.mismatches = [f"cell did not complete: {result.error.splitlines()[0] if result.error else '?'}"]
    return result


def check_labs_free(engine: DockerEngine, cells: list[Cell]) -> None:
    """Never take over a lab someone else is running: every cell's lab name must be free."""
    # a lab with networks only (Docker 20.10 can keep a removed container's endpoint) runs nothing: `up` reuses it
    running = {name for name, info in engine.labs().items() if info.get("nodes")}
    busy = sorted({c.lab for c in cells if c.lab in running})
    if busy:
        raise LabctlError(f"lab(s) {', '.join(busy)} already running: the matrix needs them fresh and removes "
                          f"them after each cell (`labctl down {busy[0]}` first, or --filter those cells out)")


def run_matrix(matrix: Matrix, cells: list[Cell], jobs: int = 1, reporter: Reporter | None = None,
               engine: DockerEngine | None = None, stop: threading.Event | None = None,
               shard: tuple[int, int] | None = None, filters: list[str] | None = None,
               engines: list[DockerEngine] | None = None, durations: dict[str, float] | None = None) -> MatrixResult:
    """Run `cells` (already filtered/sharded), in parallel where labs allow, `jobs` at a time on each of
    `engines` (default: the one engine); results in cell order. `durations` (cell id -> seconds of an earlier
    run): the longest cells first."""
    from labctl.lab import connect

    reporter = reporter or QuietReporter()
    stop = stop or threading.Event()
    pool_engines = list(engines or [engine or connect()])
    started_at, began = time.time(), time.monotonic()
    results = {c.id: CellResult(c) for c in cells}
    if cells:
        for index, each in enumerate(pool_engines):
            check_labs_free(each, cells)
            # once per engine, before the workers race for it; a later engine copies what the first built
            each.ensure_images(lambda _kind, _message: None, sources=pool_engines[:index])
    ran_with = environment(pool_engines[0], matrix)
    if len(pool_engines) > 1:
        ran_with["engines"] = [e.name for e in pool_engines]
    ran_with["jobs_per_engine"] = jobs

    groups = exclusive_groups(cells)  # largest first
    cost = cost_of(durations) if durations else None
    left = CellQueue(groups, (lambda cell: cost(cell.id)) if cost else None)
    # per host: lab churn kept out of the measurements of every engine on that host
    gates = dict(zip((id(each) for each in pool_engines),
                     gates_by_host([each.host for each in pool_engines], jobs, len(groups)), strict=True))

    def worker(each: DockerEngine) -> None:
        while (taken := left.take(id(each))) is not None:
            index, cell = taken
            try:
                if stop.is_set():
                    for skipped in [cell, *left.drain()]:
                        results[skipped.id].status = "skipped"
                        results[skipped.id].mismatches = ["not run (interrupted)"]
                        reporter.finished(results[skipped.id])
                    continue
                reporter.started(cell)
                results[cell.id] = run_cell(each, cell, reporter, gates[id(each)])
                reporter.finished(results[cell.id])
            finally:
                left.done(id(each), index)

    slots = [each for each in pool_engines for _ in range(max(1, jobs))]
    slots = slots[:max(1, len(groups))] if len(pool_engines) == 1 else slots
    with ThreadPoolExecutor(max_workers=len(slots)) as pool:
        futures = [pool.submit(worker, each) for each in _interleave(slots, pool_engines)]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            stop.set()  # running cells finish and clean up; the rest are skipped
            for future in futures:
                future.result()
            raise
    return MatrixResult(matrix, [results[c.id] for c in cells], round(started_at, 3),
                        time.monotonic() - began, jobs, shard, list(filters or []), ran_with)


def _interleave(slots: list[DockerEngine], engines: list[DockerEngine]) -> list[DockerEngine]:
    """Workers in the order A, B, A, B...: the first groups (the largest) go to different engines."""
    per = {id(e): [s for s in slots if s is e] for e in engines}
    order: list[DockerEngine] = []
    while any(per.values()):
        for e in engines:
            if per[id(e)]:
                order.append(per[id(e)].pop())
    return order


def source_commit() -> str | None:
    """The git commit of the labctl that runs (a checkout), or None (a wheel)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (out.stdout.strip() + ("+dirty" if dirty else "")) if out.returncode == 0 else None


def environment(engine: DockerEngine, matrix: Matrix) -> dict[str, Any]:
    """What a report must record to be compared with another: versions, images, ESP mode, machine, timers."""
    from labctl import __version__

    images = {row.get("kind"): str(row.get("id") or "")[:19] for row in engine.image_status()}
    return {"labctl": __version__, "commit": source_commit(), "images": images,
            "esp": "kernel" if engine.kernel_has_esp() else "userspace (kernel-libipsec)", "cpus": os.cpu_count(),
            "python": platform.python_version(), "timers": {c.timers_name: dict(c.timers) for c in matrix.cells}}

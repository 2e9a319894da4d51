"""`labctl matrix`: run the failover matrix and write JUnit/JSON/HTML reports."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from labctl.cli.base import clean_errors, console, emit_json, err_console, main

if TYPE_CHECKING:  # the matrix package is imported lazily: `labctl --help` stays fast
    from labctl.matrix.run import CellResult

DEFAULT_MATRIX = "matrices/default.yaml"


class LiveReporter:
    """A live view on stderr: overall progress, the cells running now with their stage, the last results."""

    def __init__(self, total: int) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, tuple[float, str]] = {}
        self.done: list[tuple[str, str, float]] = []
        self.progress = Progress(TextColumn("[bold]matrix"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[summary]}"), TimeElapsedColumn(), console=err_console)
        self.task = self.progress.add_task("cells", total=total, summary="")
        self.counts = {"met": 0, "unmet": 0, "error": 0, "skipped": 0}
        self.live = Live(self.render(), console=err_console, refresh_per_second=4, transient=False,
                         redirect_stdout=False, redirect_stderr=False)

    def render(self) -> Group:
        table = Table(box=None, show_header=False, pad_edge=False)
        with self.lock:
            for cell_id, (since, stage) in self.running.items():
                table.add_row("[cyan]running[/]", cell_id, f"{time.monotonic() - since:4.0f}s", stage[:70])
            for cell_id, status, seconds in self.done[-6:]:
                color = {"met": "green", "unmet": "red", "error": "yellow"}.get(status, "dim")
                table.add_row(f"[{color}]{status}[/]", cell_id, f"{seconds:4.0f}s", "")
        return Group(self.progress, table)

    def started(self, cell) -> None:  # noqa: ANN001 - Cell, lazy import
        with self.lock:
            self.running[cell.id] = (time.monotonic(), "starting")
        self.live.update(self.render())

    def stage(self, cell, message: str) -> None:  # noqa: ANN001
        with self.lock:
            if cell.id in self.running:
                self.running[cell.id] = (self.running[cell.id][0], message)
        self.live.update(self.render())

    def finished(self, result) -> None:  # noqa: ANN001
        with self.lock:
            self.running.pop(result.cell.id, None)
            self.done.append((result.cell.id, result.status, result.seconds))
            self.counts[result.status] = self.counts.get(result.status, 0) + 1
            summary = " ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        self.progress.update(self.task, advance=1, summary=summary)
        if not err_console.is_terminal:
            err_console.print(f"{result.status:7} {result.cell.id} ({result.seconds:.0f}s)", highlight=False)
        self.live.update(self.render())


@main.command()
@click.argument("matrix_file", required=False, type=click.Path(dir_okay=False))
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 16),
              help="Cells to run at once per engine (only cells of different labs/subnets run together).")
@click.option("--engine", "engines", multiple=True, metavar="URL",
              help="Run cells on this engine (repeat for several: each gets --jobs workers; a topology runs one "
                   "cell at a time per engine). ssh://user@host[:port], tcp://, unix://, context:NAME "
                   "[default: LABCTL_ENGINE, DOCKER_HOST, the current context, the local socket].")
@click.option("--shard", metavar="I/N", help="Run only shard I of N (deterministic split for CI runners).")
@click.option("--filter", "filters", multiple=True, metavar="EXPR",
              help="Select cells: `key=glob` terms (topology, fault, mode, timers, sabotage, lab, expect, id) "
                   "joined by commas, or a glob/substring of the cell id. Repeat for OR.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Report directory "
              "[default: reports/matrix-NAME].")
@click.option("--durations", "durations_file", type=click.Path(dir_okay=False, exists=True), metavar="RESULTS",
              help="An earlier run's results.json: start the longest cells first (balances several engines).")
@click.option("--list", "list_only", is_flag=True, help="List the selected cells and exit (no labs).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@clean_errors
def matrix(matrix_file: str | None, jobs: int, engines: tuple[str, ...], shard: str | None, filters: tuple[str, ...],
           out_dir: str | None, durations_file: str | None, list_only: bool, as_json: bool) -> None:
    """Run the failover matrix: topology x fault x redundancy mode x timers, each cell a fresh lab.

    \b
    Every cell is judged against the expectation in the matrix file (known-bad variants must FAIL);
    the exit code is 0 only if every cell met it. Reports: junit.xml, results.json, report.html.
    \b
      labctl matrix matrices/quick.yaml                      # the CI subset (a few minutes)
      labctl matrix --jobs 2                                 # matrices/default.yaml, two labs at a time
      labctl matrix --filter topology=dual,mode=stateful --filter '*/no-*'
      labctl matrix --shard 2/4 --out reports/shard2         # one of four CI runners
      labctl matrix --engine ssh://ci@box1 --engine ssh://ci@box2 -j 2   # two engines, two labs each
      labctl matrix --engine A --engine B --durations reports/last/results.json  # longest cells first
      labctl report merge reports/shard* --out reports/all   # shards' reports -> one
    """
    from labctl.lab import connect
    from labctl.matrix import model, report, run

    path = Path(matrix_file or DEFAULT_MATRIX)
    loaded = model.load_matrix(path)
    cells = model.filter_cells(loaded.cells, list(filters))
    shard_spec = model.parse_shard(shard) if shard else None
    if shard_spec:
        cells = model.shard_cells(cells, *shard_spec)
    if list_only:
        if as_json:
            emit_json([c.to_dict() for c in cells])
        else:
            for c in cells:
                console.print(f"{c.id:55} expect {c.expect.verdict}", highlight=False)
            console.print(f"{len(cells)} of {len(loaded.cells)} cells", highlight=False)
        return
    if not cells:
        from labctl.errors import LabctlError

        raise LabctlError(f"no cells selected from {path} ({len(loaded.cells)} cells; check --filter/--shard)")
    from labctl.errors import UsageError
    from labctl.matrix.schedule import durations

    try:
        known = durations(Path(durations_file)) if durations_file else None
    except ValueError as exc:
        raise UsageError(f"--durations: {exc}") from exc
    pool = [connect(url) for url in dict.fromkeys(engines)] if engines else [connect()]
    cpus = os.cpu_count() or 1
    if jobs > cpus and len(pool) == 1 and pool[0].url is None:
        err_console.print(f"[yellow]note:[/] --jobs {jobs} on {cpus} CPUs: failover timing will suffer")
    reporter = LiveReporter(len(cells))
    stop = threading.Event()
    with reporter.live:
        try:
            result = run.run_matrix(loaded, cells, jobs, reporter, stop=stop, shard=shard_spec,
                                    filters=list(filters), engines=pool, durations=known)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: running cells cleaned up, the rest skipped")
            sys.exit(130)
    out = Path(out_dir or f"reports/matrix-{loaded.name}")
    files = report.write_reports(result, out)
    if as_json:
        emit_json(report.to_json(result) | {"reports": {k: str(v) for k, v in files.items()}})
    else:
        console.print(summary_table(loaded.name, result.results))
        for r in result.results:
            for m in r.mismatches:
                console.print(f"[red]{r.cell.id}[/]: {m}", highlight=False)
        totals = result.totals()
        console.print(f"{'[green]PASSED' if result.passed else '[red]FAILED'}[/] {totals['met']}/{totals['cells']} "
                      f"cells met their expectation in {result.seconds:.0f}s — reports: {files['html']}, "
                      f"{files['junit']}, {files['json']}", highlight=False)
    if not result.passed:
        sys.exit(1)


def summary_table(name: str, results: list[CellResult]) -> Table:
    """One row per cell, readable in 80 columns: the whole cell id (folded, never cut), expected/got verdict,
    the IKE SA, the CHILD SA, the longest outage of any direction, seconds, the result."""
    table = Table(title=f"matrix {name}", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("cell", overflow="fold", min_width=24, ratio=1)
    table.add_column("want/got", no_wrap=True)
    table.add_column("IKE SA", no_wrap=True)
    table.add_column("child", no_wrap=True)
    table.add_column("gap ms", justify="right", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for r in results:
        v = r.verdict or {}
        color = {"met": "green", "unmet": "red", "error": "yellow"}.get(r.status, "dim")
        kept = v.get("ike_sa_preserved")
        gaps = (v.get("outage_ms") or {}).values()
        table.add_row(r.cell.id, f"{r.cell.expect.verdict}/{v.get('verdict', '-')}",
                      "-" if kept is None else ("kept" if kept else "new"), str(v.get("child_sa", "-")),
                      f"{max(gaps):.0f}" if gaps else "-", f"{r.seconds:.0f}",
                      f"[{color}]{r.status}[/]")
    return table

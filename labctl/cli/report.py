"""`labctl report merge DIR... --out DIR`: shards' matrix reports combined into one (CI runners)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labctl.cli.base import clean_errors, console, emit_json, main


@main.group()
def report() -> None:
    """Work with matrix reports (results.json, junit.xml, report.html)."""


@report.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Where the merged "
              "junit.xml, results.json and report.html go.")
@click.option("--json", "as_json", is_flag=True, help="Print the merged results as JSON.")
@clean_errors
def report_merge(shards: tuple[str, ...], out_dir: str, as_json: bool) -> None:
    """Merge the results.json of `labctl matrix --shard I/N` runs (report dirs or files) into one report,
    equal cell for cell to a whole run; exits 1 when a cell did not meet its expectation, like `matrix`.

    \b
      labctl report merge reports/shard1 reports/shard2 --out reports/all
    """
    from labctl.matrix import merge as merging
    from labctl.matrix import report as reporting

    result = merging.merge([merging.read_results(path) for path in shards])
    files = reporting.write_reports(result, Path(out_dir))
    totals = result.totals()
    if as_json:
        emit_json(reporting.to_json(result) | {"reports": {k: str(v) for k, v in files.items()}})
    else:
        console.print(f"{'[green]PASSED' if result.passed else '[red]FAILED'}[/] {totals['met']}/{totals['cells']} "
                      f"cells met their expectation ({len(shards)} shards) — reports: {files['html']}, "
                      f"{files['junit']}, {files['json']}", highlight=False)
    if not result.passed:
        sys.exit(1)

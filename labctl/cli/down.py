"""`labctl down LAB`: remove everything a lab made, found by label (works after a crash)."""

from __future__ import annotations

import time

import click

from labctl.cli.base import clean_errors, console, emit_json, main
from labctl.errors import UsageError


@main.command()
@click.argument("lab_or_topology", required=False)
@click.option("--all", "all_labs", is_flag=True, help="Remove every lab on the engine.")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
@clean_errors
def down(lab_or_topology: str | None, all_labs: bool, as_json: bool) -> None:
    """Remove every container, network and firewall rule of a lab (found by label; idempotent)."""
    from labctl.lab import connect, resolve_lab

    if bool(lab_or_topology) == all_labs:
        raise UsageError("give a LAB (or topology) or --all")
    engine = connect()
    names = sorted(engine.labs()) if all_labs else [resolve_lab(lab_or_topology or "")]
    results = []
    for lab in names:
        started = time.monotonic()
        removed = engine.down(lab)
        removed_s = round(time.monotonic() - started, 3)
        results.append({"lab": lab, "removed": removed, "seconds": removed_s})
        if not as_json:
            console.print(f"lab [bold]{lab}[/]: removed {removed['containers']} containers, {removed['networks']} "
                          f"networks, {removed['firewall_rules']} firewall rules in {removed_s:.2f}s")
            if removed.get("networks_left"):
                console.print(f"  {removed['networks_left']} network(s) left in place (a stale Docker endpoint; "
                              "`up` reuses it)")
    if as_json:
        emit_json(results if all_labs else results[0])
    elif all_labs and not names:
        console.print("no labs to remove")

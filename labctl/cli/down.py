"""`labctl down LAB`: remove everything a lab made, found by label (works after a crash)."""

from __future__ import annotations

import time

import click

from labctl.cli.base import clean_errors, console, emit_json, main


@main.command()
@click.argument("lab_or_topology")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
@clean_errors
def down(lab_or_topology: str, as_json: bool) -> None:
    """Remove every container, network and firewall rule of a lab (found by label; idempotent)."""
    from labctl.lab import connect, resolve_lab

    lab = resolve_lab(lab_or_topology)
    started = time.monotonic()
    removed = connect().down(lab)
    removed_s = round(time.monotonic() - started, 3)
    if as_json:
        emit_json({"lab": lab, "removed": removed, "seconds": removed_s})
    else:
        console.print(f"lab [bold]{lab}[/]: removed {removed['containers']} containers, {removed['networks']} "
                      f"networks, {removed['firewall_rules']} firewall rules in {removed_s:.2f}s")

"""`labctl logs LAB NODE`: the sidecar's events, charon's log, FRR's or FreeRADIUS's, optionally followed."""

from __future__ import annotations

import sys
import time

import click

from labctl.cli.base import clean_errors, main

SOURCES = {
    "node": None,  # the container's own output: the HSRP/SSO sidecar's event lines, init messages
    "charon": "/var/log/charon.log",
    "frr": "/var/log/frr/frr.log",
    "radius": "/var/log/freeradius/debug.log",
}


def parse_since(text: str | None) -> float | None:
    """`30s`, `5m`, `2h` ago, or a Unix time."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: give a duration like 30s, 5m, 2h or a Unix time") from None


@main.command()
@click.argument("lab_or_topology")
@click.argument("node")
@click.option("--source", type=click.Choice(sorted(SOURCES)), default="node", show_default=True,
              help="node = the container's output (the sidecar's events on a gateway); charon, frr, radius = "
                   "that daemon's log file.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--since", metavar="WHEN", help="Only lines newer than this (30s, 5m, 2h ago; container output only).")
@clean_errors
def logs(lab_or_topology: str, node: str, source: str, follow: bool, since: str | None) -> None:
    """Print a node's log: its HSRP/SSO events, or charon, FRR, FreeRADIUS (`labctl logs dual gw1 -f`)."""
    from labctl.lab import open_running

    handle = open_running(lab_or_topology).node(node)
    path = SOURCES[source]
    if path is None:
        chunks = handle.stream(since=parse_since(since), follow=follow)
    else:
        chunks = handle.stream(["tail", "-n", "+1", *(["-F"] if follow else []), path])
    try:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass

"""`labctl graph` (a picture of a topology) and `labctl watch` (a live view of a running lab)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from labctl.cli import _client, clean_errors, console, err_console, main


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg", "png"]), default="mermaid",
              show_default=True, help="Mermaid text (needs nothing), Graphviz source, or SVG/PNG (needs `dot`).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@clean_errors
def graph(topology: str, fmt: str, out_file: str | None) -> None:
    """Draw a topology: HA pair, peers, hosts, networks with subnets and VIPs, addresses, the tunnel."""
    from labctl import orchestrate
    from labctl.errors import LabctlError
    from labctl.graph import render_graph

    data = render_graph(orchestrate.load(topology, check_host=False), fmt)
    if out_file:
        Path(out_file).write_bytes(data)
        err_console.print(f"wrote {out_file} ({fmt})")
    elif fmt == "png" and sys.stdout.isatty():
        raise LabctlError("--format png writes binary: give --out FILE or redirect stdout")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@main.command()
@click.argument("lab_or_topology")
@click.option("--probe", "probe_rate", type=float, default=None, metavar="PPS",
              help="Also run the traffic probe at PPS both ways and show the current and longest gap.")
@click.option("--interval", default=0.5, show_default=True, help="Seconds between refreshes.")
@clean_errors
def watch(lab_or_topology: str, probe_rate: float | None, interval: float) -> None:
    """Live view of a running lab: HSRP state per group, role and redundancy per gateway, SAs — run
    `labctl fail LAB node-kill` in another terminal and watch the failover happen. Ctrl-C ends it."""
    from rich.live import Live

    from labctl import orchestrate
    from labctl.watch import Watcher

    client = _client()
    lab = orchestrate.resolve_lab(client, lab_or_topology)
    watcher = Watcher(client, lab, probe_rate)
    try:
        with Live(watcher.render(), console=console, refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(watcher.render())
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()

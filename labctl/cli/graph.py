"""`labctl graph`: a picture of a topology."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labctl.cli.base import clean_errors, err_console, main


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg", "png"]), default="mermaid",
              show_default=True, help="Mermaid text (needs nothing), Graphviz source, or SVG/PNG (needs `dot`).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@clean_errors
def graph(topology: str, fmt: str, out_file: str | None) -> None:
    """Draw a topology: HA pair, peers, hosts, networks with subnets and VIPs, addresses, the tunnel."""
    from labctl.errors import LabctlError
    from labctl.lab import load
    from labctl.render.graph import render_graph

    data = render_graph(load(topology), fmt)
    if out_file:
        Path(out_file).write_bytes(data)
        err_console.print(f"wrote {out_file} ({fmt})")
    elif fmt == "png" and sys.stdout.isatty():
        raise LabctlError("--format png writes binary: give --out FILE or redirect stdout")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()

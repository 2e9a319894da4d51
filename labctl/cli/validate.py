"""`labctl validate TOPOLOGY`: check a topology file without starting anything."""

from __future__ import annotations

import click

from labctl.cli.base import clean_errors, console, main


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
@clean_errors
def validate(topology: str) -> None:
    """Check a topology file (schema, addressing, overlap with this host's routes) without starting it."""
    from labctl.lab import load
    from labctl.lab.lifecycle import host_networks

    topo = load(topology, host_networks())
    console.print(f"{topology}: lab [bold]{topo.name}[/] is valid ({len(topo.node_names())} nodes, "
                  f"{len(topo.networks)} networks, {topo.redundancy})")

"""`labctl validate TOPOLOGY`: check a topology file without starting anything."""

from __future__ import annotations

import click

from labctl.cli.base import clean_errors, console, emit_json, err_console, main


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result (and any warnings) as JSON.")
@clean_errors
def validate(topology: str, as_json: bool) -> None:
    """Check a topology file (schema, addressing, overlap with this host's routes) without starting it;
    warnings (e.g. the guide's address-ordering rule) are printed but do not fail it."""
    from labctl.errors import LabctlError
    from labctl.lab.lifecycle import host_networks
    from labctl.model.loader import load_with_warnings
    from labctl.model.shipped import find_topology

    try:
        routes: list[str] | None = host_networks()  # the engine host's, asked through a helper container
    except LabctlError as exc:
        routes = None
        err_console.print(f"[yellow]note:[/] subnets not checked against the engine host's routes ({exc})",
                          highlight=False, soft_wrap=True)
    topo, warnings = load_with_warnings(find_topology(topology), routes)
    if as_json:
        emit_json({"topology": topology, "lab": topo.name, "valid": True, "warnings": warnings})
        return
    for warning in warnings:
        err_console.print(f"[yellow]{warning}[/]", highlight=False, soft_wrap=True)
    console.print(f"{topology}: lab [bold]{topo.name}[/] is valid ({len(topo.node_names())} nodes, "
                  f"{len(topo.networks)} networks, {topo.redundancy})" + (f", {len(warnings)} warning(s)"
                                                                         if warnings else ""))

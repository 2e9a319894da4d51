"""`labctl exec LAB NODE -- CMD`: run a command inside a lab node (its output and exit code are the command's)."""

from __future__ import annotations

import sys

import click

from labctl.cli.base import clean_errors, main


@main.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("lab_or_topology")
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@clean_errors
def exec_(lab_or_topology: str, node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in NODE and exit with its exit code (`labctl exec dual gw1 -- swanctl --list-sas`)."""
    from labctl.lab import open_running

    lab = open_running(lab_or_topology)
    if node not in {s.name for s in lab.states()}:
        from labctl.errors import LabctlError

        raise LabctlError(f"lab {lab.name} has no node {node}; nodes: {', '.join(s.name for s in lab.states())}")
    handle = lab.node(node)
    exec_id, output = handle.run(list(command))
    for chunk in output:
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
    sys.exit(handle.exit_code_of(exec_id))

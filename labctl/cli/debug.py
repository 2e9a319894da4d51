"""`labctl debug LAB NODE crypto ha|crypto ipsec ha|crypto isakmp ha|standby events|redundancy`: the node's
HA events in IOS debug form, from the sidecar's event lines or charon's log, optionally followed."""

from __future__ import annotations

import sys
import time

import click

from labctl.cli.base import clean_errors, main
from labctl.cli.logs import parse_since

_EPILOG = """\b
WHAT (IOS words; unique prefixes work, e.g. `stand ev`):
  standby events       HSRP state changes, interface tracking, VIPs (the sidecar's events)
  redundancy           RF state (ACTIVE, STANDBY HOT, ...), role, SSO bulk sync
  crypto ha            ha plugin segment activation/resync, RRI routes, charon restarts
  crypto isakmp ha     charon's ha plugin log: synced (PASSIVE) IKE SAs, segments, heartbeats
  crypto ipsec ha      charon's ha plugin log: synced CHILD SAs, segments, resync
"""


@main.command(epilog=_EPILOG)
@click.argument("lab_or_topology")
@click.argument("node")
@click.argument("what", nargs=-1, required=True)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option("--since", metavar="WHEN", help="Only events newer than this (30s, 5m, 2h ago or a Unix time).")
@clean_errors
def debug(lab_or_topology: str, node: str, what: tuple[str, ...], follow: bool, since: str | None) -> None:
    """Print a gateway's HA events as IOS `debug` output (e.g. `labctl debug dual gw1 standby events -f`)."""
    from labctl.lab import open_running
    from labctl.nodes import ios
    from labctl.views import debug as debug_view

    command = debug_view.parse_command(what)  # bad words fail before touching Docker
    when = parse_since(since)
    running = open_running(lab_or_topology)
    if node not in running.topo.ha.nodes:
        from labctl.errors import LabctlError

        raise LabctlError(f"{node} is not an HA gateway of lab {running.name} "
                          f"(debug shows HA events: {', '.join(running.topo.ha.nodes)})")
    handle = running.node(node)
    click.echo(f"{node}# debug {command}\n{debug_view.BANNER[command]}")
    if debug_view.SOURCE[command] == "charon":
        chunks = ios.charon_log(handle, follow)
        since_clock = time.strftime("%H:%M:%S", time.gmtime(when)) if when is not None else None
    else:
        chunks = ios.container_output(handle, when, follow)
        since_clock = None
    try:
        for line in debug_view.debug_lines(command, debug_view.lines_of(chunks), since_clock):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass

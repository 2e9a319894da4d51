"""`labctl show LAB NODE WHAT...`: IOS-format operator views (show standby, show crypto ...) from live state."""

from __future__ import annotations

import click

from labctl.cli.base import clean_errors, emit_json, main

_EPILOG = """\b
WHAT (IOS words; unique prefixes work, e.g. `cry isa sa act`):
  standby [brief]                      HSRP groups (gateways)
  redundancy [inter-device]            SSO scheme, sync link and how it is protected
  redundancy states                    my/peer RF state (ACTIVE, STANDBY HOT, ...)
  crypto isakmp sa [active|standby]    IKE SAs; STDBY = synced copy on the standby
  crypto ipsec sa [active|standby]     CHILD SAs: idents, SPIs, counters
  crypto session [active|standby]      sessions per peer
  crypto ha                            VIPs used by IKE/IPsec
  crypto isakmp sa detail              IKE SAs with algorithms, DH group, lifetime, capabilities
  crypto session detail                per peer: IKE SA (lifetime), CHILD SAs with SPIs and counters
  running-config                       the node's effective configuration in IOS form
  ip route                             the routing table (C, S, O; RRI routes as S), any node
  track                                interface tracking objects and the HSRP groups they decrement
"""


@main.command(epilog=_EPILOG)
@click.argument("lab_or_topology")
@click.argument("node")
@click.argument("what", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the same data as JSON.")
@clean_errors
def show(lab_or_topology: str, node: str, what: tuple[str, ...], as_json: bool) -> None:
    """Print an IOS `show` command of NODE, filled from the live daemons (e.g. `labctl show dual gw1 standby`)."""
    from labctl.lab import connect, resolve_lab
    from labctl.lab.inspect import collect
    from labctl.views import show as show_mod

    command, which = show_mod.parse_command(what)  # bad words fail before touching Docker
    lab = resolve_lab(lab_or_topology)
    live = collect(connect().lab(lab), node, command)
    data, text = show_mod.render(live, command, which)
    if as_json:
        emit_json({"lab": lab, "node": node, "command": f"show {command}" + (f" {which}" if which else ""),
                   "data": data})
    else:
        click.echo(f"{node}# show {command}" + (f" {which}" if which else ""))
        click.echo(text, nl=False)

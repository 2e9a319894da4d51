"""`labctl status [LAB]`: labs, or one lab's nodes, HSRP/redundancy state and live SAs."""

from __future__ import annotations

import click
from rich import box
from rich.table import Table

from labctl.cli.base import clean_errors, console, emit_json, main
from labctl.errors import UsageError


@main.command()
@click.argument("lab_or_topology", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print status as JSON.")
@click.option("--wide", is_flag=True, help="Full words in the table (needs about 100 columns).")
@clean_errors
def status(lab_or_topology: str | None, as_json: bool, wide: bool) -> None:
    """Show nodes, roles, HSRP/redundancy state and live SAs (all labs when LAB is omitted)."""
    from labctl.lab import connect, lab_status, resolve_lab

    engine = connect()
    if lab_or_topology is None:
        labs = engine.labs()
        if as_json:
            emit_json([{"lab": name, **info} for name, info in labs.items()])
            return
        table = Table("lab", "nodes", "topology", title="labs")
        for name, info in sorted(labs.items()):
            table.add_row(name, str(info["nodes"]), str(info["topology"]))
        console.print(table if labs else "no labs running")
        return
    lab = resolve_lab(lab_or_topology)
    data = lab_status(engine.lab(lab))
    if not data["nodes"]:
        raise UsageError(f"no lab named {lab} is running (`labctl status` lists labs)")
    if as_json:
        emit_json(data)
        return
    from labctl.views.show import STATUS_COLUMNS, STATUS_LEGEND, status_rows

    table = Table(*STATUS_COLUMNS, title=f"lab {lab}", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True)
    for row in status_rows(data, wide):
        table.add_row(*row)
    console.print(table)
    if not wide:
        console.print(STATUS_LEGEND, style="dim", highlight=False)
    if data.get("easyvpn_clients"):
        clients = Table("client", "user", "virtual IP", "state", "IKE SA (SPIs)", title="Easy VPN clients",
                        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        reasons = []
        for c in data["easyvpn_clients"]:
            if "error" in c:
                console.print(c["error"])
                continue
            sa = c.get("ike_sa") or {}
            spis = f"{sa.get('initiator_spi', '')[:8]}/{sa.get('responder_spi', '')[:8]}" if sa else "-"
            if c.get("kind") == "vpnc":  # vpnc lists no SAs: its process is the session
                spis = f"vpnc pid {c['pid']}" if c.get("pid") else "vpnc not running"
                spis += f", started {c.get('starts', 0)}x"
            state = c["state"] + (" (expected)" if c.get("expect_failure") else "")
            clients.add_row(c["name"], c["user"], c.get("virtual_ip") or "-", state, spis)
            if c.get("reason"):
                reasons.append(f"{c['name']}: {c['reason']}")
        console.print(clients)
        for line in reasons:  # below the table: a reason is a sentence, it would squeeze every column
            console.print(line, highlight=False, soft_wrap=True)

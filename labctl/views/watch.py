"""`labctl watch LAB`: a live terminal view that makes a failover visible as it happens — HSRP state per
group, role and redundancy state per gateway, SAs with their SPIs, the latest sidecar events and (with
--probe) the traffic gap right now and the longest one seen."""

from __future__ import annotations

import time
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

STATE_STYLE = {"Active": "bold green", "Standby": "yellow", "Speak": "cyan", "Listen": "dim", "Init": "red"}
REDUNDANCY_STYLE = {"ACTIVE": "bold green", "STANDBY HOT": "green", "STANDBY COLD": "yellow"}


def _sas(node: dict[str, Any]) -> str:
    ike = [f"{sa['name']}#{sa.get('uniqueid')} {sa.get('state')} {str(sa.get('initiator_spi'))[:8]}"
           for sa in node.get("ike_sas", [])]
    child = [f"{c['name']} {c.get('state')} {c.get('spi_in')}/{c.get('spi_out')}" for c in node.get("child_sas", [])
             if c.get("state") != "DELETED"]
    return "\n".join([*ike, *child]) or "-"


def node_table(status: dict[str, Any]) -> Table:
    """One row per gateway and peer (pure: from the `labctl status --json` document)."""
    table = Table("node", "role", "HSRP", "redundancy", "IKE / CHILD SAs (SPIs)", box=box.SIMPLE_HEAD,
                  title=f"lab {status['lab']}  {time.strftime('%H:%M:%S')}", title_justify="left")
    for node in status["nodes"]:
        if node["role"] not in ("ha-gateway", "peer"):
            continue
        if not node["running"]:
            table.add_row(node["name"], node["role"], Text(f"DOWN ({node['status']})", "bold red"), "-", "-")
            continue
        if node["role"] == "ha-gateway":
            hsrp = Text()
            for index, group in enumerate(node.get("hsrp") or []):
                if index:
                    hsrp.append("\n")
                hsrp.append(f"grp {group['group']} {group['network']}: ")
                hsrp.append(group["state"], STATE_STYLE.get(group["state"], ""))
                if group.get("owns_vip"):
                    hsrp.append(f" VIP {group['virtual_ip']}", "bold")
                hsrp.append(f" prio {group.get('effective_priority')}")
            redundancy = node.get("redundancy") or "-"
            role = f"{node.get('hsrp_role') or 'no sidecar'}"
            table.add_row(node["name"], role, hsrp or Text("no sidecar status", "red"),
                          Text(redundancy, REDUNDANCY_STYLE.get(redundancy, "")), _sas(node))
        else:
            table.add_row(node["name"], "peer", "", "", _sas(node))
    return table


def events_table(events: list[dict[str, Any]], limit: int = 8) -> Table:
    table = Table("time", "node", "event", box=None, title="latest events", title_justify="left")
    for event in sorted(events, key=lambda e: e["time"])[-limit:]:
        stamp = time.strftime("%H:%M:%S", time.localtime(event["time"])) + f".{int(event['time'] % 1 * 1000):03d}"
        table.add_row(stamp, event["node"], f"{event['kind']}: {event['detail']}")
    return table


def probe_line(progress: dict[str, dict[str, Any] | None] | None, longest_gap: float) -> tuple[Text, float]:
    """The probe's state right now and the longest gap seen at a refresh (returned, updated)."""
    if progress is None:
        return Text("probe off (--probe PPS to see the traffic gap)", "dim"), longest_gap
    line = Text("probe: ")
    for host, info in progress.items():
        if not info or info.get("last_arrival") is None:
            line.append(f"{host} nothing received yet  ", "yellow")
            continue
        gap = (info["now"] - info["last_arrival"]) * 1000
        longest_gap = max(longest_gap, gap)
        line.append(f"{host} received {info['received']} gap now ")
        line.append(f"{gap:.0f} ms  ", "bold red" if gap > 200 else "green")
    line.append(f"longest seen at a refresh {longest_gap:.0f} ms", "bold")
    return line, longest_gap


def frame(status: dict[str, Any], probe: Text, events: list[dict[str, Any]]) -> Group:
    return Group(node_table(status), probe, events_table(events))

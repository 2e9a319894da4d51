"""Reverse route injection: routes to the remote protected subnets exist on the Active node only.

Routes carry their own protocol number so they can be listed and flushed without touching
anything else (and redistributed by a routing daemon as `kernel` routes).
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterable

from labctl.sidecar.contract import RRI_PROTO, TUNNEL_DEVICE
from labctl.sidecar.policy import client_routes

__all__ = ["RRI_PROTO", "TUNNEL_DEVICE", "claim_lines", "client_routes", "end_handover", "hand_over", "inject",
           "installed", "sync", "withdraw"]
# Handover routes live in their own table, which zebra does not read (never announced by OSPF), consulted
# before the main table for what arrives on the interface they name.
HANDOVER_TABLE = "78"
HANDOVER_PREF = "90"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _route(prefix: str, device: str) -> list[str]:
    return ["route", "replace", prefix, "dev", device, "proto", RRI_PROTO, "metric", "50"]


def claim_lines(prefixes: Iterable[str], device: str = TUNNEL_DEVICE, handover: bool = False) -> list[str]:
    """The RRI routes (and the end of a running handover) as `ip -batch` lines for a takeover's VIP claim: in
    place before the claim's gratuitous ARP draws traffic, which otherwise arrived a few ms before `inject`
    ran (lost at the preempt back). Nothing when the tunnel device is missing (charon is not running)."""
    try:
        socket.if_nametoindex(device)  # this namespace's devices (/sys may show another's)
    except OSError:
        return []
    lines = [" ".join(_route(prefix, device)) for prefix in prefixes]
    if handover:
        lines += [f"rule del pref {HANDOVER_PREF}", f"route flush table {HANDOVER_TABLE}"]
    return lines


def inject(prefixes: list[str], device: str = TUNNEL_DEVICE, handover: bool = False) -> list[str]:
    """Install (or refresh) the RRI routes; returns those now present. `handover`: this node still hands over
    to the peer (it was Active moments ago): that ends once its own routes are in, for it forwards into its
    tunnel now. Without one, no process is spent on it: these routes are on the takeover's path."""
    for prefix in prefixes:
        _ip(*_route(prefix, device))
    if handover:
        end_handover()
    return installed()


def sync(prefixes: list[str], device: str = TUNNEL_DEVICE) -> list[str]:
    """Make the RRI routes exactly `prefixes` (`reverse-route remote-peer`: one /32 per connected client
    comes and goes with its IKE SA); returns those now present."""
    wanted = {p.removesuffix("/32") for p in prefixes}  # the kernel lists host routes without /32
    for stale in set(installed()) - wanted:
        _ip("route", "del", stale, "proto", RRI_PROTO)
    for prefix in wanted - set(installed()):
        _ip(*_route(prefix, device))
    return installed()


def withdraw() -> None:
    """Flush every RRI route (ours only: they carry RRI_PROTO)."""
    _ip("route", "flush", "proto", RRI_PROTO)


def installed() -> list[str]:
    """The RRI routes in the kernel (host routes listed without /32)."""
    out = _ip("-4", "route", "show", "proto", RRI_PROTO).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def hand_over(prefixes: list[str], via: str, ifname: str) -> None:
    """Make before break for routing: the node that stops being Active forwards what still arrives on `ifname`
    for the remote side (a router whose OSPF route, or a host whose ARP entry, has not moved yet) to the new
    Active at `via`, instead of dropping it once its RRI routes are gone. Its own SAs cannot carry it: the
    new Active continues their sequence numbers an interval ahead, so the peer would drop them as replays."""
    for prefix in prefixes:
        _ip("route", "replace", prefix, "via", via, "dev", ifname, "table", HANDOVER_TABLE)
    if f"lookup {HANDOVER_TABLE}" not in _ip("rule", "show", "pref", HANDOVER_PREF).stdout:
        _ip("rule", "add", "pref", HANDOVER_PREF, "iif", ifname, "lookup", HANDOVER_TABLE)


def end_handover() -> None:
    """Remove the handover routes and their rule (nothing to do when there are none)."""
    while _ip("rule", "del", "pref", HANDOVER_PREF).returncode == 0:
        pass
    _ip("route", "flush", "table", HANDOVER_TABLE)

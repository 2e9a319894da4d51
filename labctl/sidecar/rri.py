"""Reverse route injection: routes to the remote protected subnets exist on the Active node only.

Routes carry their own protocol number so they can be listed and flushed without touching
anything else (and redistributed by a routing daemon as `kernel` routes).
"""

from __future__ import annotations

import subprocess

RRI_PROTO = "77"
TUNNEL_DEVICE = "ipsec0"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def inject(prefixes: list[str], device: str = TUNNEL_DEVICE) -> list[str]:
    """Install (or refresh) the RRI routes; returns those now present."""
    for prefix in prefixes:
        _ip("route", "replace", prefix, "dev", device, "proto", RRI_PROTO, "metric", "50")
    return installed()


def sync(prefixes: list[str], device: str = TUNNEL_DEVICE) -> list[str]:
    """Make the RRI routes exactly `prefixes` (`reverse-route remote-peer`: one /32 per connected client
    comes and goes with its IKE SA); returns those now present."""
    wanted = {p.removesuffix("/32") for p in prefixes}  # the kernel lists host routes without /32
    for stale in set(installed()) - wanted:
        _ip("route", "del", stale, "proto", RRI_PROTO)
    for prefix in wanted - set(installed()):
        _ip("route", "replace", prefix, "dev", device, "proto", RRI_PROTO, "metric", "50")
    return installed()


def client_routes(sas: list[dict], states: tuple[str, ...] = ("ESTABLISHED",)) -> list[str]:
    """Host routes to the virtual IPs of remote-access clients (`remote_vips` of their IKE SAs)."""
    return sorted({vip.split("/")[0] for sa in sas if sa.get("state") in states
                   for vip in sa.get("remote_vips", []) if ":" not in vip})


def withdraw() -> None:
    _ip("route", "flush", "proto", RRI_PROTO)


def installed() -> list[str]:
    out = _ip("-4", "route", "show", "proto", RRI_PROTO).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]

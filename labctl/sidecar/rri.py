"""Reverse route injection: routes to the remote protected subnets exist on the Active node only.

Routes carry their own protocol number so they can be listed and flushed without touching
anything else (and redistributed by a routing daemon as `kernel` routes).
"""

from __future__ import annotations

import subprocess

from labctl.sidecar.contract import RRI_PROTO, TUNNEL_DEVICE
from labctl.sidecar.policy import client_routes

__all__ = ["RRI_PROTO", "TUNNEL_DEVICE", "client_routes", "inject", "installed", "sync", "withdraw"]


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


def withdraw() -> None:
    """Flush every RRI route (ours only: they carry RRI_PROTO)."""
    _ip("route", "flush", "proto", RRI_PROTO)


def installed() -> list[str]:
    """The RRI routes in the kernel (host routes listed without /32)."""
    out = _ip("-4", "route", "show", "proto", RRI_PROTO).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]

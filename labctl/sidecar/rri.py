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


def withdraw() -> None:
    _ip("route", "flush", "proto", RRI_PROTO)


def installed() -> list[str]:
    out = _ip("-4", "route", "show", "proto", RRI_PROTO).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]

"""An HA gateway as its HSRP/SSO sidecar and its kernel report it."""

from __future__ import annotations

import json
from typing import Any

from labctl.runtime import NodeHandle
from labctl.sidecar.contract import RRI_PROTO, STATUS_PATH

STALE_AFTER = 3.0  # the sidecar rewrites its status every 50 ms; older means it is not running


def sidecar_status(node: NodeHandle) -> dict[str, Any] | None:
    """The sidecar's own view (HSRP, redundancy, events); None when absent or stale."""
    code, out = node.exec(["sh", "-c", f"cat {STATUS_PATH} && echo && date +%s.%N"])
    if code != 0:
        return None
    body, _, now = out.rstrip().rpartition("\n")
    try:
        status = json.loads(body)
        age = float(now) - float(status.get("time", 0))
    except ValueError:
        return None
    return status if age < STALE_AFTER else None


def is_active(node: NodeHandle) -> bool:
    status = sidecar_status(node)
    return bool(status) and status.get("role") == "active"


def rri_routes(node: NodeHandle) -> list[str]:
    """Routes the sidecar injected, read from the kernel, not from the sidecar's word."""
    code, out = node.exec(["ip", "-4", "route", "show", "proto", RRI_PROTO])
    return [line.split()[0] for line in out.splitlines() if line.strip()] if code == 0 else []


def interfaces_text(node: NodeHandle) -> str:
    """`ip -o -4 addr` and `ip -o link` of the node (for the IOS `show` layouts)."""
    code, out = node.exec(["sh", "-c", "ip -o -4 addr show; ip -o link show"])
    return out if code == 0 else ""

"""charon as any strongSwan node reports it: live SAs from vici, its log file."""

from __future__ import annotations

from typing import Any

from labctl.runtime import NodeHandle
from labctl.sidecar.contract import CHARON_LOG
from labctl.sidecar.swanctl import ike_sas_from_text


def sas(node: NodeHandle) -> list[dict[str, Any]]:
    """IKE SAs (with CHILD SAs) as charon in the node reports them right now; empty when it does not answer."""
    code, out = node.exec(["swanctl", "--list-sas", "--pretty"], timeout=3)
    return ike_sas_from_text(out) if code == 0 else []


def answering(node: NodeHandle) -> bool:
    return node.exec(["swanctl", "--stats"], timeout=3)[0] == 0


def stats(node: NodeHandle) -> str:
    code, out = node.exec(["swanctl", "--stats"])
    return out if code == 0 else ""


def log_size(node: NodeHandle) -> int:
    """Where the charon log ends now (a later `log_since` reads only what came after)."""
    code, out = node.exec(["stat", "-c", "%s", CHARON_LOG])
    return int(out.strip()) if code == 0 and out.strip().isdigit() else 0


def log_since(node: NodeHandle, offset: int) -> str:
    code, out = node.exec(["tail", "-c", f"+{offset + 1}", CHARON_LOG])
    return out if code == 0 else ""


def log_tail(node: NodeHandle, size: int) -> str:
    code, out = node.exec(["tail", "-c", str(size), CHARON_LOG], timeout=3)
    return out if code == 0 else ""


def rekey_child(node: NodeHandle, child: str) -> tuple[bool, str]:
    """Ask charon to rekey the CHILD_SA(s) named `child` (`swanctl --rekey --child`): charon queues the
    exchange and answers at once; (accepted, swanctl's output)."""
    code, out = node.exec(["swanctl", "--rekey", "--child", child], timeout=5)
    return code == 0, out.strip()

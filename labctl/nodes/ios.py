"""What the IOS-style verbs (`show ip route`, `clear crypto ...`, `debug ...`) run inside a node."""

from __future__ import annotations

from collections.abc import Iterator

from labctl.runtime import NodeHandle
from labctl.sidecar.contract import CHARON_LOG


def routes_text(node: NodeHandle) -> str:
    """`ip -4 route show` (the main table: connected, static, RRI proto 77, FRR's OSPF routes)."""
    code, out = node.exec(["ip", "-4", "route", "show"])
    return out if code == 0 else ""


def terminate_ike(node: NodeHandle, unique_id: str, force: bool = False) -> tuple[int, str]:
    """`swanctl --terminate --ike-id N` (an ESTABLISHED SA: charon sends the peer a DELETE first);
    `force` does not wait for the peer (and is what a PASSIVE copy, which is destroyed locally, needs)."""
    cmd = ["swanctl", "--terminate", "--ike-id", str(unique_id), "--timeout", "5"]
    return node.exec([*cmd, "--force"] if force else cmd, timeout=10)


def terminate_child(node: NodeHandle, unique_id: str) -> tuple[int, str]:
    """`swanctl --terminate --child-id N`: charon deletes the CHILD_SA and tells the peer."""
    return node.exec(["swanctl", "--terminate", "--child-id", str(unique_id), "--timeout", "5"], timeout=10)


def container_output(node: NodeHandle, since: float | None, follow: bool) -> Iterator[bytes]:
    """The container's own output (the sidecar's event lines, Docker-timestamped)."""
    return node.stream(since=since, follow=follow)


def charon_log(node: NodeHandle, follow: bool) -> Iterator[bytes]:
    """charon's log file from its start, then (follow) what it writes next."""
    return node.stream(["tail", "-n", "+1", *(["-F"] if follow else []), CHARON_LOG])

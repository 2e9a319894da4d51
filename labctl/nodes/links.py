"""What faults run inside a node: its interfaces, `ip link` up/down, the fault nftables table, netem
qdiscs, and the kill -9 of charon or the sidecar. Thin commands returning plain data; the fault logic
(what to break, how to find it again) stays in `labctl.experiment.faults`."""

from __future__ import annotations

import json
from typing import Any

from labctl.errors import LabctlError
from labctl.runtime import NodeHandle

NFT_TABLE = "labctl_fault"  # every fault rule lives in this table, so listing and removing it is exact
NFT_SETUP = (f"add table inet {NFT_TABLE}",
             f"add chain inet {NFT_TABLE} ingress {{ type filter hook prerouting priority -300; }}",
             f"add chain inet {NFT_TABLE} egress {{ type filter hook postrouting priority 300; }}")


def sh(node: NodeHandle, script: str, what: str) -> str:
    """Run a shell snippet; a failure is a clean error naming what was attempted and where."""
    code, out = node.exec(["sh", "-c", script])
    if code != 0:
        raise LabctlError(f"{what} on {node.name} failed: {out.strip()}")
    return out


def interfaces(node: NodeHandle) -> list[dict[str, Any]] | None:
    """`ip -j -4 addr` of the node (ifname, flags, addr_info); None when it cannot be read."""
    code, out = node.exec(["ip", "-j", "-4", "addr"])
    if code != 0:
        return None
    try:
        return list(json.loads(out))
    except ValueError:
        return None


def interface_with(node: NodeHandle, address: str, network: str) -> str:
    """The interface holding `address` (interface names do not follow the order networks were connected)."""
    code, out = node.exec(["ip", "-j", "-4", "addr"])
    if code != 0:
        raise LabctlError(f"cannot list interfaces of {node.name}: {out.strip()}")
    for link in json.loads(out):
        if any(a.get("local") == address for a in link.get("addr_info", [])):
            return str(link["ifname"])
    raise LabctlError(f"node {node.name} has no interface with {address} ({network})")


def set_link(node: NodeHandle, ifname: str, up: bool) -> None:
    state = "up" if up else "down"
    sh(node, f"ip link set {ifname} {state}", f"link {state}")


def nft(node: NodeHandle, what: str, *commands: str) -> None:
    """Create the fault table (idempotent) and run nft commands, one argv each (no shell: rules contain
    `<`, braces, quotes)."""
    for command in (*NFT_SETUP, *commands):
        code, out = node.exec(["nft", command])
        if code != 0:
            raise LabctlError(f"{what} on {node.name} failed: nft {command}: {out.strip()}")


def nft_table(node: NodeHandle, handles: bool = False) -> str | None:
    """The fault table as `nft list` prints it (with rule handles if asked); None when it does not exist."""
    code, out = node.exec(["nft", *(["-a"] if handles else []), "list", "table", "inet", NFT_TABLE])
    return out if code == 0 else None


def nft_delete_rule(node: NodeHandle, chain: str, handle: str) -> None:
    node.exec(["nft", "delete", "rule", "inet", NFT_TABLE, chain, "handle", handle])


def nft_delete_table(node: NodeHandle) -> None:
    node.exec(["nft", "delete", "table", "inet", NFT_TABLE])


def qdisc(node: NodeHandle, ifname: str) -> str | None:
    """`tc qdisc show dev IFNAME`; None when it cannot be read."""
    code, out = node.exec(["tc", "qdisc", "show", "dev", ifname])
    return out if code == 0 else None


def add_netem_loss(node: NodeHandle, ifname: str, percent: int) -> bool:
    """Random loss by netem; False when the kernel has no netem (the caller falls back to nftables)."""
    code, _ = node.exec(["tc", "qdisc", "add", "dev", ifname, "root", "netem", "loss", f"{percent}%"])
    return code == 0


def delete_root_qdisc(node: NodeHandle, ifname: str) -> None:
    node.exec(["tc", "qdisc", "del", "dev", ifname, "root"])


def charon_pids(node: NodeHandle) -> list[str]:
    return sh(node, "pgrep -x charon || true", "charon lookup").split()


def kill_charon(node: NodeHandle) -> None:
    sh(node, "pkill -9 -x charon", "charon crash")


def kill_sidecar(node: NodeHandle) -> None:
    sh(node, "pkill -9 -f 'labctl[.]sidecar'", "sidecar crash")

"""Faults a lab can suffer, each with `inject()` and `undo()`.

Which faults are active is read from the live lab, never from a file on the host: a stopped container
(node-kill: exit code 137, node-stop otherwise), an interface set down, the `labctl_fault` nftables
table inside a node (packet loss, sync partition). So `labctl fail LAB --list`, `--undo` and `recover`
work from any shell, and `labctl down` (which removes the containers) leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import docker

from labctl.errors import LabctlError
from labctl.model.topology import Topology
from labctl.orchestrate import active_gateway
from labctl.runtime.docker import lab as runtime

NFT_TABLE = "labctl_fault"
LINKS = ("outside", "inside", "sync")


@dataclass(frozen=True)
class ActiveFault:
    """A fault found in the live lab."""

    fault: str
    node: str
    link: str | None = None
    percent: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def link_network(topo: Topology, link: str) -> str:
    """`outside|inside|sync` -> the lab network name (crypto interface, the other HSRP LAN, sync)."""
    if link == "sync":
        return topo.ha.sync_network
    crypto = topo.crypto_interface.network
    if link == "outside":
        return crypto
    if link == "inside":
        others = [i.network for i in topo.ha.interfaces if i.network != crypto]
        if others:
            return others[0]
        raise LabctlError(f"lab {topo.name} has no inside HSRP interface")
    if link in topo.networks:
        return link
    raise LabctlError(f"unknown link {link!r}: choose from {', '.join(LINKS)} or a network of the lab")


def interface_for(client: docker.DockerClient, topo: Topology, node: str, network: str) -> str:
    """The interface of `node` holding its address on `network` (names do not follow connect order)."""
    address = str(topo.addresses_of(node).get(network, ""))
    if not address:
        raise LabctlError(f"node {node} has no interface on {network}")
    code, out = runtime.exec_in(client, topo.name, node, ["ip", "-j", "-4", "addr"])
    if code != 0:
        raise LabctlError(f"cannot list interfaces of {node}: {out.strip()}")
    for link in json.loads(out):
        if any(a.get("local") == address for a in link.get("addr_info", [])):
            return str(link["ifname"])
    raise LabctlError(f"node {node} has no interface with {address} ({network})")


def _sh(client: docker.DockerClient, topo: Topology, node: str, script: str, what: str) -> str:
    code, out = runtime.exec_in(client, topo.name, node, ["sh", "-c", script])
    if code != 0:
        raise LabctlError(f"{what} on {node} failed: {out.strip()}")
    return out


class Fault:
    """One fault: `inject()` breaks, `undo()` repairs (idempotent)."""

    name: ClassVar[str]
    help: ClassVar[str]
    uses_link: ClassVar[bool] = False
    uses_percent: ClassVar[bool] = False
    instant: ClassVar[bool] = False  # over once injected (a crash the sidecar recovers from)
    moves_active: ClassVar[bool] = True  # the fault on the active should make the other node active

    def __init__(self, client: docker.DockerClient, topo: Topology, node: str, link: str | None = None,
                 percent: int | None = None) -> None:
        self.client, self.topo, self.node, self.link, self.percent = client, topo, node, link, percent

    def inject(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        """Most faults repair themselves or need nothing: the default does nothing."""

    def describe(self) -> str:
        extra = f" link {self.link}" if self.link else ""
        extra += f" {self.percent}%" if self.percent is not None else ""
        return f"{self.name} on {self.node}{extra}"


class NodeKill(Fault):
    name, help = "node-kill", "SIGKILL the node's container (power cut); undo starts it again"

    def inject(self) -> None:
        runtime.kill_node(self.client, self.topo.name, self.node, "SIGKILL")

    def undo(self) -> None:
        runtime.start_node(self.client, self.topo.name, self.node)


class NodeStop(NodeKill):
    name, help = "node-stop", "graceful stop (SIGTERM: the sidecar resigns from HSRP); undo starts it again"

    def inject(self) -> None:
        runtime.stop_node(self.client, self.topo.name, self.node)


class LinkDown(Fault):
    name, help = "link-down", "set the node's interface on --link down (interface tracking sees it)"
    uses_link = True

    def interface(self) -> str:
        return interface_for(self.client, self.topo, self.node, link_network(self.topo, self.link or "outside"))

    def inject(self) -> None:
        _sh(self.client, self.topo, self.node, f"ip link set {self.interface()} down", "link down")

    def undo(self) -> None:
        _sh(self.client, self.topo, self.node, f"ip link set {self.interface()} up", "link up")


class LinkUp(LinkDown):
    name, help = "link-up", "set the node's interface on --link up again (the undo of link-down)"
    moves_active = False

    def inject(self) -> None:
        LinkDown.undo(self)

    def undo(self) -> None:
        LinkDown.inject(self)


def _nft_remove(client: docker.DockerClient, topo: Topology, node: str, comment: str) -> None:
    """Delete the rules carrying `comment` from the fault table; the table goes when it is empty."""
    code, out = runtime.exec_in(client, topo.name, node, ["nft", "-a", "list", "table", "inet", NFT_TABLE])
    if code != 0:
        return
    chain = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("chain "):
            chain = line.split()[1]
        match = re.search(r"# handle (\d+)$", line)
        if chain and match and f'comment "{comment}"' in line:
            runtime.exec_in(client, topo.name, node,
                            ["nft", "delete", "rule", "inet", NFT_TABLE, chain, "handle", match.group(1)])
    _, out = runtime.exec_in(client, topo.name, node, ["nft", "list", "table", "inet", NFT_TABLE])
    if "comment" not in out:
        runtime.exec_in(client, topo.name, node, ["nft", "delete", "table", "inet", NFT_TABLE])


NFT_SETUP = (f"add table inet {NFT_TABLE}",
             f"add chain inet {NFT_TABLE} ingress {{ type filter hook prerouting priority -300; }}",
             f"add chain inet {NFT_TABLE} egress {{ type filter hook postrouting priority 300; }}")


def _nft(client: docker.DockerClient, topo: Topology, node: str, what: str, *commands: str) -> None:
    """Run nft commands in the node, one argv each (no shell: rules contain `<`, braces, quotes)."""
    for command in (*NFT_SETUP, *commands):
        code, out = runtime.exec_in(client, topo.name, node, ["nft", command])
        if code != 0:
            raise LabctlError(f"{what} on {node} failed: nft {command}: {out.strip()}")


class SyncPartition(Fault):
    """Cut the sync link without taking the interface down: HSRP on the data LANs keeps running."""

    name, help = "sync-partition", "drop everything on the node's sync link (nftables; the interface stays up)"
    moves_active = False

    def inject(self) -> None:
        ifname = interface_for(self.client, self.topo, self.node, self.topo.ha.sync_network)
        _nft(self.client, self.topo, self.node, "sync partition",
             f'add rule inet {NFT_TABLE} ingress iifname "{ifname}" drop comment "sync-partition"',
             f'add rule inet {NFT_TABLE} egress oifname "{ifname}" drop comment "sync-partition"')

    def undo(self) -> None:
        _nft_remove(self.client, self.topo, self.node, "sync-partition")


class Loss(Fault):
    """Random loss both ways on a link: netem where the kernel has it, nftables `numgen random` here."""

    name, help = "loss", "drop --percent P % of the packets on --link, both directions (netem or nftables)"
    uses_link = True
    uses_percent = True
    moves_active = False

    def comment(self) -> str:
        return f"loss-{self.link or 'outside'}-{self.percent}"

    def inject(self) -> None:
        ifname = interface_for(self.client, self.topo, self.node, link_network(self.topo, self.link or "outside"))
        self.undo()
        netem = runtime.exec_in(self.client, self.topo.name, self.node,
                                ["tc", "qdisc", "add", "dev", ifname, "root", "netem", "loss", f"{self.percent}%"])
        if netem[0] == 0:
            return
        drop = f'numgen random mod 100 < {self.percent} drop comment "{self.comment()}"'
        _nft(self.client, self.topo, self.node, "packet loss",
             f'add rule inet {NFT_TABLE} ingress iifname "{ifname}" {drop}',
             f'add rule inet {NFT_TABLE} egress oifname "{ifname}" {drop}')

    def undo(self) -> None:
        ifname = interface_for(self.client, self.topo, self.node, link_network(self.topo, self.link or "outside"))
        code, out = runtime.exec_in(self.client, self.topo.name, self.node, ["tc", "qdisc", "show", "dev", ifname])
        if code == 0 and "netem" in out:
            runtime.exec_in(self.client, self.topo.name, self.node, ["tc", "qdisc", "del", "dev", ifname, "root"])
        _, out = runtime.exec_in(self.client, self.topo.name, self.node, ["nft", "list", "table", "inet", NFT_TABLE])
        for comment in set(re.findall(r'comment "(loss-[a-z0-9-]+?-\d+)"', out)):
            if comment.startswith(f"loss-{self.link or 'outside'}-"):
                _nft_remove(self.client, self.topo, self.node, comment)


class CharonCrash(Fault):
    name, help = "charon-crash", "kill -9 charon (the sidecar leaves HSRP, restarts charon, rejoins as standby)"
    instant = True

    def inject(self) -> None:
        _sh(self.client, self.topo, self.node, "pkill -9 -x charon", "charon crash")


class SidecarCrash(Fault):
    name, help = "sidecar-crash", "kill -9 the HSRP/SSO sidecar (init restarts it; it reloads charon, rejoins)"
    instant = True

    def inject(self) -> None:
        """Kill, then wait for the consequence: the restarted sidecar reloads charon. Until then the old
        charon still carries traffic, and a verdict taken meanwhile would judge nothing."""
        before = _sh(self.client, self.topo, self.node, "pgrep -x charon || true", "charon lookup").split()
        _sh(self.client, self.topo, self.node, "pkill -9 -f 'labctl[.]sidecar'", "sidecar crash")
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            now = _sh(self.client, self.topo, self.node, "pgrep -x charon || true", "charon lookup").split()
            if now and not set(now) & set(before):
                return
            time.sleep(0.1)
        raise LabctlError(f"sidecar-crash on {self.node}: the restarted sidecar did not reload charon in 15 s")


class Recover(Fault):
    """Undo every active fault of the lab, then wait until it is whole again (preempt included)."""

    name, help = "recover", "undo every active fault (node back, links back, rules gone), wait for preempt"
    moves_active = False

    def inject(self) -> None:
        for found in list_faults(self.client, self.topo):
            make_fault(self.client, self.topo, found.fault, found.node, found.link, found.percent).undo()
        wait_whole(self.client, self.topo)

    def describe(self) -> str:
        return "recover (undo every fault, preempt back)"


FAULTS: dict[str, type[Fault]] = {cls.name: cls for cls in (
    NodeKill, NodeStop, LinkDown, LinkUp, SyncPartition, Loss, CharonCrash, SidecarCrash, Recover)}


def validate_args(topo: Topology, fault: str, node: str | None, link: str | None,
                  percent: int | None) -> tuple[str | None, str | None, int | None]:
    """Check a fault's arguments against the lab; returns (node, link, percent) with defaults filled in
    except the node (None = the active gateway, resolved at injection time)."""
    if fault not in FAULTS:
        raise LabctlError(f"unknown fault {fault!r}: choose from {', '.join(FAULTS)}")
    cls = FAULTS[fault]
    if node is not None and node not in topo.node_names():
        raise LabctlError(f"lab {topo.name} has no node {node!r} (nodes: {', '.join(topo.node_names())})")
    if node is not None and fault in ("charon-crash", "sidecar-crash", "sync-partition") \
            and node not in topo.ha.nodes:
        raise LabctlError(f"{fault} needs an HA gateway node ({', '.join(topo.ha.nodes)}), not {node}")
    if link is not None and not cls.uses_link:
        raise LabctlError(f"{fault} takes no --link")
    if percent is not None and not cls.uses_percent:
        raise LabctlError(f"{fault} takes no --percent")
    if cls.uses_link:
        link = link or "outside"
        link_network(topo, link)
    if cls.uses_percent:
        if percent is None:
            raise LabctlError(f"{fault} needs --percent (1-100)")
        if not 1 <= percent <= 100:
            raise LabctlError(f"--percent must be between 1 and 100, got {percent}")
    return node, link, percent


def make_fault(client: docker.DockerClient, topo: Topology, fault: str, node: str | None = None,
               link: str | None = None, percent: int | None = None) -> Fault:
    """A ready-to-inject fault; the node defaults to the HSRP Active gateway."""
    node, link, percent = validate_args(topo, fault, node, link, percent)
    if node is None:
        node = active_gateway(client, topo) if fault != "recover" else next(iter(topo.ha.nodes))
        if node is None:
            raise LabctlError(f"lab {topo.name} has no HSRP Active gateway right now: name one with --node")
    return FAULTS[fault](client, topo, node, link, percent)


def inject(client: docker.DockerClient, topo: Topology, fault: str, node: str | None = None,
           link: str | None = None, percent: int | None = None) -> Fault:
    """Python entry point of `labctl fail`."""
    chosen = make_fault(client, topo, fault, node, link, percent)
    chosen.inject()
    return chosen


def undo(client: docker.DockerClient, topo: Topology, fault: str, node: str | None = None,
         link: str | None = None, percent: int | None = None) -> list[Fault]:
    """`labctl fail LAB FAULT --undo`: repair that fault (on `node`, or wherever it is active)."""
    validate_args(topo, fault, node, link, 1 if FAULTS[fault].uses_percent else None)
    found = [f for f in list_faults(client, topo) if f.fault == fault and node in (None, f.node)
             and (link is None or f.link == link)]
    if not found and node is not None:
        found = [ActiveFault(fault, node, link or ("outside" if FAULTS[fault].uses_link else None), percent)]
    repaired = []
    for item in found:
        chosen = FAULTS[fault](client, topo, item.node, item.link, item.percent)
        chosen.undo()
        repaired.append(chosen)
    return repaired


def list_faults(client: docker.DockerClient, topo: Topology) -> list[ActiveFault]:
    """Faults active in the live lab, read from Docker and from inside the nodes."""
    found: list[ActiveFault] = []
    links = {link_network(topo, link): link for link in LINKS if link != "inside" or len(topo.ha.interfaces) > 1}
    for node in topo.node_names():
        try:
            status, exit_code = runtime.node_exit(client, topo.name, node)
        except LabctlError:
            continue
        if status != "running":
            found.append(ActiveFault("node-kill" if exit_code == 137 else "node-stop", node))
            continue
        code, out = runtime.exec_in(client, topo.name, node, ["ip", "-j", "-4", "addr"])
        by_ifname: dict[str, str] = {}
        if code == 0:
            addresses = {str(a): net for net, a in topo.addresses_of(node).items()}
            for link in json.loads(out):
                for info in link.get("addr_info", []):
                    network = addresses.get(info.get("local", ""))
                    if network:
                        by_ifname[link["ifname"]] = network
                        if "UP" not in link.get("flags", []):
                            found.append(ActiveFault("link-down", node, links.get(network, network)))
        code, out = runtime.exec_in(client, topo.name, node, ["nft", "list", "table", "inet", NFT_TABLE])
        if code == 0:
            if 'comment "sync-partition"' in out:
                found.append(ActiveFault("sync-partition", node))
            for link, percent in set(re.findall(r'comment "loss-([a-z0-9-]+?)-(\d+)"', out)):
                found.append(ActiveFault("loss", node, link, int(percent)))
        for ifname, network in by_ifname.items():
            code, out = runtime.exec_in(client, topo.name, node, ["tc", "qdisc", "show", "dev", ifname])
            match = re.search(r"netem .*loss (\d+)%", out) if code == 0 else None
            if match:
                found.append(ActiveFault("loss", node, links.get(network, network), int(match.group(1))))
    return found


def preferred_gateway(topo: Topology) -> str:
    """The gateway that is Active in a whole lab with preempt: the highest HSRP priority."""
    return max(topo.ha.nodes, key=lambda n: topo.ha.nodes[n].priority)


def wait_whole(client: docker.DockerClient, topo: Topology, timeout: float | None = None) -> None:
    """Wait until the lab is as `up` left it: every node running, tunnel passing traffic, standby hot,
    and (with preempt) the highest-priority gateway Active again."""
    from labctl.orchestrate import wait_ready

    timeout = timeout or max(60.0, topo.failover.converge_timeout / 1000 * 2)
    started = time.monotonic()
    deadline = started + timeout
    wait_ready(client, topo, deadline, lambda _m: None, {}, started)
    if topo.ha.hsrp.preempt:
        preferred = preferred_gateway(topo)
        if active_gateway(client, topo) == preferred:
            return
        while active_gateway(client, topo) != preferred:
            if time.monotonic() > deadline:
                raise LabctlError(f"lab {topo.name}: {preferred} did not preempt back to Active in {timeout:.0f}s")
            time.sleep(0.1)
        wait_ready(client, topo, deadline, lambda _m: None, {}, started)  # the preempt moved the SAs again

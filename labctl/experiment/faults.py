"""Faults a lab can suffer, each with `inject()` and `undo()`.

Which faults are active is read from the live lab, never from a file on the host: a stopped container
(node-kill: exit code 137, node-stop otherwise), an interface set down, the `labctl_fault` nftables
table inside a node (packet loss, sync partition). So `labctl fail LAB --list`, `--undo` and `recover`
work from any shell, and `labctl down` (which removes the containers) leaves nothing behind.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from labctl.errors import LabctlError
from labctl.lab import RunningLab, wait_ready
from labctl.model.helpers import preferred_gateway
from labctl.model.topology import Topology
from labctl.nodes import links
from labctl.nodes.links import NFT_TABLE
from labctl.runtime import NodeHandle

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


def interface_for(lab: RunningLab, node: str, network: str) -> str:
    """The interface of `node` holding its address on `network` (names do not follow connect order)."""
    address = str(lab.topo.addresses_of(node).get(network, ""))
    if not address:
        raise LabctlError(f"node {node} has no interface on {network}")
    return links.interface_with(lab.node(node), address, network)


class Fault:
    """One fault: `inject()` breaks, `undo()` repairs (idempotent)."""

    name: ClassVar[str]
    help: ClassVar[str]
    uses_link: ClassVar[bool] = False
    uses_percent: ClassVar[bool] = False
    instant: ClassVar[bool] = False  # over once injected (a crash the sidecar recovers from)
    moves_active: ClassVar[bool] = True  # the fault on the active should make the other node active

    def __init__(self, lab: RunningLab, node: str, link: str | None = None, percent: int | None = None) -> None:
        self.lab, self.node, self.link, self.percent = lab, node, link, percent

    @property
    def topo(self) -> Topology:
        return self.lab.topo

    @property
    def handle(self) -> NodeHandle:
        return self.lab.node(self.node)

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
        self.handle.kill("SIGKILL")

    def undo(self) -> None:
        self.handle.start()


class NodeStop(NodeKill):
    name, help = "node-stop", "graceful stop (SIGTERM: the sidecar resigns from HSRP); undo starts it again"

    def inject(self) -> None:
        self.handle.stop()


class LinkDown(Fault):
    name, help = "link-down", "set the node's interface on --link down (interface tracking sees it)"
    uses_link = True

    def interface(self) -> str:
        return interface_for(self.lab, self.node, link_network(self.topo, self.link or "outside"))

    def inject(self) -> None:
        links.set_link(self.handle, self.interface(), up=False)

    def undo(self) -> None:
        links.set_link(self.handle, self.interface(), up=True)


class LinkUp(LinkDown):
    name, help = "link-up", "set the node's interface on --link up again (the undo of link-down)"
    moves_active = False

    def inject(self) -> None:
        LinkDown.undo(self)

    def undo(self) -> None:
        LinkDown.inject(self)


def rule_handles(listing: str, comment: str) -> list[tuple[str, str]]:
    """(chain, handle) of the rules carrying `comment` in an `nft -a list table` output (pure)."""
    found, chain = [], None
    for line in listing.splitlines():
        line = line.strip()
        if line.startswith("chain "):
            chain = line.split()[1]
        match = re.search(r"# handle (\d+)$", line)
        if chain and match and f'comment "{comment}"' in line:
            found.append((chain, match.group(1)))
    return found


def _nft_remove(node: NodeHandle, comment: str) -> None:
    """Delete the rules carrying `comment` from the fault table; the table goes when it is empty."""
    listing = links.nft_table(node, handles=True)
    if listing is None:
        return
    for chain, handle in rule_handles(listing, comment):
        links.nft_delete_rule(node, chain, handle)
    if "comment" not in (links.nft_table(node) or ""):
        links.nft_delete_table(node)


class SyncPartition(Fault):
    """Cut the sync link without taking the interface down: HSRP on the data LANs keeps running."""

    name, help = "sync-partition", "drop everything on the node's sync link (nftables; the interface stays up)"
    moves_active = False

    def inject(self) -> None:
        ifname = interface_for(self.lab, self.node, self.topo.ha.sync_network)
        links.nft(self.handle, "sync partition",
                  f'add rule inet {NFT_TABLE} ingress iifname "{ifname}" drop comment "sync-partition"',
                  f'add rule inet {NFT_TABLE} egress oifname "{ifname}" drop comment "sync-partition"')

    def undo(self) -> None:
        _nft_remove(self.handle, "sync-partition")


class Loss(Fault):
    """Random loss both ways on a link: netem where the kernel has it, nftables `numgen random` here."""

    name, help = "loss", "drop --percent P % of the packets on --link, both directions (netem or nftables)"
    uses_link = True
    uses_percent = True
    moves_active = False

    def comment(self) -> str:
        return f"loss-{self.link or 'outside'}-{self.percent}"

    def ifname(self) -> str:
        return interface_for(self.lab, self.node, link_network(self.topo, self.link or "outside"))

    def inject(self) -> None:
        ifname = self.ifname()
        self.undo()
        if links.add_netem_loss(self.handle, ifname, int(self.percent or 0)):
            return
        drop = f'numgen random mod 100 < {self.percent} drop comment "{self.comment()}"'
        links.nft(self.handle, "packet loss",
                  f'add rule inet {NFT_TABLE} ingress iifname "{ifname}" {drop}',
                  f'add rule inet {NFT_TABLE} egress oifname "{ifname}" {drop}')

    def undo(self) -> None:
        ifname = self.ifname()
        if "netem" in (links.qdisc(self.handle, ifname) or ""):
            links.delete_root_qdisc(self.handle, ifname)
        listing = links.nft_table(self.handle) or ""
        for comment in set(re.findall(r'comment "(loss-[a-z0-9-]+?-\d+)"', listing)):
            if comment.startswith(f"loss-{self.link or 'outside'}-"):
                _nft_remove(self.handle, comment)


class CharonCrash(Fault):
    name, help = "charon-crash", "kill -9 charon (the sidecar leaves HSRP, restarts charon, rejoins as standby)"
    instant = True

    def inject(self) -> None:
        links.kill_charon(self.handle)


class SidecarCrash(Fault):
    name, help = "sidecar-crash", "kill -9 the HSRP/SSO sidecar (init restarts it; it reloads charon, rejoins)"
    instant = True

    def inject(self) -> None:
        """Kill, then wait for the consequence: the restarted sidecar reloads charon. Until then the old
        charon still carries traffic, and a verdict taken meanwhile would judge nothing."""
        before = links.charon_pids(self.handle)
        links.kill_sidecar(self.handle)
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            now = links.charon_pids(self.handle)
            if now and not set(now) & set(before):
                return
            time.sleep(0.1)
        raise LabctlError(f"sidecar-crash on {self.node}: the restarted sidecar did not reload charon in 15 s")


class Recover(Fault):
    """Undo every active fault of the lab, then wait until it is whole again (preempt included)."""

    name, help = "recover", "undo every active fault (node back, links back, rules gone), wait for preempt"
    moves_active = False

    def inject(self) -> None:
        for found in list_faults(self.lab):
            make_fault(self.lab, found.fault, found.node, found.link, found.percent).undo()
        wait_whole(self.lab)

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


def make_fault(lab: RunningLab, fault: str, node: str | None = None, link: str | None = None,
               percent: int | None = None) -> Fault:
    """A ready-to-inject fault; the node defaults to the HSRP Active gateway."""
    node, link, percent = validate_args(lab.topo, fault, node, link, percent)
    if node is None:
        node = lab.active_gateway() if fault != "recover" else next(iter(lab.topo.ha.nodes))
        if node is None:
            raise LabctlError(f"lab {lab.name} has no HSRP Active gateway right now: name one with --node")
    return FAULTS[fault](lab, node, link, percent)


def inject(lab: RunningLab, fault: str, node: str | None = None, link: str | None = None,
           percent: int | None = None) -> Fault:
    """Python entry point of `labctl fail`."""
    chosen = make_fault(lab, fault, node, link, percent)
    chosen.inject()
    return chosen


def undo(lab: RunningLab, fault: str, node: str | None = None, link: str | None = None,
         percent: int | None = None) -> list[Fault]:
    """`labctl fail LAB FAULT --undo`: repair that fault (on `node`, or wherever it is active)."""
    validate_args(lab.topo, fault, node, link, 1 if FAULTS[fault].uses_percent else None)
    found = [f for f in list_faults(lab) if f.fault == fault and node in (None, f.node)
             and (link is None or f.link == link)]
    if not found and node is not None:
        found = [ActiveFault(fault, node, link or ("outside" if FAULTS[fault].uses_link else None), percent)]
    repaired = []
    for item in found:
        chosen = FAULTS[fault](lab, item.node, item.link, item.percent)
        chosen.undo()
        repaired.append(chosen)
    return repaired


def list_faults(lab: RunningLab) -> list[ActiveFault]:
    """Faults active in the live lab, read from the engine and from inside the nodes."""
    topo = lab.topo
    found: list[ActiveFault] = []
    names = {link_network(topo, link): link for link in LINKS if link != "inside" or len(topo.ha.interfaces) > 1}
    for node in topo.node_names():
        handle = lab.node(node)
        try:
            status, exit_code = handle.exit_state()
        except LabctlError:
            continue
        if status != "running":
            found.append(ActiveFault("node-kill" if exit_code == 137 else "node-stop", node))
            continue
        by_ifname: dict[str, str] = {}
        addresses = {str(a): net for net, a in topo.addresses_of(node).items()}
        for link in links.interfaces(handle) or []:
            for info in link.get("addr_info", []):
                network = addresses.get(info.get("local", ""))
                if network:
                    by_ifname[link["ifname"]] = network
                    if "UP" not in link.get("flags", []):
                        found.append(ActiveFault("link-down", node, names.get(network, network)))
        listing = links.nft_table(handle)
        if listing is not None:
            if 'comment "sync-partition"' in listing:
                found.append(ActiveFault("sync-partition", node))
            for link, percent in set(re.findall(r'comment "loss-([a-z0-9-]+?)-(\d+)"', listing)):
                found.append(ActiveFault("loss", node, link, int(percent)))
        for ifname, network in by_ifname.items():
            match = re.search(r"netem .*loss (\d+)%", links.qdisc(handle, ifname) or "")
            if match:
                found.append(ActiveFault("loss", node, names.get(network, network), int(match.group(1))))
    return found


def wait_whole(lab: RunningLab, timeout: float | None = None) -> None:
    """Wait until the lab is as `up` left it: every node running, tunnel passing traffic, standby hot,
    and (with preempt) the highest-priority gateway Active again. A returning node first sits out its start
    delay (`standby delay reload`: 2 minutes in the seeds), so that is waited for on top."""
    topo = lab.topo
    timeout = timeout or max(60.0, topo.failover.converge_timeout / 1000 * 2) + topo.first_active_ms / 1000
    started = time.monotonic()
    deadline = started + timeout
    wait_ready(lab, deadline, lambda _m: None, {}, started)
    if topo.ha.hsrp.preempt:
        preferred = preferred_gateway(topo)
        if lab.active_gateway() == preferred:
            return
        while lab.active_gateway() != preferred:
            if time.monotonic() > deadline:
                raise LabctlError(f"lab {topo.name}: {preferred} did not preempt back to Active in {timeout:.0f}s")
            time.sleep(0.1)
        wait_ready(lab, deadline, lambda _m: None, {}, started)  # the preempt moved the SAs again

"""HSRP/SSO stateful failover on the dual-interface lab, asserted directly on the live daemons.

The chain the issue asks for: gw1 Active + ACTIVE, gw2 Standby + STANDBY HOT holding the IKE SA as
PASSIVE; kill gw1 -> the VIPs and RRI routes move, the peer keeps the same IKE SA (SPIs, unique id, no
new IKE_SA_INIT), traffic resumes; gw1 comes back STANDBY HOT and preempts, still on the same IKE SA.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import docker
import pytest

from labctl.lab import load
from labctl.model.helpers import host_address, inside_and_remote_hosts
from labctl.model.topology import Topology
from labctl.nodes import charon, gateway
from labctl.runtime.docker.handle import DockerNode

from .conftest import LabFactory, topology_path

pytestmark = pytest.mark.docker


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def sas_of(client: docker.DockerClient, lab: str, node: str) -> list[dict]:
    return charon.sas(DockerNode(client, lab, node))


def status_of(client: docker.DockerClient, lab: str, node: str) -> dict | None:
    return gateway.sidecar_status(DockerNode(client, lab, node))


def ike_identity(client: docker.DockerClient, lab: str, node: str) -> list[tuple[str, str, str]]:
    return [(sa["initiator_spi"], sa["responder_spi"], sa["uniqueid"]) for sa in sas_of(client, lab, node)
            if sa["state"] == "ESTABLISHED"]


def vips_on(client: docker.DockerClient, lab: str, node: str, topo: Topology) -> set[str]:
    _, out = DockerNode(client, lab, node).exec(["ip", "-4", "-o", "addr", "show"])
    return {str(i.virtual_ip) for i in topo.ha.interfaces if f" {i.virtual_ip}/" in out}


def rri_routes(client: docker.DockerClient, lab: str, node: str) -> str:
    return DockerNode(client, lab, node).exec(["ip", "-4", "route", "show", "proto", "77"])[1].strip()


def ike_inits_in_peer_log(client: docker.DockerClient, lab: str, peer: str) -> int:
    """How many IKE SAs the peer has started (a stateful failover must not add one)."""
    out = DockerNode(client, lab, peer).exec(["grep", "-c", "initiating IKE_SA", "/var/log/charon.log"])[1]
    return int(out.strip() or 0)


def ping(client: docker.DockerClient, lab: str, topo: Topology) -> bool:
    inside, remote = inside_and_remote_hosts(topo)
    target = host_address(topo, remote)
    return DockerNode(client, lab, inside).exec(["ping", "-c1", "-W1", target])[0] == 0


def test_stateful_failover_and_preempt_back(docker_client: docker.DockerClient, lab_factory: LabFactory) -> None:
    client = docker_client
    lab = lab_factory()
    topo = load(topology_path())
    gw1, gw2 = list(topo.ha.nodes)  # gw1 has the higher priority and preempts
    peer = next(iter(topo.peers))
    all_vips = {str(i.virtual_ip) for i in topo.ha.interfaces}

    # steady state: Active + ACTIVE / Standby + STANDBY HOT with the IKE SA held PASSIVE
    wait_for("gw2 STANDBY HOT", lambda: (status_of(client, lab, gw2) or {}).get("redundancy") == "STANDBY HOT")
    one, two = status_of(client, lab, gw1), status_of(client, lab, gw2)
    assert (one["role"], one["redundancy"], one["peer_redundancy"]) == ("active", "ACTIVE", "STANDBY HOT")
    assert {g["state"] for g in one["hsrp"]} == {"Active"} and {g["state"] for g in two["hsrp"]} == {"Standby"}
    assert vips_on(client, lab, gw1, topo) == all_vips and vips_on(client, lab, gw2, topo) == set()
    assert rri_routes(client, lab, gw1) and not rri_routes(client, lab, gw2)
    identity = ike_identity(client, lab, peer)
    assert len(identity) == 1
    passive = [sa for sa in sas_of(client, lab, gw2) if sa["state"] == "PASSIVE"]
    assert [(sa["initiator_spi"], sa["responder_spi"]) for sa in passive] == [identity[0][:2]]
    inits = ike_inits_in_peer_log(client, lab, peer)

    # SIGKILL the active, as strongSwan's own HA tests do
    DockerNode(client, lab, gw1).kill()
    wait_for("gw2 to own the VIPs", lambda: vips_on(client, lab, gw2, topo) == all_vips, timeout=10)
    wait_for("traffic through the tunnel again", lambda: ping(client, lab, topo), timeout=15)
    assert (status_of(client, lab, gw2) or {})["redundancy"] == "ACTIVE"
    assert rri_routes(client, lab, gw2)
    assert ike_identity(client, lab, peer) == identity, "the peer's IKE SA changed: not a stateful failover"
    assert ike_inits_in_peer_log(client, lab, peer) == inits, "the peer started a new IKE_SA_INIT"

    # the old active returns: STANDBY HOT first, then preempts (SSO-aware), same IKE SA throughout
    DockerNode(client, lab, gw1).start()
    wait_for("gw1 back and Active again (preempt)",
             lambda: (status_of(client, lab, gw1) or {}).get("redundancy") == "ACTIVE", timeout=60)
    events = [e["detail"] for e in status_of(client, lab, gw1)["events"] if e["kind"] == "redundancy"]
    assert any("STANDBY HOT" in e for e in events), f"gw1 preempted before it was STANDBY HOT: {events}"
    wait_for("gw2 STANDBY HOT again",
             lambda: (status_of(client, lab, gw2) or {}).get("redundancy") == "STANDBY HOT", timeout=30)
    assert vips_on(client, lab, gw1, topo) == all_vips and vips_on(client, lab, gw2, topo) == set()
    assert rri_routes(client, lab, gw1) and not rri_routes(client, lab, gw2)
    wait_for("traffic after preempt", lambda: ping(client, lab, topo), timeout=15)
    assert ike_identity(client, lab, peer) == identity, "preempting back re-keyed the IKE SA"
    assert ike_inits_in_peer_log(client, lab, peer) == inits


def test_all_links_down_moves_the_session(docker_client: docker.DockerClient, lab_factory: LabFactory) -> None:
    """Interface tracking: the active's outside and inside links go down -> the standby takes over."""
    client = docker_client
    lab = lab_factory()
    topo = load(topology_path())
    gw1, gw2 = list(topo.ha.nodes)
    peer = next(iter(topo.peers))
    wait_for("gw2 STANDBY HOT", lambda: (status_of(client, lab, gw2) or {}).get("redundancy") == "STANDBY HOT")
    identity = ike_identity(client, lab, peer)
    for iface in topo.ha.interfaces:
        address = str(topo.ha.nodes[gw1].addresses[iface.network])
        script = f"ip link set dev $(ip -o -4 addr show | awk '$4 ~ /^{address}\\// {{print $2}}') down"
        assert DockerNode(client, lab, gw1).exec(["sh", "-c", script])[0] == 0
    wait_for("gw2 Active", lambda: (status_of(client, lab, gw2) or {}).get("role") == "active", timeout=10)
    wait_for("traffic through the tunnel again", lambda: ping(client, lab, topo), timeout=15)
    assert ike_identity(client, lab, peer) == identity
    assert (status_of(client, lab, gw1) or {}).get("role") != "active"

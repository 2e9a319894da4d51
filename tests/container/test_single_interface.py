"""Single-interface deployment (the seed's Figure 1) on real containers: one LAN interface per gateway carries
the peer's ESP (to the VIP, through the edge router) and the decrypted traffic to the inside hosts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from labctl.experiment.failover import failover
from labctl.lab import open_lab
from labctl.nodes import charon
from labctl.runtime.docker.handle import DockerLab, DockerNode

from .conftest import ROOT, LabFactory

pytestmark = pytest.mark.docker
SINGLE = ROOT / "topologies" / "single-interface.yaml"


@pytest.fixture(scope="module")
def lab(lab_factory: LabFactory) -> Iterator[str]:
    yield lab_factory(path=Path(SINGLE))


def child_packets(client: docker.DockerClient, lab: str, node: str) -> int:
    """ESP packets the node's installed CHILD_SAs carried in and out (libipsec counts them)."""
    sas = charon.sas(DockerNode(client, lab, node))
    return sum(int(child.get(key) or 0) for sa in sas for child in sa.get("child_sas", [])
               for key in ("packets_in", "packets_out"))


def test_comes_up_with_one_interface_and_the_tunnel_carries_the_traffic(docker_client, lab: str) -> None:
    topo = open_lab(DockerLab(docker_client, lab)).topo
    active = open_lab(DockerLab(docker_client, topo.name)).active_gateway()
    assert active == "gw1"  # priority 110, preempt
    # each gateway has exactly one LAN interface besides the sync link
    code, out = DockerNode(docker_client, lab, active).exec(["ip", "-o", "-4", "addr", "show", "scope", "global"])
    assert code == 0
    lan = [line for line in out.splitlines() if "10.22.0." in line]
    assert len({line.split()[1] for line in lan}) == 1 and " 10.22.0.1/24" in out  # address and VIP, one interface
    # the peer's IKE SA ends on the LAN VIP, reached through the edge router
    sa = next(s for s in charon.sas(DockerNode(docker_client, lab, "peer")) if s["state"] == "ESTABLISHED")
    assert sa["remote_host"] == "10.22.0.1", sa
    before = child_packets(docker_client, lab, "peer")
    code, out = DockerNode(docker_client, lab, "inside1").exec(["ping", "-c3", "-i0.2", "-W1", "10.23.0.10"])
    assert code == 0, out
    assert child_packets(docker_client, lab, "peer") >= before + 6  # 3 requests in, 3 replies out: through ESP
    # the edge router is the only path between the peer and the LAN
    code, out = DockerNode(docker_client, lab, "peer").exec(["ip", "route", "get", "10.22.0.1"])
    assert "via 10.21.0.2" in out, out


def test_node_kill_of_the_active_keeps_the_ike_sa(docker_client, lab: str) -> None:
    verdict = failover(open_lab(DockerLab(docker_client, lab)), "node-kill")
    print(f"single-interface stateful node-kill: outage {verdict.outage_ms} converge {verdict.converge_ms} ms")
    assert verdict.passed, f"{verdict.reasons} outage={verdict.outage_ms}"
    assert verdict.ike_sa_preserved and verdict.child_sa in ("same", "rekeyed")
    assert (verdict.old_active, verdict.new_active) == ("gw1", "gw2")
    assert verdict.peer_log["new_ike_sa"] == 0
    assert verdict.rri == {"gw1": [], "gw2": ["10.23.0.0/24"]}

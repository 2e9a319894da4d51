"""Real Cisco-protocol clients (vpnc) in the Easy VPN lab, beside a strongSwan client (issue #16 part 2).

tests/container/topologies/vpnc-easyvpn.yaml: client1 strongSwan, client2 and client3 vpnc (DH group 2), its
own name (vpez) and subnets. vpnc must connect through the same server conn (group as KEY_ID, Cisco
proposals), pass traffic and be listed by `status`; the node-kill verdict is judged from each vpnc client's
own side. With the rekey at takeover (`ha.sequence_continuity: rekey`, a server-initiated Quick Mode) vpnc
lost its session; replay-state sync (the default) keeps the same SAs and their sequence numbers, so the vpnc
clients must keep pid, tun address and traffic across the node kill.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from netaddr import IPAddress, IPNetwork

from labctl.experiment.failover import failover
from labctl.lab import lab_status, load, open_lab
from labctl.nodes import vpnc
from labctl.runtime.docker.handle import DockerLab, DockerNode

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
MIXED = ROOT / "tests" / "container" / "topologies" / "vpnc-easyvpn.yaml"
VPNC = ("client2", "client3")
# what a vpnc client's verdict says when the takeover's CHILD_SA rekey / restarted sequence numbers broke it


@pytest.fixture(scope="module")
def lab(docker_client: docker.DockerClient, lab_factory) -> str:  # type: ignore[no-untyped-def]
    return lab_factory(MIXED)


def test_vpnc_clients_connect_and_pass_traffic(docker_client: docker.DockerClient, lab: str) -> None:
    topo = load(MIXED)
    pool = IPNetwork(str(topo.easyvpn.pool.subnet))  # type: ignore[union-attr]
    status = {c["name"]: c for c in lab_status(DockerLab(docker_client, lab))["easyvpn_clients"]}
    assert all(c["state"] == "connected" for c in status.values()), status
    assert [status[n]["kind"] for n in ("client1", *VPNC)] == ["strongswan", "vpnc", "vpnc"]
    assert len({c["virtual_ip"] for c in status.values()}) == 3
    for name in VPNC:
        node = DockerNode(docker_client, lab, name)
        assert IPAddress(status[name]["virtual_ip"]) in pool and status[name]["pid"], status[name]
        code, out = node.exec(["ping", "-c3", "-W1", "10.82.0.10"])  # inside1 through vpnc's tun
        assert code == 0, out
        log = vpnc.log_tail(node)
        assert "IKE SA selected psk+xauth" in log and "VPNC started in foreground" in log, log[-2000:]
        assert f"got address {status[name]['virtual_ip']}" in log
        # every line stamped by the restart loop (the pid it records is vpnc's: `pid` above is a live vpnc)
        assert all(vpnc.STAMPED_LINE.match(line) for line in log.splitlines()[1:]), log[-2000:]
        assert vpnc.look(node)["pid"] == status[name]["pid"] and vpnc.look(node)["starts"] == 1
    gw = open_lab(DockerLab(docker_client, lab)).active_gateway()
    _, sas = DockerNode(docker_client, lab, gw).exec(["swanctl", "--list-sas"])  # type: ignore[arg-type]
    assert sas.count("remote 'unity' @ 10.81.0.10") == 3  # one conn, the group as a KEY_ID, for both kinds
    assert "HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024" in sas  # vpnc's default proposal was accepted


def test_vpnc_clients_across_node_kill(docker_client: docker.DockerClient, lab: str) -> None:
    verdict = failover(open_lab(DockerLab(docker_client, lab)), fault="node-kill", rate=150, recover=False)
    print(f"\nnode-kill {verdict.old_active}->{verdict.new_active}: {verdict.verdict}, outage {verdict.outage_ms} ms")
    for reason in verdict.reasons:
        print(f"  reason: {reason}")
    after = {c["name"]: c for c in verdict.sa_after}
    before = {c["name"]: c for c in verdict.sa_before}
    for name in VPNC:  # judged from vpnc's own side, whatever the outcome
        assert after[name]["kind"] == "vpnc" and before[name]["pid"]
    assert verdict.passed, verdict.reasons
    for name in VPNC:
        assert after[name]["pid"] == before[name]["pid"] and after[name]["virtual_ip"] == before[name]["virtual_ip"]

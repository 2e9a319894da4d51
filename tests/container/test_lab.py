"""Foundation, end to end: a real lab comes up with a working tunnel, reports live state, and goes away."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import docker
import pytest

from labctl.lab import lab_status, load
from labctl.model.helpers import host_address, inside_and_remote_hosts
from labctl.runtime import labels
from labctl.runtime.docker import firewall
from labctl.runtime.docker.engine import DockerEngine
from labctl.runtime.docker.handle import DockerLab, DockerNode

from .conftest import LabFactory, topology_path

pytestmark = pytest.mark.docker


def labctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labctl.cli", *args], capture_output=True, text=True, timeout=300)


def leftovers(client: docker.DockerClient, lab: str) -> dict[str, int]:
    return {
        "containers": len(client.containers.list(all=True, filters=labels.lab_filter(lab))),
        "networks": len(client.networks.list(filters=labels.lab_filter(lab))),
        "rules": len(firewall.lab_rules(client, lab)),
    }


def test_up_status_tunnel_and_down(docker_client: docker.DockerClient) -> None:
    path = topology_path()
    lab = load(path).name
    DockerEngine(docker_client).down(lab)  # start from nothing: `up` on a live lab would reuse its containers
    try:
        up = labctl("up", str(path), "--json")
        assert up.returncode == 0, up.stderr
        assert json.loads(up.stdout)["lab"] == lab

        # real packets through real ESP: the peer's CHILD SA counts them
        topo = load(path)
        inside, remote = inside_and_remote_hosts(topo)
        assert inside and remote
        code, out = DockerNode(docker_client, lab, inside).exec(
                                    ["ping", "-c3", "-i0.2", "-W1", host_address(topo, remote)])
        assert code == 0, out

        status = json.loads(labctl("status", lab, "--json").stdout)
        nodes = {n["name"]: n for n in status["nodes"]}
        assert status["lab"] == lab and set(nodes) == set(topo.node_names())
        assert all(n["running"] for n in nodes.values())
        peer = nodes[next(iter(topo.peers))]
        active = [n for n in nodes.values() if n.get("hsrp_role") == "active"]
        assert len(active) == 1
        peer_ike = [sa for sa in peer["ike_sas"] if sa["state"] == "ESTABLISHED"]
        active_ike = [sa for sa in active[0]["ike_sas"] if sa["state"] == "ESTABLISHED"]
        assert len(peer_ike) == 1 and len(active_ike) == 1
        assert (peer_ike[0]["initiator_spi"], peer_ike[0]["responder_spi"]) == (
            active_ike[0]["initiator_spi"], active_ike[0]["responder_spi"])
        installed = [c for c in peer["child_sas"] if c["state"] == "INSTALLED"]
        assert installed and installed[-1]["packets_out"] >= 3 and installed[-1]["encap"]

        again = labctl("up", str(path), "--json")  # idempotent: same containers, still ready
        assert again.returncode == 0, again.stderr
    finally:
        down = labctl("down", lab, "--json")
    assert down.returncode == 0, down.stderr
    assert leftovers(docker_client, lab) == {"containers": 0, "networks": 0, "rules": 0}
    assert labctl("down", lab).returncode == 0  # idempotent


def test_down_after_labctl_was_killed_mid_up(docker_client: docker.DockerClient) -> None:
    """`down` finds a half-built lab by its labels alone."""
    path = topology_path()
    lab = load(path).name
    DockerEngine(docker_client).down(lab)
    proc = subprocess.Popen([sys.executable, "-m", "labctl.cli", "up", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not docker_client.containers.list(filters=labels.lab_filter(lab)):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert leftovers(docker_client, lab)["networks"] > 0
    assert labctl("down", str(path)).returncode == 0  # by topology file this time
    assert leftovers(docker_client, lab) == {"containers": 0, "networks": 0, "rules": 0}


def test_bad_topology_starts_nothing(docker_client: docker.DockerClient, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(topology_path().read_text().replace("name: dual", "name: badlab").replace(
        "priority: 110", "priority: 999"))
    result = labctl("up", str(bad))
    assert result.returncode == 2
    assert f"{bad}:" in result.stderr and "ha.nodes.gw1.priority" in result.stderr
    assert "Traceback" not in result.stderr
    assert leftovers(docker_client, "badlab") == {"containers": 0, "networks": 0, "rules": 0}


def test_lab_status_from_live_daemons(docker_client: docker.DockerClient, lab_factory: LabFactory) -> None:
    """Status must come from charon, not from rendered files: kill charon on the peer and it shows."""
    lab = lab_factory()
    topo = load(topology_path())
    peer = next(iter(topo.peers))
    before = {n["name"]: n for n in lab_status(DockerLab(docker_client, lab))["nodes"]}
    assert before[peer]["ike_sas"]
    DockerNode(docker_client, lab, peer).exec(["pkill", "-STOP", "charon"])
    try:
        after = {n["name"]: n for n in lab_status(DockerLab(docker_client, lab))["nodes"]}
    finally:
        DockerNode(docker_client, lab, peer).exec(["pkill", "-CONT", "charon"])
    assert after[peer]["ike_sas"] == []

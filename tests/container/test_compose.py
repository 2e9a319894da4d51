"""The compose demo on a real engine: `docker-compose up -d` gives a working tunnel, `down` leaves nothing
(containers, networks, host firewall rules). Runs the top-level docker-compose.yml, and a private copy of
the lab (own name and subnets) so it can run next to a `dual` lab someone else has up."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
import pytest

from labctl.model.loader import load_topology
from labctl.render.compose import render_compose
from labctl.runtime.docker import firewall
from labctl.runtime.docker.engine import DockerEngine
from labctl.runtime.docker.handle import DockerLab, DockerNode

from .conftest import ROOT

pytestmark = pytest.mark.docker


def private_topology(tmp_path: Path) -> Path:
    """dual-interface as lab `cmpz`, subnets 10.71-73.x and 10.79.x (no clash with the shipped labs)."""
    text = (ROOT / "topologies" / "dual-interface.yaml").read_text().replace("name: dual", "name: cmpz")
    for old, new in (("198.51.100.", "10.71.0."), ("10.1.0.", "10.72.0."), ("10.2.0.", "10.73.0."),
                     ("10.9.0.", "10.79.0.")):
        text = text.replace(old, new)
    path = tmp_path / "cmpz.yaml"
    path.write_text(text)
    return path


def compose_cmd() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("neither docker-compose nor `docker compose` is installed")


def demo(docker_client: docker.DockerClient, compose_file: Path, lab: str, remote: str) -> None:
    cmd = [*compose_cmd(), "-p", f"labctl-test-{lab}", "-f", str(compose_file)]
    secrets = {"LABCTL_PSK": "test-psk-0123456789", "LABCTL_SSO_KEY": "test-sso-key-0123456789"}
    try:
        subprocess.run([*cmd, "up", "-d"], check=True, capture_output=True, text=True, timeout=180,
                       env={**os.environ, **secrets})
        deadline = time.monotonic() + 60
        while DockerNode(docker_client, lab, "inside1").exec(["ping", "-c1", "-W1", remote])[0] != 0:
            assert time.monotonic() < deadline, "no ping inside1 -> remote1 through the tunnel within 60 s"
            time.sleep(0.5)
        code, out = DockerNode(docker_client, lab, "gw1").exec(["swanctl", "--list-sas"])
        assert code == 0 and "ESTABLISHED" in out, out
        assert len(firewall.lab_rules(docker_client, lab)) == 4
    finally:
        down = subprocess.run([*cmd, "down", "-t", "5"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **secrets})
    assert down.returncode == 0, down.stderr
    assert DockerLab(docker_client, lab).containers() == []
    assert docker_client.networks.list(filters={"label": f"labctl.lab={lab}"}) == []
    assert firewall.lab_rules(docker_client, lab) == []


def test_compose_demo_of_a_private_lab(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    topo = private_topology(tmp_path)
    DockerEngine(docker_client).down("cmpz")
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(render_compose(load_topology(topo), str(topo)))
    demo(docker_client, compose_file, "cmpz", "10.73.0.10")


def test_top_level_docker_compose_demo(docker_client: docker.DockerClient) -> None:
    if DockerLab(docker_client, "dual").containers():
        pytest.skip("a `dual` lab is already running on this engine: the demo would clash with it")
    demo(docker_client, ROOT / "docker-compose.yml", "dual", "10.2.0.10")

"""`labctl capture` on a lab with HSRP MD5 authentication: the pcap holds HSRP hellos whose MD5 TLV tshark
decodes (and whose digest the gateways accept, since the pair elects normally) and the tunnel's ESP."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner

from labctl.cli import main
from labctl.lab import open_lab
from labctl.nodes import gateway
from labctl.runtime.docker.handle import DockerLab, DockerNode

from .conftest import ROOT, LabFactory

pytestmark = pytest.mark.docker


def md5_topology(tmp_path: Path) -> Path:
    """dual-interface as lab `md5`, HSRP MD5 keys, its own subnets 10.81-84.x."""
    text = (ROOT / "topologies" / "dual-interface.yaml").read_text().replace("name: dual", "name: md5")
    text = text.replace("  hsrp:\n", "  hsrp:\n    auth_md5: lab-md5-key\n", 1)
    for old, new in (("198.51.100.", "10.81.0."), ("10.1.0.", "10.82.0."), ("10.2.0.", "10.83.0."),
                     ("10.9.0.", "10.84.0.")):
        text = text.replace(old, new)
    path = tmp_path / "md5.yaml"
    path.write_text(text)
    return path


def test_capture_decodes_md5_hsrp_and_esp(docker_client: docker.DockerClient, lab_factory: LabFactory,
                                          tmp_path: Path) -> None:
    if not shutil.which("tshark"):
        pytest.skip("tshark is not installed (scripts/host-deps.sh tshark)")
    lab = lab_factory(md5_topology(tmp_path))
    running = open_lab(DockerLab(docker_client, lab))
    statuses = [gateway.sidecar_status(running.node(n)) or {} for n in running.topo.ha.nodes]
    assert sorted(s.get("role") for s in statuses) == ["active", "standby"]  # MD5 hellos accepted both ways
    assert all(g["counters"].get("bad_auth", 0) == 0 for s in statuses for g in s["hsrp"])
    pinger = DockerNode(docker_client, lab, "inside1")
    pinger.exec_detached(["ping", "-c", "20", "-i", "0.1", "10.83.0.10"])
    pcap = tmp_path / "outside.pcap"
    result = CliRunner().invoke(main, ["capture", lab, "outside", "-w", str(pcap), "--duration", "2.5"])
    assert result.exit_code == 0, result.output
    decoded = subprocess.run(["tshark", "-r", str(pcap), "-T", "json", "-Y", "hsrp || esp"],
                             capture_output=True, text=True, check=True).stdout
    packets = json.loads(decoded)
    layers = [p["_source"]["layers"] for p in packets]
    hsrp = [layer for layer in layers if "hsrp" in layer]
    esp = [layer for layer in layers if "esp" in layer]
    assert hsrp and esp, f"{len(hsrp)} HSRP, {len(esp)} ESP packets"
    text = json.dumps(hsrp[0])
    assert "hsrp2.md5_auth_tlv" in text and "hsrp2.md5_algorithm" in text, text[:2000]
    assert docker_client.containers.list(all=True, filters={"label": "labctl.role=capture"}) == []

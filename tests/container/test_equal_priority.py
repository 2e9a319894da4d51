"""The seeds' advice, equal standby priorities (HSRP then elects the higher address), and the same group
number on both interfaces: the preferred gateway follows RFC 2281, so failover and the way back are judged."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from labctl.experiment.failover import failover_and_back
from labctl.lab import open_lab
from labctl.model.helpers import preferred_gateway
from labctl.runtime.docker.handle import DockerLab

from .conftest import ROOT, LabFactory

pytestmark = pytest.mark.docker


def equal_topology(tmp_path: Path) -> Path:
    """dual-interface as lab `equal`: both priorities 100, group 1 on outside and inside, subnets 10.91-94.x."""
    text = (ROOT / "topologies" / "dual-interface.yaml").read_text().replace("name: dual", "name: equal")
    text = text.replace("priority: 110", "priority: 100").replace("      group: 2\n", "      group: 1\n")
    for old, new in (("198.51.100.", "10.91.0."), ("10.1.0.", "10.92.0."), ("10.2.0.", "10.93.0."),
                     ("10.9.0.", "10.94.0.")):
        text = text.replace(old, new)
    path = tmp_path / "equal.yaml"
    path.write_text(text)
    return path


def test_equal_priorities_elect_the_higher_address_and_failover_and_back_pass(
        docker_client: docker.DockerClient, lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = open_lab(DockerLab(docker_client, lab_factory(equal_topology(tmp_path))))
    assert {i.group for i in lab.topo.ha.interfaces} == {1}
    assert preferred_gateway(lab.topo) == "gw2"  # 10.91.0.12 > 10.91.0.11
    assert lab.active_gateway() == "gw2"
    verdict = failover_and_back(lab, rate=200)
    assert verdict.passed, verdict.reasons
    assert verdict.old_active == "gw2" and verdict.new_active == "gw1"
    assert verdict.recovery is not None and verdict.recovery["new_active"] == "gw2"
    assert verdict.ike_sa_preserved

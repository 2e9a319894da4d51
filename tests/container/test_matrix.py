"""`labctl matrix` on real labs, kept short: one good cell and one known-bad variant marked expected-pass
(must make the matrix FAIL); reports written. Uses a private copy of dual-interface (lab `mtx`)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import docker
import pytest

from labctl.runtime.docker.engine import DockerEngine
from labctl.runtime.docker.handle import DockerLab

from .conftest import ROOT

pytestmark = pytest.mark.docker


def private_topology(tmp_path: Path) -> Path:
    text = (ROOT / "topologies" / "dual-interface.yaml").read_text().replace("name: dual", "name: mtx")
    for old, new in (("198.51.100.", "10.71.0."), ("10.1.0.", "10.72.0."), ("10.2.0.", "10.73.0."),
                     ("10.9.0.", "10.79.0.")):
        text = text.replace(old, new)
    path = tmp_path / "mtx.yaml"
    path.write_text(text)
    return path


def test_matrix_fails_when_a_known_bad_variant_is_expected_to_pass(docker_client: docker.DockerClient,
                                                                   tmp_path: Path) -> None:
    DockerEngine(docker_client).down("mtx")
    matrix = tmp_path / "tiny.yaml"
    matrix.write_text(f"""name: tiny
defaults: {{rate: 200, converge_timeout: 30s}}
topologies: {{mtx: {private_topology(tmp_path)}}}
matrix:
  - topologies: [mtx]
    faults: [node-kill]
    expect: {{verdict: pass, ike_sa_preserved: true}}
  - topologies: [mtx]
    faults: [node-kill]
    sabotage: no-sync
    expect: {{verdict: pass}}          # wrong on purpose: no-sync must FAIL
""")
    out = tmp_path / "reports"
    result = subprocess.run([sys.executable, "-m", "labctl.cli", "matrix", str(matrix), "--out", str(out), "--json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(result.stdout)
    status = {c["id"]: c["status"] for c in data["cells"]}
    assert status == {"mtx/node-kill/stateful/default": "met", "mtx/node-kill/stateful/default/no-sync": "unmet"}
    bad = data["cells"][1]
    assert bad["verdict"]["verdict"] == "fail" and any("IKE SA not preserved" in r for r in bad["verdict"]["reasons"])
    assert any(e["lane"] == "hsrp" for e in data["cells"][0]["events"])
    cases = ET.parse(out / "junit.xml").getroot().findall(".//testcase")
    assert [c.find("failure") is not None for c in cases] == [False, True]
    assert "<svg" in (out / "report.html").read_text()
    assert DockerLab(docker_client, "mtx").containers() == []  # every cell cleaned up

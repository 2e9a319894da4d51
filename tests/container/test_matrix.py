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


def private_topology(tmp_path: Path, name: str = "mtx", second: int = 0) -> Path:
    """A copy of dual-interface as lab `name`, on 10.7x (second=0) or 10.8x-free subnets of its own."""
    text = (ROOT / "topologies" / "dual-interface.yaml").read_text().replace("name: dual", f"name: {name}")
    for old, new in (("198.51.100.", f"10.{71 + second}.0."), ("10.1.0.", f"10.{72 + second}.1."),
                     ("10.2.0.", f"10.{73 + second}.2."), ("10.9.0.", f"10.{79 - second}.9.")):
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_matrix_fails_when_a_known_bad_variant_is_expected_to_pass(docker_client: docker.DockerClient,
                                                                   tmp_path: Path) -> None:
    for lab in ("mtx", "mtx2"):
        DockerEngine(docker_client).down(lab)
    matrix = tmp_path / "tiny.yaml"
    matrix.write_text(f"""name: tiny
defaults: {{rate: 200, converge_timeout: 30s}}
topologies: {{mtx: {private_topology(tmp_path)}, mtx2: {private_topology(tmp_path, "mtx2", 3)}}}
matrix:
  - topologies: [mtx]
    faults: [node-kill]
    expect: {{verdict: pass, ike_sa_preserved: true}}
  - topologies: [mtx2]
    faults: [node-kill]
    sabotage: no-sync
    expect: {{verdict: pass}}          # wrong on purpose: no-sync must FAIL
""")
    out = tmp_path / "reports"
    result = subprocess.run([sys.executable, "-m", "labctl.cli", "matrix", str(matrix), "--out", str(out), "--json",
                             "--jobs", "2"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(result.stdout)
    status = {c["id"]: c["status"] for c in data["cells"]}
    assert status == {"mtx/node-kill/stateful/default": "met", "mtx2/node-kill/stateful/default/no-sync": "unmet"}
    # the two labs ran side by side, but neither was set up or removed while the other measured
    windows = [c["windows"] for c in data["cells"]]
    for mine, other in ((windows[0], windows[1]), (windows[1], windows[0])):
        start, end = mine["measure"]
        for churn in ("up", "down"):
            assert other[churn][1] <= start or other[churn][0] >= end, (churn, windows)
    bad = data["cells"][1]
    assert bad["verdict"]["verdict"] == "fail" and any("IKE SA not preserved" in r for r in bad["verdict"]["reasons"])
    assert any(e["lane"] == "hsrp" for e in data["cells"][0]["events"])
    cases = ET.parse(out / "junit.xml").getroot().findall(".//testcase")
    assert [c.find("failure") is not None for c in cases] == [False, True]
    assert "<svg" in (out / "report.html").read_text()
    assert DockerLab(docker_client, "mtx").containers() == DockerLab(docker_client, "mtx2").containers() == []

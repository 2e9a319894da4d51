"""Replay-state sync against a real lab: the patched libipsec reports real sequence numbers, and a node kill
of the Active keeps the same CHILD_SAs (same SPIs, no rekey) with no replay drop on the peer.

The topology under test (LABCTL_TEST_TOPOLOGY, default the shipped dual-interface.yaml) with
`ha.sequence_continuity: replay-sync` set explicitly, so the test means the same whatever the default is.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import yaml

from labctl.experiment.failover import failover
from labctl.experiment.probe import run_probe
from labctl.experiment.verdict import Verdict
from labctl.lab import load, open_lab, up
from labctl.runtime.docker.engine import DockerEngine
from labctl.runtime.docker.handle import DockerLab, DockerNode

from .conftest import topology_path

pytestmark = pytest.mark.docker
GET = ["python3", "-c", "import json; from labctl.sidecar import replay; "
       "print(json.dumps([sa.wire() for sa in replay.get()]))"]


@pytest.fixture(scope="module")
def lab(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = yaml.safe_load(topology_path().read_text())
    data["ha"]["sequence_continuity"] = "replay-sync"
    path = Path(tmp_path_factory.mktemp("replay")) / topology_path().name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    name = load(path).name
    engine = DockerEngine(docker_client)
    engine.down(name)
    try:
        up(path, timeout=120, engine=engine)
        yield name
    finally:
        engine.down(name)


def active_gateway(docker_client: docker.DockerClient, lab: str) -> str:
    for node in ("gw1", "gw2"):
        code, out = DockerNode(docker_client, lab, node).exec(["cat", "/run/labctl/sidecar-status.json"])
        if code == 0 and json.loads(out).get("role") == "active":
            return node
    raise AssertionError("no active gateway")


def sequence_state(docker_client: docker.DockerClient, lab: str, node: str) -> list[list]:
    code, out = DockerNode(docker_client, lab, node).exec(GET)
    assert code == 0, out
    return json.loads(out.strip().splitlines()[-1])


def explain(verdict: Verdict) -> str:
    return (f"{verdict.verdict}: {verdict.reasons} outage={verdict.outage_ms} child={verdict.child_sa} "
            f"peer_log={verdict.peer_log}")


def test_get_shows_real_sequence_numbers_and_the_standby_holds_the_synced_table(docker_client, lab: str) -> None:
    running = open_lab(DockerLab(docker_client, lab))
    before = {(spi, dst): seq for spi, dst, direction, seq in
              sequence_state(docker_client, lab, active_gateway(docker_client, lab)) if direction == "out"}
    run_probe(running, duration=2.0, rate=100)
    node = active_gateway(docker_client, lab)
    after = sequence_state(docker_client, lab, node)
    outbound = [(spi, dst, seq) for spi, dst, direction, seq in after if direction == "out"]
    inbound = [seq for _spi, _dst, direction, seq in after if direction == "in"]
    assert outbound and inbound, after
    # 2 s at 100 packets/s each way went through the tunnel: every number moved by (about) that much
    assert any(seq - before.get((spi, dst), 0) >= 150 for spi, dst, seq in outbound), (before, after)
    assert max(inbound) >= 150, after
    standby = "gw2" if node == "gw1" else "gw1"
    code, out = DockerNode(docker_client, lab, standby).exec(["cat", "/run/labctl/sidecar-status.json"])
    sync = json.loads(out)["replay_sync"]
    assert sync["tables_received"] >= 1 and sync["sas"] == len(after), sync


def test_one_request_raises_every_sa_it_names(docker_client, lab: str) -> None:
    """charon answers each `set` of a request and applies them all (it once applied the first and answered
    none: stdio turned from reading to writing mid-request). The standby's SAs are raised by 7: sets never
    lower, and its own raises only go higher."""
    standby = "gw2" if active_gateway(docker_client, lab) == "gw1" else "gw1"
    before = sequence_state(docker_client, lab, standby)
    assert len(before) >= 2, before
    sets = [f"set {spi} {dst} {seq + 7}" for spi, dst, _direction, seq in before]
    code, out = DockerNode(docker_client, lab, standby).exec(
        ["python3", "-c", f"from labctl.sidecar import replay; print(repr(replay.request({sets!r})))"])
    assert code == 0, out
    assert ast.literal_eval(out.strip().splitlines()[-1]) == "ok\n" * len(sets), out
    after = {(spi, dst): seq for spi, dst, _direction, seq in sequence_state(docker_client, lab, standby)}
    assert all(after[(spi, dst)] >= seq + 7 for spi, dst, _direction, seq in before), (before, after)


def test_node_kill_keeps_the_same_child_sas_without_replay_drops(docker_client, lab: str) -> None:
    verdict = failover(open_lab(DockerLab(docker_client, lab)), "node-kill")
    assert verdict.verdict == "pass", explain(verdict)
    assert verdict.ike_sa_preserved is True, explain(verdict)
    assert verdict.child_sa == "same", explain(verdict)  # same SPIs: no rekey at the takeover
    assert verdict.peer_log.get("replay_drops", 0) == 0, explain(verdict)
    assert all(ms > 0 for ms in verdict.outage_ms.values()), explain(verdict)

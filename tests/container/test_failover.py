"""Failover verdicts against real labs: real charon, real HSRP sidecars, real packets through real ESP.

One lab per variant (the correct configuration, each known-bad `--sabotage`, stateless), brought up from
the topology under test (LABCTL_TEST_TOPOLOGY, default the shipped dual-interface.yaml) and always
brought down. A verdict is only worth something if it can fail: each sabotage must FAIL with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import docker
import pytest

from labctl.experiment import faults
from labctl.experiment.failover import failover, failover_and_back
from labctl.experiment.probe import run_probe
from labctl.experiment.verdict import Verdict
from labctl.lab import load, open_lab, up
from labctl.runtime.docker.engine import DockerEngine
from labctl.runtime.docker.handle import DockerLab, DockerNode

from .conftest import topology_path

pytestmark = pytest.mark.docker
CLI = [sys.executable, "-m", "labctl.cli"]


class Labs:
    """At most one lab of the topology at a time: asking for another variant replaces the running one."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.path = topology_path()
        self.name = load(self.path).name
        self.current: tuple | None = None

    def get(self, sabotage: tuple[str, ...] = ()) -> str:
        if self.current != sabotage:
            DockerEngine(self.client).down(self.name)
            self.current = None
            up(self.path, sabotage, timeout=120, engine=DockerEngine(self.client))
            self.current = sabotage
        return self.name

    def down(self) -> None:
        DockerEngine(self.client).down(self.name)


@pytest.fixture(scope="module")
def labs(docker_client: docker.DockerClient) -> Iterator[Labs]:
    manager = Labs(docker_client)
    try:
        yield manager
    finally:
        manager.down()


def explain(verdict: Verdict) -> str:
    """The verdict, and where each direction lost packets (ms after the fault): what a flaky failure needs."""
    fault_at = verdict.timeline.get("fault_at") or 0.0
    runs = {d.get("name"): [(round((r["at"] - fault_at) * 1000), r["ms"], r["lost"]) for r in d.get("loss_runs", [])]
            for d in verdict.probe.get("directions", [])}
    return (f"{verdict.verdict}: {verdict.reasons} outage={verdict.outage_ms} child={verdict.child_sa} "
            f"loss runs (at ms, ms, lost)={runs}")


# ---------------------------------------------------------------- the correct configuration


def test_probe_counts_every_packet_both_ways(labs: Labs, docker_client) -> None:
    lab = labs.get()
    result = run_probe(open_lab(DockerLab(docker_client, lab)), rate=2000, duration=2.0)
    assert len(result.directions) == 2
    for d in result.directions:
        assert d.sent >= 3000, d
        assert d.received >= d.sent * 0.99, d  # a healthy tunnel loses (almost) nothing
        assert d.duplicated == 0


def test_node_kill_of_the_active_passes_with_the_ike_sa_preserved(labs: Labs, docker_client) -> None:
    verdict = failover(open_lab(DockerLab(docker_client, labs.get())), "node-kill")
    assert verdict.passed, explain(verdict)
    assert verdict.ike_sa_preserved is True
    assert verdict.child_sa in ("same", "rekeyed")
    assert verdict.new_active != verdict.old_active
    assert all(ms > 0 for ms in verdict.outage_ms.values()) and len(verdict.outage_ms) == 2
    assert verdict.peer_log["new_ike_sa"] == 0
    # liveness: the peer's own CHILD_SA rekey was answered through the new Active, under the same IKE SA
    peer = next(iter(load(topology_path()).peers))
    assert verdict.liveness[peer]["answered"] is True, verdict.liveness
    assert 0 <= verdict.liveness[peer]["ms"] < 6000
    assert "parsed CREATE_CHILD_SA response" in verdict.liveness[peer]["detail"]


def test_outside_link_down_passes(labs: Labs, docker_client) -> None:
    verdict = failover(open_lab(DockerLab(docker_client, labs.get())), "link-down", link="outside")
    assert verdict.passed, explain(verdict)
    assert verdict.ike_sa_preserved is True
    assert verdict.new_active != verdict.old_active
    assert faults.list_faults(open_lab(DockerLab(docker_client, labs.name))) == []  # recovered: the link is up again


def test_recovery_with_preempt_is_judged_and_keeps_the_ike_sa(labs: Labs, docker_client) -> None:
    """Kill the Active, then start it again: it waits for STANDBY HOT, preempts, and the peer keeps the
    same IKE SA through both moves (the way back is measured under traffic like the failover)."""
    verdict = failover_and_back(open_lab(DockerLab(docker_client, labs.get())), "node-kill", rate=500)
    assert verdict.passed, explain(verdict)
    back = verdict.recovery
    assert back is not None and back["verdict"] == "pass", back["reasons"]
    assert (verdict.old_active, verdict.new_active) == (back["new_active"], back["old_active"])  # there and back
    assert back["ike_sa_preserved"] is True and back["peer_log"]["new_ike_sa"] == 0
    assert back["converged"] and all(ms > 0 for ms in back["outage_ms"].values())
    assert verdict.ike_sa_preserved is True and verdict.active_after == verdict.old_active
    assert all(check["answered"] for check in back["liveness"].values()) and back["liveness"], back["liveness"]


def test_loss_on_the_outside_link_moves_nothing_and_keeps_the_sessions(labs: Labs, docker_client) -> None:
    verdict = failover(open_lab(DockerLab(docker_client, labs.get())), "loss", link="outside", percent=10, rate=500)
    assert verdict.passed, explain(verdict)
    assert verdict.ike_sa_preserved is True and verdict.new_active == verdict.old_active
    assert verdict.lost_packets > 0  # the loss was real: nftables numgen (or netem) dropped probe packets


def test_failover_cli_exit_code_and_json(labs: Labs) -> None:
    lab = labs.get()
    out = subprocess.run([*CLI, "failover", lab, "--fault", "node-stop", "--json"],
                         capture_output=True, text=True, timeout=300)
    data = json.loads(out.stdout)
    assert out.returncode == (0 if data["verdict"] == "pass" else 1), out.stderr
    assert data["verdict"] == "pass", data["reasons"]


def test_faults_are_listed_from_live_state_and_undone(labs: Labs, docker_client) -> None:
    """Last on the correct lab: 30 % loss on the sync link can cost the standby an IKE message-ID update
    (the ha plugin does not retransmit), which a later takeover would pay for."""
    lab = labs.get()
    running = open_lab(DockerLab(docker_client, lab))
    topo = running.topo
    active = running.active_gateway()
    standby = next(n for n in topo.ha.nodes if n != active)
    faults.inject(running, "loss", standby, "sync", 30)
    faults.inject(running, "sync-partition", standby)
    faults.inject(running, "node-stop", "remote1")
    found = {(f.fault, f.node, f.link, f.percent) for f in faults.list_faults(running)}
    assert found == {("loss", standby, "sync", 30), ("sync-partition", standby, None, None),
                     ("node-stop", "remote1", None, None)}
    cli = subprocess.run([*CLI, "fail", lab, "loss", "--undo", "--node", standby,
                          "--link", "sync", "--json"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    faults.undo(running, "sync-partition")
    faults.undo(running, "node-stop")
    assert faults.list_faults(running) == []
    code, out = DockerNode(docker_client, lab, standby).exec(["nft", "list", "tables"])
    assert faults.NFT_TABLE not in out
    faults.wait_whole(running)


# ---------------------------------------------------------------- known-bad variants must fail


# no-sync, no-rekey and no-rri each fail for their reason in CI's `make matrix-quick` (labctl/matrices/quick.yaml),
# a lab and a failover each: the same check here would only add their two minutes to CI.


def reason_kinds(verdict: Verdict) -> set[str]:
    """What each reason is about (the start of its text, as the README's table lists them)."""
    kinds = {"outage ": "outage", "steady loss after the takeover": "steady loss",
             "IKE SA does not work through the new Active": "liveness", "ESP replay drops on the peer": "replay"}
    return {next((kind for start, kind in kinds.items() if r.startswith(start)), r) for r in verdict.reasons}


def takeover_sabotage_lab(labs: Labs, docker_client, sabotage: str):
    running = open_lab(DockerLab(docker_client, labs.get((sabotage,))))
    assert faults.list_faults(running) == []  # the sabotage's nft table is no fault
    return running


def test_slow_takeover_fails_for_the_outage(labs: Labs, docker_client) -> None:
    """The gateway that takes over claims the VIPs 1.5 s late: a blackout inside the old flat 3 s budget,
    over the derived one (hold + allowance); the IKE SA is kept and works. The peer may also drop a few of
    the late Active's first packets as replays before the takeover rekey lands: a consequence, reported."""
    verdict = failover(takeover_sabotage_lab(labs, docker_client, "slow-takeover"), "node-kill")
    assert verdict.verdict == "fail" and "outage" in reason_kinds(verdict), explain(verdict)
    assert reason_kinds(verdict) <= {"outage", "replay"}, explain(verdict)
    assert verdict.sabotage == ["slow-takeover"] and verdict.budget["max_outage_ms"] < 1000
    assert all(verdict.max_outage_ms < ms < 3000 for ms in verdict.outage_ms.values()), explain(verdict)
    assert verdict.ike_sa_preserved is True and verdict.child_sa in ("same", "rekeyed")
    assert all(check["answered"] for check in verdict.liveness.values()) and verdict.liveness


def test_lossy_takeover_fails_for_the_steady_loss_only(labs: Labs, docker_client) -> None:
    """The gateway that takes over drops 20 % of the ESP on the crypto VIP: after the takeover, both ways."""
    running = takeover_sabotage_lab(labs, docker_client, "lossy-takeover")
    standby = next(n for n in running.topo.ha.nodes if n != running.active_gateway())
    code, out = DockerNode(docker_client, labs.name, standby).exec(["nft", "list", "table", "inet", "labctl_sabotage"])
    assert code == 0 and "lossy-takeover" in out, out
    verdict = failover(running, "node-kill")
    assert verdict.verdict == "fail" and reason_kinds(verdict) == {"steady loss"}, explain(verdict)
    assert all(5.0 < loss["after_percent"] < 40.0 for loss in verdict.loss.values()), verdict.loss
    assert verdict.ike_sa_preserved is True


def test_mute_ike_fails_for_the_dead_ike_sa_only(labs: Labs, docker_client) -> None:
    """The gateway that takes over answers no IKE request: ESP flows on the synced SAs, the IKE SA is held,
    but the peer's CHILD_SA rekey gets no answer. Liveness is the reason this variant must fail for; CI once
    also saw a steady ESP loss after it (3 %, not reproduced since by hand or under CPU load): reported, not
    the point, so tolerated, and `explain` prints the loss runs should it come back."""
    verdict = failover(takeover_sabotage_lab(labs, docker_client, "mute-ike"), "node-kill")
    assert verdict.verdict == "fail" and "liveness" in reason_kinds(verdict), explain(verdict)
    assert reason_kinds(verdict) <= {"liveness", "steady loss"}, explain(verdict)
    assert verdict.ike_sa_preserved is True and verdict.child_sa in ("same", "rekeyed")
    assert [check["answered"] for check in verdict.liveness.values()] == [False]
    assert any(r.startswith("IKE SA does not work through the new Active: peer's CHILD_SA rekey got no answer "
                            "within 6 s") for r in verdict.reasons), explain(verdict)


# stateless node kill (renegotiated, IKE SA not kept, reported): a cell of matrix-quick too.

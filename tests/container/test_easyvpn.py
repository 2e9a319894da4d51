"""Easy VPN stateful failover on real containers: real charon clients (IKEv1 aggressive, XAuth, mode-config),
the HA pair with the synced pool, FreeRADIUS, real packets.

Two labs, one after the other: the shipped topologies/easy-vpn.yaml (local XAuth) for the failover, and
tests/container/topologies/easyvpn-failures.yaml (RADIUS XAuth + accounting, failing clients, a small pool).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import docker
import pytest
from netaddr import IPAddress, IPNetwork

from labctl.experiment.failover import failover
from labctl.experiment.faults import wait_whole
from labctl.lab import lab_status, load, open_lab
from labctl.model.topology import Topology
from labctl.nodes import client as ezclient
from labctl.runtime.docker.handle import DockerLab, DockerNode

pytestmark = pytest.mark.docker


def all_reports(client: docker.DockerClient, topo: Topology) -> list[dict]:
    return ezclient.reports(topo, DockerLab(client, topo.name))


def report(client: docker.DockerClient, topo: Topology, name: str) -> dict:
    return ezclient.report(topo, DockerNode(client, topo.name, name))

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "topologies" / "easy-vpn.yaml"
FAILURES = ROOT / "tests" / "container" / "topologies" / "easyvpn-failures.yaml"


def rri(client: docker.DockerClient, lab: str, node: str) -> set[str]:
    code, out = DockerNode(client, lab, node).exec(["ip", "-4", "route", "show", "proto", "77"])
    assert code == 0, out
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def wait_for(check, timeout: float = 30.0, interval: float = 0.3):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# ------------------------------------------------------------------ shipped lab: local XAuth, failover


def test_clients_connect_and_survive_node_kill(docker_client: docker.DockerClient, lab_factory) -> None:  # type: ignore[no-untyped-def]
    lab = lab_factory(SHIPPED)
    topo = load(SHIPPED)
    pool = IPNetwork(str(topo.easyvpn.pool.subnet))  # type: ignore[union-attr]

    reports = {r["name"]: r for r in all_reports(docker_client, topo)}
    vips = {name: r["virtual_ip"] for name, r in reports.items()}
    assert all(r["state"] == "connected" for r in reports.values()), reports
    assert all(IPAddress(v) in pool for v in vips.values()) and len(set(vips.values())) == 3, vips

    # reverse-route remote-peer: a host route per connected client on the Active only
    active = open_lab(DockerLab(docker_client, topo.name)).active_gateway()
    standby = next(n for n in topo.ha.nodes if n != active)
    assert wait_for(lambda: rri(docker_client, lab, active) == set(vips.values())), rri(docker_client, lab, active)
    assert rri(docker_client, lab, standby) == set()

    status = lab_status(DockerLab(docker_client, lab))
    assert {c["name"]: c["virtual_ip"] for c in status["easyvpn_clients"]} == vips

    verdict = failover(open_lab(DockerLab(docker_client, lab)), fault="node-kill", rate=300)
    print(f"\nnode-kill {verdict.old_active}->{verdict.new_active}: outage {verdict.outage_ms} ms, "
          f"converged {verdict.converge_ms} ms")
    assert verdict.passed, verdict.reasons
    assert verdict.ike_sa_preserved and verdict.child_sa in ("same", "rekeyed")
    after = {c["name"]: c for c in verdict.sa_after}
    for name, before in reports.items():
        assert after[name]["virtual_ip"] == before["virtual_ip"]
        assert after[name]["ike_sa"]["initiator_spi"] == before["ike_sa"]["initiator_spi"]
        assert after[name]["ike_sa"]["responder_spi"] == before["ike_sa"]["responder_spi"]
    assert set(verdict.rri[verdict.new_active]) == set(vips.values())  # type: ignore[index]
    assert len(verdict.outage_ms) == 6  # both directions for each of the three clients


# ------------------------------------------------------------------ RADIUS, failures, pool leases


@pytest.fixture(scope="module")
def failures_lab(docker_client: docker.DockerClient, lab_factory) -> str:  # type: ignore[no-untyped-def]
    return lab_factory(FAILURES)


def test_failing_clients_report_clear_reasons(docker_client: docker.DockerClient, failures_lab: str) -> None:
    topo = load(FAILURES)

    def read() -> dict[str, dict]:
        return {c["name"]: c for c in lab_status(DockerLab(docker_client, failures_lab))["easyvpn_clients"]}

    seen: dict[str, dict] = {}  # each failing client's latest `failed` status

    def failures_shown() -> dict[str, dict] | None:
        """Every client's status once each failing client has shown `failed`. A failing client retries; caught
        mid-attempt (an IKE SA being set up) it is still `failed` when nothing came up since its last failure,
        but its first attempt may not have failed yet at the first look."""
        status = read()
        seen.update({name: status[name] for name in ("client2", "client3") if status[name]["state"] == "failed"})
        return status if len(seen) == 2 else None

    status = {**(wait_for(failures_shown, timeout=60.0) or read()), **seen}
    for good in ("client1", "client4", "client5", "client6", "client7"):
        assert status[good]["state"] == "connected", status[good]
    assert status["client2"]["state"] == "failed" and "XAuth failed" in status["client2"]["reason"]
    assert status["client3"]["state"] == "failed" and "group" in status["client3"]["reason"]
    assert status["client8"]["state"] == "idle" and status["client8"]["reason"] is None
    assert len({status[n]["virtual_ip"] for n in ("client1", "client4", "client5", "client6", "client7")}) == 5
    # the failures did not touch the others: each good client still has its first IKE SA
    for good in ("client1", "client4"):
        code, out = DockerNode(docker_client, topo.name, good).exec(["swanctl", "--list-sas"])
        assert "ezvpn: #1, ESTABLISHED" in out, out


def test_radius_xauth_and_accounting_from_the_shared_nas(docker_client: docker.DockerClient, failures_lab: str) -> None:
    topo = load(FAILURES)
    nas = str(topo.easyvpn.radius.nas_ip)  # type: ignore[union-attr]
    log = DockerNode(docker_client, failures_lab, "radius").exec(["cat", "/var/log/freeradius/debug.log"])[1]
    assert re.search(rf"Sent Access-Accept .* to {re.escape(nas)}:", log), log[-2000:]
    assert re.search(rf"Sent Access-Reject .* to {re.escape(nas)}:", log)  # bob's wrong password

    def detail() -> str:
        return DockerNode(docker_client, failures_lab, "radius").exec(
                               ["sh", "-c", f"cat /var/log/freeradius/radacct/{nas}/detail-*"])[1]

    def records(kind: str, user: str) -> int:
        return sum(1 for record in detail().split("\n\n")
                   if f"Acct-Status-Type = {kind}" in record and f'User-Name = "{user}"' in record)

    def reconnect(name: str) -> None:
        """client1 (dpd_action restart / start_action start) is not reconnected by charon after a terminate."""
        DockerNode(docker_client, failures_lab, name).exec(["swanctl", "--initiate", "--child", "ez"], timeout=30)
        assert wait_for(lambda: report(docker_client, topo, name)["state"] == "connected")

    assert wait_for(lambda: records("Start", "alice") >= 1)
    # A session that started on the other gateway before a preempt moved it has no accounting record on the
    # new Active (strongSwan's RADIUS accounting state is not synced): start alice's session afresh on the
    # gateway that is Active once the lab is whole, then its Start and its Stop both come from the shared NAS.
    wait_whole(open_lab(DockerLab(docker_client, failures_lab)))
    DockerNode(docker_client, failures_lab, "client1").exec(["swanctl", "--terminate", "--ike", "ezvpn"])
    reconnect("client1")
    starts, stops = records("Start", "alice"), records("Stop", "alice")
    assert starts >= 2, detail()[-1500:]
    code, out = DockerNode(docker_client, failures_lab, "client1").exec(["swanctl", "--terminate", "--ike", "ezvpn"])
    assert code == 0, out
    assert wait_for(lambda: records("Stop", "alice") > stops), detail()[-1500:]
    reconnect("client1")


def test_leases_survive_failover_and_pool_exhaustion_is_reported(
        docker_client: docker.DockerClient, failures_lab: str) -> None:
    topo = load(FAILURES)
    held = {r["name"]: r["virtual_ip"] for r in all_reports(docker_client, topo) if r["state"] == "connected"}
    assert len(held) == 5, held
    verdict = failover(open_lab(DockerLab(docker_client, failures_lab)), fault="node-kill", rate=200, recover=False)
    assert verdict.passed, verdict.reasons
    # the new Active knows the leases it never handed out itself: client8 gets the one address left
    code, out = DockerNode(docker_client, failures_lab, "client8").exec(["swanctl", "--initiate", "--child", "ez"],
                                timeout=30)
    report8 = wait_for(lambda: (r := report(docker_client, topo, "client8"))["state"] == "connected" and r)
    assert report8, out
    assert report8["virtual_ip"] not in held.values()
    # ... and XAuth'd heidi against RADIUS from the same NAS address the old Active used
    nas = str(topo.easyvpn.radius.nas_ip)  # type: ignore[union-attr]
    log = DockerNode(docker_client, failures_lab, "radius").exec(["cat", "/var/log/freeradius/debug.log"])[1]
    sources = set(re.findall(r"Received Access-Request Id \d+ from ([\d.]+):", log))
    assert sources == {nas}, sources
    assert 'User-Name = "heidi"' in log
    assert IPAddress(report8["virtual_ip"]) in IPNetwork(str(topo.easyvpn.pool.subnet))  # type: ignore[union-attr]
    # the pool is exhausted now: client9 is told so, and nobody else is disturbed
    DockerNode(docker_client, failures_lab, "client9").exec(["swanctl", "--initiate", "--child", "ez"], timeout=30)
    report9 = wait_for(lambda: (r := report(docker_client, topo, "client9"))["reason"] and r, timeout=30)
    assert report9 and report9["state"] != "connected", report9
    assert "virtual IP" in report9["reason"], report9
    now = {r["name"]: r["virtual_ip"] for r in all_reports(docker_client, topo) if r["state"] == "connected"}
    assert {n: now.get(n) for n in held} == held

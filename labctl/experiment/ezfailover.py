"""`labctl failover` for a remote-access lab: every Easy VPN client is a judge.

Same procedure as the site-to-site verdict (`verdict.failover`), but the parties that would have to
re-negotiate are the clients: a probe runs between the inside host and each connected client's virtual
IP (both directions); before and after the fault each client's IKE SA (SPIs + unique id) and virtual IP
are recorded from the client's own charon, and `reverse-route remote-peer` must follow the Active node.
"""

from __future__ import annotations

import time
from typing import Any

import docker

from labctl.agent.probe import PORT
from labctl.controller.faults import wait_whole
from labctl.controller.probe import DEFAULT_RATE, ProbeResult, TrafficProbe
from labctl.controller.verdict import (
    SETTLE,
    Verdict,
    await_convergence,
    choose_fault,
    count_log_events,
    inject_fault,
    no_takeover_reason,
    note_no_takeover,
    peer_log_since,
    peer_log_size,
    record_final_state,
)
from labctl.easyvpn import client_reports, inside_host
from labctl.errors import LabctlError
from labctl.model.topology import Topology

BASELINE = 1.0


def readdressed(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Clients now connected with another virtual IP than before: name -> (old, new)."""
    moved = {}
    for name, old in before.items():
        new_vip = (after.get(name) or {}).get("virtual_ip")
        if new_vip and new_vip != old.get("virtual_ip"):
            moved[name] = (old.get("virtual_ip"), new_vip)
    return moved


def clients_flowing(client: docker.DockerClient, topo: Topology, probes: dict[str, TrafficProbe],
                    before: dict[str, dict[str, Any]], inside: str, since: float) -> bool:
    """Traffic flows to and from every client. A client that re-negotiated and got another virtual IP
    (stateless: no lease sync) can only be judged from its own stream: the inside host still sends to the
    old address, on purpose, since the probe measures what a session that kept its address would see."""
    if topo.redundancy == "stateful":
        return all(p.flowing(since=since) for p in probes.values())
    now = {r["name"]: r for r in client_reports(client, topo) if r["state"] == "connected"}
    moved = readdressed(before, now)
    return all(name in now and probe.flowing(since=since, receivers=[inside] if name in moved else None)
               for name, probe in probes.items())


def judge_clients(verdict: Verdict, before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
                  probes: dict[str, ProbeResult], client_logs: dict[str, dict[str, int]], expect_move: bool) -> None:
    """Fill the verdict from what each client held before/after, its probe and its log (pure)."""
    reasons = verdict.reasons
    stateful = verdict.mode == "stateful"
    preserved, child_states = True, []
    for name, old in before.items():
        new = after.get(name) or {}
        old_sa, new_sa = old.get("ike_sa") or {}, new.get("ike_sa") or {}
        same_ike = bool(new_sa) and all(old_sa.get(k) == new_sa.get(k)
                                        for k in ("uniqueid", "initiator_spi", "responder_spi"))
        same_ike = same_ike and client_logs.get(name, {}).get("new_ike_sa", 0) == 0
        preserved &= same_ike
        old_spis = {(c["spi_in"], c["spi_out"]) for c in old_sa.get("child_sas", []) if c.get("state") == "INSTALLED"}
        new_spis = {(c["spi_in"], c["spi_out"]) for c in new_sa.get("child_sas", []) if c.get("state") == "INSTALLED"}
        child = "lost" if not new_spis else "renegotiated" if not same_ike else \
            "same" if new_spis & old_spis else "rekeyed"
        child_states.append(child)
        if stateful and not same_ike:
            reasons.append(f"{name}: IKE SA not preserved (" + (
                "no IKE SA any more" if not new_sa else "the client negotiated a new IKE SA") + ")")
        if stateful and new.get("virtual_ip") != old.get("virtual_ip"):  # stateless: no lease sync, by design
            reasons.append(f"{name}: virtual IP {old.get('virtual_ip')} -> {new.get('virtual_ip') or 'none'} "
                           "(the pool lease did not survive)")
        if stateful and child not in ("same", "rekeyed"):
            reasons.append(f"{name}: CHILD_SA {child}")
    verdict.ike_sa_preserved = preserved
    order = ["lost", "renegotiated", "rekeyed", "same"]
    verdict.child_sa = min(child_states, key=order.index) if child_states else "lost"
    verdict.outage_ms = {d.name: d.longest_gap_ms for p in probes.values() for d in p.directions}
    verdict.lost_packets = sum(d.lost for p in probes.values() for d in p.directions)
    verdict.probe = {name: p.to_dict() for name, p in probes.items()}
    verdict.peer_log = {k: sum(log.get(k, 0) for log in client_logs.values())
                        for k in {k for log in client_logs.values() for k in log}}
    if not verdict.converged:
        reasons.append("no convergence: traffic did not flow both ways between the inside host and every client "
                       "with an Active gateway before the timeout")
    if verdict.new_active is None:
        reasons.append("no gateway is HSRP Active after the fault")
    elif expect_move and verdict.new_active == verdict.fault_node:
        reasons.append(no_takeover_reason(verdict))
    if not stateful:
        for name, (old_vip, new_vip) in readdressed(before, after).items():
            for direction in [d for d in verdict.outage_ms if d.endswith(f"->{name}")]:
                verdict.notes.append(f"{name} re-negotiated with another virtual IP ({old_vip} -> {new_vip}, no "
                                     f"lease sync when stateless): {direction} sent to the old address, its "
                                     f"{verdict.outage_ms.pop(direction):.0f} ms silence is not an outage")
    for direction, ms in verdict.outage_ms.items():
        if ms > verdict.max_outage_ms:
            reasons.append(f"outage {direction} {ms:.0f} ms > {verdict.max_outage_ms:.0f} ms allowed")
    if verdict.new_active and verdict.rri:
        want = {str(c.get("virtual_ip")) for c in after.values() if c.get("virtual_ip")}
        holder = verdict.route_holder
        missing = sorted(want - set(verdict.rri.get(holder, [])))
        if missing:
            reasons.append(f"RRI: new active {holder} has no route to client(s) {', '.join(missing)} "
                           "(reverse-route remote-peer did not follow the takeover)")
        for node, routes in verdict.rri.items():
            if node != holder and routes:
                reasons.append(f"RRI: {node} is not Active but still injects {', '.join(routes)}")
    verdict.verdict = "fail" if reasons else "pass"


def failover_clients(
    client: docker.DockerClient, topo: Topology, sabotage: tuple[str, ...], fault: str, node: str | None,
    link: str | None, rate: float = DEFAULT_RATE, max_outage_ms: float | None = None,
    converge_timeout: float | None = None, recover: bool = True, progress: Any = lambda _m: None,
    percent: int | None = None,
) -> Verdict:
    """Run one failover experiment on a running Easy VPN lab, judged by every connected client."""
    lab = topo.name
    target = inside_host(topo)
    if target is None:
        raise LabctlError(f"lab {lab} has no host in the split-include networks to probe the clients from")
    chosen, old_active, expect_move = choose_fault(client, topo, fault, node, link, percent, progress)
    before = {r["name"]: r for r in client_reports(client, topo) if r["state"] == "connected"}
    if not before:
        raise LabctlError(f"lab {lab}: no Easy VPN client is connected: nothing to judge")
    timeout = converge_timeout or topo.failover.converge_timeout / 1000
    stateful = topo.redundancy == "stateful"
    if max_outage_ms is None:
        max_outage_ms = topo.failover.max_outage_ms if stateful else timeout * 1000
    verdict = Verdict(lab, topo.redundancy, list(sabotage), chosen.describe(), chosen.node, old_active, None,
                      max_outage_ms=float(max_outage_ms))
    verdict.sa_before = list(before.values())
    log_offsets = {name: peer_log_size(client, lab, name) for name in before}
    per_client_rate = max(1.0, rate / len(before))
    probes = {name: TrafficProbe(client, topo, per_client_rate, max_duration=timeout + 60, port=PORT + 1 + i,
                                 endpoints=((target[0], report["virtual_ip"]), (name, target[1])))
              for i, (name, report) in enumerate(before.items())}
    progress(f"probe at {per_client_rate:.0f} pps both ways between {target[0]} and each of {', '.join(before)}")
    results: dict[str, ProbeResult] = {}
    try:
        for probe in probes.values():
            probe.start()
        time.sleep(BASELINE)
        idle = [name for name, probe in probes.items() if not probe.flowing(since=0.0, fresh=0.5)]
        if idle:
            raise LabctlError(f"no probe traffic to {', '.join(idle)} before the fault: the lab is not healthy")
        progress(f"injecting {chosen.describe()}")
        fault_at = time.monotonic()
        verdict.timeline = {"fault_at": round(time.time(), 3)}
        inject_fault(chosen, verdict)
        taken_over_by = await_convergence(
            client, topo, verdict, chosen.node, expect_move, fault_at, fault_at + timeout,
            lambda: clients_flowing(client, topo, probes, before, target[0], since=fault_at + 0.05))
        progress("converged" if verdict.converged else "no convergence before the timeout")
        time.sleep(SETTLE)
    finally:
        for name, probe in probes.items():
            if probe.started_at is not None:
                results[name] = probe.stop()
    record_final_state(client, topo, verdict, taken_over_by)
    after = {r["name"]: r for r in client_reports(client, topo)}
    verdict.sa_after = [after[name] for name in before if name in after]
    logs = {name: count_log_events(peer_log_since(client, lab, name, offset)) for name, offset in log_offsets.items()}
    judge_clients(verdict, before, after, results, logs, expect_move)
    note_no_takeover(verdict, chosen)
    if not stateful:
        verdict.notes.append("stateless redundancy: no state sync, clients must re-negotiate (DPD)")
    if recover and not verdict.is_recovery:
        progress("recovering the lab (undo, preempt)")
        if not chosen.instant:
            chosen.undo()
        wait_whole(client, topo)
    return verdict

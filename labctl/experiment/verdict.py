"""`labctl failover`: break the active gateway under traffic and judge what survived.

Procedure: the lab must be whole; start the probe (both directions); record the SA identity the
remote peer holds (IKE SPIs + unique id, CHILD SPIs) and where its log ends; inject the fault; wait
until a gateway is Active again, the peer has an installed CHILD_SA and traffic flows both ways; let
it run a little longer (the post-takeover rekey happens then); stop the probe; compare. The peer is
the judge: it is the party that would have to re-negotiate if the state did not survive.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import docker

from labctl.controller.faults import Fault, make_fault, preferred_gateway, wait_whole
from labctl.controller.probe import DEFAULT_RATE, ProbeResult, TrafficProbe
from labctl.errors import LabctlError
from labctl.model.topology import Topology
from labctl.orchestrate import active_gateway, load_running
from labctl.runtime.docker import lab as runtime
from labctl.status import node_sas

PEER_LOG = "/var/log/charon.log"
SETTLE = 2.0  # seconds of probing after convergence (the sequence-continuity rekey happens here)
BASELINE = 1.0  # seconds of probing before the fault

# what the peer's charon log says happened (IKE level 1)
LOG_PATTERNS = {
    "new_ike_sa": re.compile(r"IKE_SA_INIT|initiating (Main|Aggressive) Mode|ID_PROT request|AGGRESSIVE request"),
    "child_rekey": re.compile(r"CREATE_CHILD_SA (request|response)|QUICK_MODE (request|response)"),
    "replay_drops": re.compile(r"sequence number verification failed|replay", re.IGNORECASE),
    "dpd": re.compile(r"sending DPD request|DPD"),
    "retransmit_give_up": re.compile(r"giving up after \d+ retransmits"),
}


@dataclass
class SaIdentity:
    """The identity of one IKE SA and its CHILD SAs as a peer holds it."""

    name: str
    uniqueid: str | None
    initiator_spi: str | None
    responder_spi: str | None
    state: str | None
    children: list[dict[str, Any]] = field(default_factory=list)  # name, uniqueid, state, spi_in, spi_out

    @classmethod
    def from_sa(cls, sa: dict[str, Any]) -> SaIdentity:
        return cls(sa["name"], sa.get("uniqueid"), sa.get("initiator_spi"), sa.get("responder_spi"), sa.get("state"),
                   [{k: c.get(k) for k in ("name", "uniqueid", "state", "spi_in", "spi_out")}
                    for c in sa.get("child_sas", [])])

    def same_ike(self, other: SaIdentity) -> bool:
        return (self.uniqueid, self.initiator_spi, self.responder_spi) == \
            (other.uniqueid, other.initiator_spi, other.responder_spi)

    def installed_spis(self) -> set[tuple[str, str]]:
        return {(c["spi_in"], c["spi_out"]) for c in self.children if c.get("state") == "INSTALLED"}


def established(sas: list[dict[str, Any]]) -> list[SaIdentity]:
    return [SaIdentity.from_sa(sa) for sa in sas if sa.get("state") == "ESTABLISHED"]


def count_log_events(text: str) -> dict[str, int]:
    return {name: len(pattern.findall(text)) for name, pattern in LOG_PATTERNS.items()}


def classify(before: list[SaIdentity], after: list[SaIdentity], log: dict[str, int]) -> tuple[bool, str]:
    """(ike_sa_preserved, child_sa) from the peer's SAs before/after and its log in between.

    child_sa: `same` (same IKE SA, same CHILD SPIs), `rekeyed` (same IKE SA, new CHILD SPIs),
    `renegotiated` (a new IKE SA carries the CHILD SA), `lost` (no installed CHILD SA afterwards).
    """
    if not before:
        raise LabctlError("the peer had no established IKE SA before the fault: nothing to judge")
    old = before[0]
    kept = next((sa for sa in after if sa.same_ike(old)), None)
    ike_preserved = kept is not None and log.get("new_ike_sa", 0) == 0
    if not any(sa.installed_spis() for sa in after):
        return ike_preserved, "lost"
    if kept is None or not kept.installed_spis():
        return ike_preserved, "renegotiated"
    if kept.installed_spis() & old.installed_spis():
        return ike_preserved, "same"
    return ike_preserved, "rekeyed"


@dataclass
class Verdict:
    lab: str
    mode: str  # stateful | stateless (what the lab runs)
    sabotage: list[str]
    fault: str
    fault_node: str
    old_active: str | None
    new_active: str | None  # the gateway that took over (as of convergence)
    verdict: str = "fail"  # pass | fail
    active_after: str | None = None  # Active at the end (after a crash the node may have preempted back)
    ike_sa_preserved: bool = False
    child_sa: str = "lost"
    outage_ms: dict[str, float] = field(default_factory=dict)  # per direction: longest gap
    lost_packets: int = 0
    converged: bool = False
    converge_ms: float | None = None  # fault -> active again, CHILD_SA installed, traffic both ways
    max_outage_ms: float = 0.0
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    peer_log: dict[str, int] = field(default_factory=dict)
    rri: dict[str, list[str]] = field(default_factory=dict)
    sa_before: list[dict[str, Any]] = field(default_factory=list)
    sa_after: list[dict[str, Any]] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)
    # wall-clock instants for timeline plots: probe_start, fault_at, converged_at, probe_end
    timeline: dict[str, float | None] = field(default_factory=dict)
    recovery: dict[str, Any] | None = None  # the way back (undo, preempt), judged the same way

    @property
    def is_recovery(self) -> bool:
        return self.fault.startswith("recover")

    @property
    def route_holder(self) -> str | None:
        """The gateway RRI is judged against: Active at the end, else the one that took over."""
        return self.active_after or self.new_active

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def no_takeover_reason(verdict: Verdict) -> str:
    if verdict.is_recovery:
        return f"no preemption: {verdict.fault_node} is still Active after the recovery"
    return f"the faulted node {verdict.fault_node} is still Active: no takeover happened"


def judge(verdict: Verdict, probe: ProbeResult, expect_move: bool, rri_expected: list[str],
          rri_enabled_in_topology: bool) -> None:
    """Fill in the outcome and the reasons for a fail (pure: from what was measured)."""
    verdict.outage_ms = {d.name: d.longest_gap_ms for d in probe.directions}
    verdict.lost_packets = sum(d.lost for d in probe.directions)
    verdict.probe = probe.to_dict()
    reasons = verdict.reasons
    if not verdict.converged:
        reasons.append("no convergence: traffic did not flow both ways with an Active gateway and an installed "
                       "CHILD_SA on the peer before the timeout")
    if verdict.new_active is None:
        reasons.append("no gateway is HSRP Active after the fault")
    elif expect_move and verdict.new_active == verdict.fault_node:
        reasons.append(no_takeover_reason(verdict))
    stateful = verdict.mode == "stateful"
    if stateful and not verdict.ike_sa_preserved:
        seen = verdict.peer_log.get("new_ike_sa", 0)
        reasons.append("IKE SA not preserved: the peer " + (
            f"negotiated a new IKE SA (IKE_SA_INIT seen {seen}x in its log)" if seen else
            "no longer holds the IKE SA it had (SPIs/unique id changed)") +
            " — the standby had no synchronised IKE/IPsec state")
    if stateful and verdict.child_sa not in ("same", "rekeyed"):
        reasons.append(f"CHILD_SA {verdict.child_sa} (a stateful takeover keeps or rekeys it)")
    if not stateful and verdict.child_sa == "lost":
        reasons.append("CHILD_SA lost: the peer did not re-negotiate the tunnel")
    over = {name: ms for name, ms in verdict.outage_ms.items() if ms > verdict.max_outage_ms}
    for name, ms in over.items():
        reasons.append(f"outage {name} {ms:.0f} ms > {verdict.max_outage_ms:.0f} ms allowed")
    replays = verdict.peer_log.get("replay_drops", 0)
    moved = verdict.new_active is not None and verdict.new_active != verdict.old_active
    if stateful and moved and verdict.ike_sa_preserved and verdict.child_sa == "same" and replays:
        # the ha plugin does not sync ESP sequence numbers here: only a CHILD_SA rekey after the takeover
        # restores continuity; without it the peer drops the new active's packets until its counter catches up
        reasons.append(f"ESP sequence continuity not restored: the CHILD_SA was not rekeyed after the takeover and "
                       f"the peer dropped {replays} packets as replays ('ESP sequence number verification failed')")
    elif replays and over:
        reasons.append(f"ESP replay drops on the peer ({replays} packets) during the outage: ESP sequence "
                       "continuity was restored too late")
    if rri_enabled_in_topology and verdict.new_active:
        holder = verdict.route_holder
        have = set(verdict.rri.get(holder, []))
        missing = [p for p in rri_expected if p not in have]
        if missing:
            reasons.append(f"RRI: new active {holder} has no injected route to {', '.join(missing)} "
                           "(reverse route injection did not follow the takeover)")
        for node, routes in verdict.rri.items():
            if node != holder and routes:
                reasons.append(f"RRI: {node} is not Active but still injects {', '.join(routes)}")
    if not stateful:
        verdict.notes.append("stateless redundancy: no state sync by design, the peer detects the loss (DPD) and "
                             f"re-negotiates; child_sa={verdict.child_sa}")
    verdict.verdict = "fail" if reasons else "pass"


def rri_routes(client: docker.DockerClient, lab: str, node: str) -> list[str]:
    """Routes the node's sidecar injected (proto 77), read from the kernel, not from the sidecar's word."""
    code, out = runtime.exec_in(client, lab, node, ["ip", "-4", "route", "show", "proto", "77"])
    return [line.split()[0] for line in out.splitlines() if line.strip()] if code == 0 else []


def peer_log_size(client: docker.DockerClient, lab: str, peer: str) -> int:
    code, out = runtime.exec_in(client, lab, peer, ["stat", "-c", "%s", PEER_LOG])
    return int(out.strip()) if code == 0 and out.strip().isdigit() else 0


def peer_log_since(client: docker.DockerClient, lab: str, peer: str, offset: int) -> str:
    code, out = runtime.exec_in(client, lab, peer, ["tail", "-c", f"+{offset + 1}", PEER_LOG])
    return out if code == 0 else ""


def became_active_since(client: docker.DockerClient, topo: Topology, node: str, since_wall: float) -> bool:
    """The gateway's sidecar logged a move to the Active role after `since_wall`: a takeover shorter than
    one poll (a crashed node that preempts straight back) still counts as a takeover."""
    from labctl.matrix.events import sidecar_events

    text = runtime.node_logs(client, topo.name, node, since=since_wall)
    return any(e["kind"] == "role" and e["detail"].endswith("-> active")
               for e in sidecar_events(node, text, since_wall, float("inf")))


def await_convergence(
    client: docker.DockerClient, topo: Topology, verdict: Verdict, fault_node: str, expect_move: bool,
    fault_at: float, deadline: float, traffic_ok: Callable[[], bool],
) -> str | None:
    """Poll until a gateway has taken over (when the fault should move the Active) and `traffic_ok()`.

    Fills the verdict's convergence fields as of that moment and returns the gateway that took over.
    After a crash the node recovers by itself and may preempt back before traffic converges, so the
    takeover is remembered as soon as it is seen, not read at the end.
    """
    taken_over_by = None
    fault_wall = verdict.timeline.get("fault_at")
    while time.monotonic() < deadline:
        active = active_gateway(client, topo)
        if active is not None and active != fault_node:
            taken_over_by = taken_over_by or active
        if taken_over_by is None and fault_wall is not None:
            taken_over_by = next((gw for gw in topo.ha.nodes
                                  if gw != fault_node and became_active_since(client, topo, gw, fault_wall)), None)
        moved = active is not None and (not expect_move or taken_over_by is not None)
        if moved and traffic_ok():
            verdict.converged = True
            verdict.converge_ms = round((time.monotonic() - fault_at) * 1000, 1)
            verdict.timeline["converged_at"] = round(time.time(), 3)
            verdict.new_active = taken_over_by or active
            break
        time.sleep(0.1)
    return taken_over_by


def record_final_state(client: docker.DockerClient, topo: Topology, verdict: Verdict,
                       taken_over_by: str | None) -> None:
    """Who is Active once things settled, and where the RRI routes are (judged against that node)."""
    verdict.active_after = active_gateway(client, topo)
    if not verdict.converged:
        verdict.new_active = taken_over_by or verdict.active_after
    verdict.rri = {gateway: rri_routes(client, topo.name, gateway) for gateway in topo.ha.nodes}


def choose_fault(client: docker.DockerClient, topo: Topology, fault: str, node: str | None, link: str | None,
                 percent: int | None, progress: Any) -> tuple[Fault, str | None, bool]:
    """(the fault, the Active before it, whether it must move the Active) for either kind of phase.

    A failover starts from a whole lab. `recover` is the way back from a failover: it undoes the faults
    and, with preempt, the preferred gateway must take the Active role back from the one that holds it.
    """
    if fault == "link-up":
        raise LabctlError("link-up repairs, it is not a failover fault (`recover` judges the way back)")
    if fault == "recover":
        old_active = active_gateway(client, topo)
        chosen = make_fault(client, topo, fault, old_active or preferred_gateway(topo))
        expect_move = topo.ha.hsrp.preempt and old_active is not None and old_active != preferred_gateway(topo)
        return chosen, old_active, expect_move
    progress("checking the lab is whole")
    wait_whole(client, topo, timeout=60.0)
    old_active = active_gateway(client, topo)
    chosen = make_fault(client, topo, fault, node, link, percent)
    # a crash the node recovers from by itself need not end in a takeover: the sessions are the judges
    return chosen, old_active, type(chosen).moves_active and not chosen.instant and chosen.node in topo.ha.nodes


def note_no_takeover(verdict: Verdict, chosen: Fault) -> None:
    if chosen.instant and verdict.new_active == chosen.node:
        verdict.notes.append(f"no takeover: {chosen.node} recovered from the {chosen.name} and was Active again "
                             "before the standby took over")


def inject_fault(chosen: Fault, verdict: Verdict) -> None:
    """Inject; a recovery that cannot make the lab whole is a finding, not a crash of the experiment."""
    try:
        chosen.inject()
    except LabctlError as exc:
        if chosen.name != "recover":
            raise
        verdict.reasons.append(f"the lab did not become whole again: {exc}")


def failover(
    client: docker.DockerClient,
    lab: str,
    fault: str = "node-kill",
    node: str | None = None,
    link: str | None = None,
    rate: float = DEFAULT_RATE,
    max_outage_ms: float | None = None,
    converge_timeout: float | None = None,
    recover: bool = True,
    progress: Any = lambda _m: None,
    percent: int | None = None,
) -> Verdict:
    """Run one failover experiment on a running lab and return its verdict.

    `fault="recover"` judges the way back after a failover (undo, preempt) with the same procedure."""
    topo, sabotage = load_running(client, lab)
    if topo.easyvpn and not topo.peers:  # remote access: the Easy VPN clients judge
        from labctl.controller.ezfailover import failover_clients

        return failover_clients(client, topo, sabotage, fault, node, link, rate, max_outage_ms, converge_timeout,
                                recover, progress, percent)
    peers = list(topo.peers)
    if not peers:
        raise LabctlError(f"lab {lab} has no remote peer to judge the failover from")
    peer = peers[0]
    chosen, old_active, expect_move = choose_fault(client, topo, fault, node, link, percent, progress)
    timeout = converge_timeout or topo.failover.converge_timeout / 1000
    stateful = topo.redundancy == "stateful"
    if max_outage_ms is None:
        max_outage_ms = topo.failover.max_outage_ms if stateful else timeout * 1000
    verdict = Verdict(lab, topo.redundancy, list(sabotage), chosen.describe(), chosen.node, old_active, None,
                      max_outage_ms=float(max_outage_ms))
    before = established(node_sas(client, lab, peer))
    verdict.sa_before = [asdict(sa) for sa in before]
    log_offset = peer_log_size(client, lab, peer)
    probe = TrafficProbe(client, topo, rate, max_duration=timeout + 60)
    progress(f"probe at {rate:.0f} pps both ways")
    probe.start()
    try:
        time.sleep(BASELINE)
        if not probe.flowing(since=0.0, fresh=0.5):
            raise LabctlError("no probe traffic through the tunnel before the fault: the lab is not healthy")
        progress(f"injecting {chosen.describe()}")
        fault_at = time.monotonic()
        verdict.timeline = {"probe_start": probe.started_at, "fault_at": round(time.time(), 3)}
        inject_fault(chosen, verdict)
        taken_over_by = await_convergence(
            client, topo, verdict, chosen.node, expect_move, fault_at, fault_at + timeout,
            lambda: probe.flowing(since=fault_at + 0.05)
            and any(sa.installed_spis() for sa in established(node_sas(client, lab, peer))))
        progress("converged" if verdict.converged else "no convergence before the timeout")
        time.sleep(SETTLE)
    finally:
        result = probe.stop()
    verdict.timeline["probe_end"] = round((probe.started_at or 0.0) + result.duration_s, 3)
    record_final_state(client, topo, verdict, taken_over_by)
    after = established(node_sas(client, lab, peer))
    verdict.sa_after = [asdict(sa) for sa in after]
    verdict.peer_log = count_log_events(peer_log_since(client, lab, peer, log_offset))
    verdict.ike_sa_preserved, verdict.child_sa = classify(before, after, verdict.peer_log)
    judge(verdict, result, expect_move, [str(s) for s in topo.crypto.remote_subnets], topo.ha.rri)
    note_no_takeover(verdict, chosen)
    if recover and not verdict.is_recovery:
        progress("recovering the lab (undo, preempt)")
        if not chosen.instant:
            chosen.undo()
        wait_whole(client, topo)
    return verdict


def attach_recovery(verdict: Verdict, back: Verdict) -> None:
    """Fold the way back into the failover's verdict: its failures fail the whole experiment, and a
    stateful IKE SA counts as preserved only if it survived both moves."""
    verdict.recovery = back.to_dict()
    verdict.reasons += [f"recovery: {reason}" for reason in back.reasons]
    if verdict.mode == "stateful":
        verdict.ike_sa_preserved = verdict.ike_sa_preserved and back.ike_sa_preserved
    verdict.active_after = back.active_after
    verdict.verdict = "fail" if verdict.reasons else "pass"


def failover_and_back(
    client: docker.DockerClient, lab: str, fault: str = "node-kill", node: str | None = None,
    link: str | None = None, rate: float = DEFAULT_RATE, max_outage_ms: float | None = None,
    converge_timeout: float | None = None, progress: Any = lambda _m: None, percent: int | None = None,
) -> Verdict:
    """The failover, then the recovery with preempt under traffic: the reference's "recovery" case,
    where the sessions must survive the return of the preferred gateway as well."""
    verdict = failover(client, lab, fault, node, link, rate, max_outage_ms, converge_timeout, recover=False,
                       progress=progress, percent=percent)
    back = failover(client, lab, "recover", rate=rate, max_outage_ms=max_outage_ms,
                    converge_timeout=converge_timeout, recover=False, progress=lambda m: progress(f"way back: {m}"))
    attach_recovery(verdict, back)
    return verdict

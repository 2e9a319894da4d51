"""A failover's verdict and the judging every kind of judge shares (pure: from measured data to reasons).

What a site-to-site peer or an Easy VPN client adds lives in `judges/`; the procedure that measures
lives in `failover.py`. Nothing here touches a lab.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from labctl.experiment.probe import ProbeResult

LIVENESS_TIMEOUT = 6.0  # seconds a judging party's CHILD_SA rekey may take to be answered through the new Active


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
    budget: dict[str, Any] = field(default_factory=dict)  # max_outage_ms and what it was derived_from
    max_loss_percent: float | None = None  # post-outage loss allowed per direction (None: not judged)
    loss: dict[str, dict[str, Any]] = field(default_factory=dict)  # per direction: in the outage / after it
    actives_after: list[str] | None = None  # every gateway HSRP Active at the end (None: not read)
    groups_after: dict[str, dict[str, str]] = field(default_factory=dict)  # gateway -> HSRP group -> state
    # per judging party (the peer, each client): its CHILD_SA rekey after the takeover was answered?
    # {party: {"answered": bool, "ms": float | None, "detail": str}}; empty: not checked (see notes)
    liveness: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def is_recovery(self) -> bool:
        return self.fault.startswith("recover")

    @property
    def stateful(self) -> bool:
        return self.mode == "stateful"

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


def takeover_reasons(verdict: Verdict, expect_move: bool, convergence: str) -> list[str]:
    """Convergence and takeover, the same for every judge; `convergence` says what had to happen."""
    reasons = []
    if not verdict.converged:
        reasons.append(f"no convergence: {convergence} before the timeout")
    if verdict.new_active is None:
        reasons.append("no gateway is HSRP Active after the fault")
    elif expect_move and verdict.new_active == verdict.fault_node:
        reasons.append(no_takeover_reason(verdict))
    return reasons


def record_probes(verdict: Verdict, results: list[ProbeResult]) -> None:
    """The outage (longest gap) and loss per direction of every probe the judge ran."""
    verdict.outage_ms = {d.name: d.longest_gap_ms for p in results for d in p.directions}
    verdict.lost_packets = sum(d.lost for p in results for d in p.directions)
    verdict.loss = {d.name: {"lost_before": d.lost_before, "lost_in_outage": d.lost_in_outage,
                             "lost_after": d.lost_after, "sent_after": d.sent_after,
                             "after_percent": round(d.after_loss_percent, 2)}
                    for p in results for d in p.directions}


def loss_reasons(verdict: Verdict) -> list[str]:
    """A steady loss once traffic flows again (after the outage window) is a degraded session, whatever
    the outage was: per judged direction, at most `max_loss_percent` of what was sent after it."""
    if verdict.max_loss_percent is None:
        return []
    reasons = []
    for name in verdict.outage_ms:  # the directions the judge kept
        loss = verdict.loss.get(name)
        if loss and loss["sent_after"] and 100.0 * loss["lost_after"] / loss["sent_after"] > verdict.max_loss_percent:
            reasons.append(f"steady loss after the takeover: {name} lost {loss['lost_after']} of "
                           f"{loss['sent_after']} packets ({loss['after_percent']:.1f} %) once traffic flowed "
                           f"again > {verdict.max_loss_percent:g} % allowed")
    return reasons


def active_reasons(verdict: Verdict) -> list[str]:
    """Exactly one Active at the end: two answer for the same VIP, none leaves the sessions nowhere."""
    if verdict.actives_after is None:
        return []
    if not verdict.actives_after:
        return ["no gateway is HSRP Active at the end"]
    if len(verdict.actives_after) > 1:
        return [f"{len(verdict.actives_after)} gateways HSRP Active at the end: "
                f"{', '.join(verdict.actives_after)} (exactly one must be)"]
    return split_group_reasons(verdict)


def split_group_reasons(verdict: Verdict) -> list[str]:
    """A gateway Active in one HSRP group is Active in all of them at the end: Active on the outside and
    Standby on the inside splits the traffic (the guide's interface-ordering warning). A faulted node whose
    link is down is left alone: its group there is down by design."""
    reasons = []
    for node, groups in sorted(verdict.groups_after.items()):
        if "Active" in groups.values() and len(set(groups.values())) > 1:
            states = ", ".join(f"{group} {state}" for group, state in sorted(groups.items()))
            reasons.append(f"HSRP groups of {node} disagree at the end: {states} (all must be in one state)")
    return reasons


def liveness_reasons(verdict: Verdict) -> list[str]:
    """Every judging party whose IKE exchange (a CHILD_SA rekey it started after the takeover) was not
    answered: the IKE SA is held but does not work through the new Active."""
    return [f"IKE SA does not work through the new Active: {party}'s CHILD_SA rekey got no answer within "
            f"{LIVENESS_TIMEOUT:g} s ({check.get('detail') or 'no detail'})"
            for party, check in verdict.liveness.items() if not check.get("answered")]


def outage_reasons(verdict: Verdict) -> list[str]:
    return [f"outage {name} {ms:.0f} ms > {verdict.max_outage_ms:.0f} ms allowed"
            for name, ms in verdict.outage_ms.items() if ms > verdict.max_outage_ms]


def _prefix(route: str) -> str:
    """`ip route` shows a host route as 172.16.0.1, a topology names it 172.16.0.1/32: one spelling."""
    return route if "/" in route else f"{route}/32"


def rri_reasons(verdict: Verdict, expected: list[str], missing: str) -> list[str]:
    """The route holder injects every expected route, nobody else injects any; `missing` words the first
    failure for the judge's kind of route (`{holder}` and `{routes}` are filled in)."""
    holder = verdict.route_holder
    have = {_prefix(route) for route in verdict.rri.get(holder or "", [])}
    absent = [route for route in expected if _prefix(route) not in have]
    reasons = [missing.format(holder=holder, routes=", ".join(absent))] if absent else []
    for node, routes in verdict.rri.items():
        if node != holder and routes:
            reasons.append(f"RRI: {node} is not Active but still injects {', '.join(routes)}")
    return reasons


def conclude(verdict: Verdict) -> None:
    verdict.verdict = "fail" if verdict.reasons else "pass"


def attach_recovery(verdict: Verdict, back: Verdict) -> None:
    """Fold the way back into the failover's verdict: its failures fail the whole experiment, and a
    stateful IKE SA counts as preserved only if it survived both moves."""
    verdict.recovery = back.to_dict()
    verdict.reasons += [f"recovery: {reason}" for reason in back.reasons]
    if verdict.stateful:
        verdict.ike_sa_preserved = verdict.ike_sa_preserved and back.ike_sa_preserved
    verdict.active_after = back.active_after
    conclude(verdict)

"""`labctl failover`: break the active gateway under traffic and judge what survived (ONE procedure).

Procedure: the lab must be whole; the judge records what the sessions hold; start the probes (both
directions); a baseline; inject the fault; wait until a gateway is Active again (a takeover when the
fault should move the Active) and the judge's convergence condition holds; let it run a little longer
(the post-takeover rekey happens then); stop the probes; read who is Active and where the RRI routes
are; the judge records the sessions again, each of its parties shows its IKE SA still works (a CHILD_SA
rekey answered through the new Active: `judges/liveness.py`), and the judge turns it all into the
verdict. `failover_and_back` then judges the way back (undo, preempt) with the same procedure. Who judges
is pluggable (`judges/`): the remote peer of a site-to-site lab, or every Easy VPN client of a
remote-access lab.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from labctl.errors import LabctlError
from labctl.experiment import events
from labctl.experiment.budget import outage_budget
from labctl.experiment.faults import Fault, make_fault, preferred_gateway, wait_whole
from labctl.experiment.judges import Judge
from labctl.experiment.judges.clients import ClientsJudge
from labctl.experiment.judges.peer import PeerJudge
from labctl.experiment.probe import DEFAULT_RATE, ProbeResult, TrafficProbe
from labctl.experiment.verdict import Verdict, attach_recovery
from labctl.lab import RunningLab
from labctl.model.topology import Topology
from labctl.nodes import gateway

SETTLE = 2.0  # seconds of probing after convergence (the sequence-continuity rekey happens here)
BASELINE = 1.0  # seconds of probing before the fault
BASELINE_POLL = 0.25  # seconds between those checks
BASELINE_WAIT = 10.0  # longest wait for a lab that passed traffic at `up` to carry the new probe (see baseline)
POLL = 0.1  # seconds between convergence checks
Progress = Callable[[str], None]


def make_judge(lab: RunningLab) -> Judge:
    """Remote access without site-to-site peers: the Easy VPN clients judge; else the remote peer."""
    if lab.topo.easyvpn and not lab.topo.peers:
        return ClientsJudge(lab)
    return PeerJudge(lab)


def became_active_since(lab: RunningLab, node: str, since_wall: float) -> bool:
    """The gateway's sidecar logged a move to the Active role after `since_wall`: a takeover shorter than
    one poll (a crashed node that preempts straight back) still counts as a takeover."""
    text = lab.node(node).logs(since=since_wall)
    return events.became_active(events.sidecar_events(node, text, since_wall, float("inf")))


def await_convergence(lab: RunningLab, verdict: Verdict, fault_node: str, expect_move: bool, fault_at: float,
                      deadline: float, traffic_ok: Callable[[], bool]) -> str | None:
    """Poll until a gateway has taken over (when the fault should move the Active) and `traffic_ok()`.

    Fills the verdict's convergence fields as of that moment and returns the gateway that took over.
    After a crash the node recovers by itself and may preempt back before traffic converges, so the
    takeover is remembered as soon as it is seen, not read at the end.
    """
    taken_over_by = None
    fault_wall = verdict.timeline.get("fault_at")
    while time.monotonic() < deadline:
        active = lab.active_gateway()
        if active is not None and active != fault_node:
            taken_over_by = taken_over_by or active
        if taken_over_by is None and fault_wall is not None:
            taken_over_by = next((gw for gw in lab.topo.ha.nodes
                                  if gw != fault_node and became_active_since(lab, gw, fault_wall)), None)
        moved = active is not None and (not expect_move or taken_over_by is not None)
        if moved and traffic_ok():
            verdict.converged = True
            verdict.converge_ms = round((time.monotonic() - fault_at) * 1000, 1)
            verdict.timeline["converged_at"] = round(time.time(), 3)
            verdict.new_active = taken_over_by or active
            break
        time.sleep(POLL)
    return taken_over_by


def record_final_state(lab: RunningLab, verdict: Verdict, taken_over_by: str | None) -> None:
    """Who is Active once things settled, and where the RRI routes are (judged against that node)."""
    statuses = {node: gateway.sidecar_status(lab.node(node)) or {} for node in lab.topo.ha.nodes}
    verdict.actives_after = [node for node, status in statuses.items() if status.get("role") == "active"]
    verdict.groups_after = {node: {f"{g.get('network')} group {g.get('group')}": str(g.get("state"))
                                   for g in status.get("hsrp", [])} for node, status in statuses.items()}
    verdict.active_after = verdict.actives_after[0] if verdict.actives_after else None
    if not verdict.converged:
        verdict.new_active = taken_over_by or verdict.active_after
    verdict.rri = {node: gateway.rri_routes(lab.node(node)) for node in lab.topo.ha.nodes}


def choose_fault(lab: RunningLab, fault: str, node: str | None, link: str | None, percent: int | None,
                 progress: Progress) -> tuple[Fault, str | None, bool]:
    """(the fault, the Active before it, whether it must move the Active) for either kind of phase.

    A failover starts from a whole lab. `recover` is the way back from a failover: it undoes the faults
    and, with preempt, the preferred gateway must take the Active role back from the one that holds it.
    """
    topo = lab.topo
    if fault == "link-up":
        raise LabctlError("link-up repairs, it is not a failover fault (`recover` judges the way back)")
    if fault == "recover":
        old_active = lab.active_gateway()
        chosen = make_fault(lab, fault, old_active or preferred_gateway(topo))
        expect_move = topo.ha.hsrp.preempt and old_active is not None and old_active != preferred_gateway(topo)
        return chosen, old_active, expect_move
    progress("checking the lab is whole")
    wait_whole(lab, timeout=60.0)
    old_active = lab.active_gateway()
    chosen = make_fault(lab, fault, node, link, percent)
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


def loss_budget(topo: Topology, chosen: Fault, explicit: float | None) -> float | None:
    """Post-outage loss allowed per direction: explicit (`--max-loss-percent`), else the topology's
    `failover.max_loss_percent`. None (not judged) when the fault is a loss that stays injected while the
    probe runs."""
    if chosen.name == "loss":
        return None
    if explicit is not None:
        return float(explicit)
    return float(topo.failover.max_loss_percent)


def probe_window(probes: dict[str, TrafficProbe], results: dict[str, ProbeResult]) -> tuple[float | None, float | None]:
    """(first start, last end) of the probes, wall clock, for the timeline."""
    starts = [p.started_at for p in probes.values() if p.started_at is not None]
    ends = [(probes[name].started_at or 0.0) + r.duration_s for name, r in results.items()]
    return (min(starts) if starts else None), (round(max(ends), 3) if ends else None)


CONVERGE_MARGIN_S = 10.0  # beyond the outage budget: a verdict needs the traffic back to judge it


def convergence_wait(topo: Topology, asked_s: float | None, budget_ms: float, returning: bool) -> float:
    """Seconds to wait for convergence: as asked (or the topology's), but never less than the outage budget
    plus a margin (a stateless IKEv1 lab at IOS timers needs 20 s of DPD), and on the way back also the
    returning node's own start (`standby delay reload`, an election at its hold time)."""
    floor = budget_ms / 1000 + CONVERGE_MARGIN_S + (topo.first_active_ms / 1000 if returning else 0.0)
    return max(asked_s or topo.failover.converge_timeout / 1000, floor)


def baseline(probes: Mapping[str, TrafficProbe], judge: Judge, verdict: Verdict) -> None:
    """Wait until every probe carries traffic before the fault: after `BASELINE`, then for up to `BASELINE_WAIT`.

    The lab passed traffic at `up`, but a fresh lab on a busy host (a second engine starting its own lab on the
    same cores) has been seen to carry a new probe only after a few seconds. The fault waits for that: the
    verdict is about the failover, and a late start is noted; a lab that never carries the probe is an error."""
    time.sleep(BASELINE)
    waited_from, late = time.monotonic(), False
    while True:
        idle = [name for name, probe in probes.items() if not probe.flowing(since=0.0, fresh=0.5)]
        waited = time.monotonic() - waited_from
        if not idle:
            if late:
                verdict.notes.append(f"the probe flowed only {BASELINE + waited:.1f} s after it started "
                                     "(a slow lab before the fault)")
            return
        if waited >= BASELINE_WAIT:
            raise LabctlError(judge.not_flowing(idle))
        late = True
        time.sleep(BASELINE_POLL)


def failover(
    lab: RunningLab,
    fault: str = "node-kill",
    node: str | None = None,
    link: str | None = None,
    rate: float = DEFAULT_RATE,
    max_outage_ms: float | None = None,
    converge_timeout: float | None = None,
    recover: bool = True,
    progress: Progress = lambda _m: None,
    percent: int | None = None,
    judge: Judge | None = None,
    max_loss_percent: float | None = None,
) -> Verdict:
    """Run one failover experiment on a running lab and return its verdict.

    `fault="recover"` judges the way back after a failover (undo, preempt) with the same procedure."""
    topo = lab.topo
    judge = judge or make_judge(lab)
    chosen, old_active, expect_move = choose_fault(lab, fault, node, link, percent, progress)
    budget = outage_budget(topo, max_outage_ms)
    timeout = convergence_wait(topo, converge_timeout, budget["max_outage_ms"], chosen.name == "recover")
    verdict = Verdict(lab.name, topo.redundancy, list(lab.sabotage), chosen.describe(), chosen.node, old_active,
                      None, max_outage_ms=budget["max_outage_ms"], budget=budget,
                      max_loss_percent=loss_budget(topo, chosen, max_loss_percent))
    if verdict.max_loss_percent is None:
        verdict.notes.append(f"loss after the outage not judged: the fault ({chosen.describe()}) drops packets "
                             "itself")
    judge.record_before(verdict)
    probes = judge.probes(rate, timeout + 60)
    progress(judge.describe(rate))
    results: dict[str, ProbeResult] = {}
    taken_over_by = None
    try:
        for probe in probes.values():
            probe.start()
        baseline(probes, judge, verdict)
        progress(f"injecting {chosen.describe()}")
        fault_at = time.monotonic()
        verdict.timeline = {"probe_start": probe_window(probes, {})[0], "fault_at": round(time.time(), 3)}
        inject_fault(chosen, verdict)
        # only packets sent once the fault is in place (its `docker exec` returned: 100 ms and more under load)
        # show the traffic back: before, a crashed node's last packets passed for convergence (a stateless charon
        # crash "converged" at 0.44 s, the probe stopped and the peer never got to re-negotiate).
        # `since` is our monotonic instant; each probe turns it into the lab's clock (read once at its start)
        # and compares it with the agents' own send times only: a remote engine's clock is another machine's
        in_place = max(fault_at + 0.05, time.monotonic())
        taken_over_by = await_convergence(lab, verdict, chosen.node, expect_move, fault_at, fault_at + timeout,
                                          lambda: judge.converged(probes, since=in_place))
        progress("converged" if verdict.converged else "no convergence before the timeout")
        time.sleep(SETTLE)
    finally:
        for name, probe in probes.items():
            if probe.started_at is not None:
                results[name] = probe.stop()
    verdict.timeline["probe_end"] = probe_window(probes, results)[1]
    record_final_state(lab, verdict, taken_over_by)
    judge.record_after(verdict)
    check_liveness = getattr(judge, "liveness", None)  # a judge without it (test doubles) skips the step
    if check_liveness is not None:
        progress("liveness: each party rekeys its CHILD_SA through the Active")
        check_liveness(verdict)
    judge.judge(verdict, results, expect_move)
    note_no_takeover(verdict, chosen)
    if recover and not verdict.is_recovery:
        progress("recovering the lab (undo, preempt)")
        try:
            if not chosen.instant:
                chosen.undo()
            wait_whole(lab)
        except LabctlError as exc:  # the verdict stands: it judged the failover, not the clean-up after it
            verdict.notes.append(f"after the verdict the lab did not become whole again: {exc}")
    return verdict


def failover_and_back(
    lab: RunningLab, fault: str = "node-kill", node: str | None = None, link: str | None = None,
    rate: float = DEFAULT_RATE, max_outage_ms: float | None = None, converge_timeout: float | None = None,
    progress: Progress = lambda _m: None, percent: int | None = None, max_loss_percent: float | None = None,
) -> Verdict:
    """The failover, then the recovery with preempt under traffic: the reference's "recovery" case,
    where the sessions must survive the return of the preferred gateway as well."""
    verdict = failover(lab, fault, node, link, rate, max_outage_ms, converge_timeout, recover=False,
                       progress=progress, percent=percent, max_loss_percent=max_loss_percent)
    back = failover(lab, "recover", rate=rate, max_outage_ms=max_outage_ms, converge_timeout=converge_timeout,
                    recover=False, progress=lambda m: progress(f"way back: {m}"), max_loss_percent=max_loss_percent)
    attach_recovery(verdict, back)
    return verdict

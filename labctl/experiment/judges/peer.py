"""Site-to-site: the remote peer judges. It is the party that would have to re-negotiate if the state did
not survive: its IKE SA identity (SPIs + unique id) and CHILD SPIs before and after, and its charon log
in between, say what happened."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from labctl.errors import LabctlError
from labctl.experiment import events
from labctl.experiment import verdict as shared
from labctl.experiment.events import count_log_events
from labctl.experiment.judges import liveness, overlap
from labctl.experiment.probe import ProbeResult, TrafficProbe
from labctl.experiment.verdict import Verdict
from labctl.lab import RunningLab
from labctl.nodes import charon

CONVERGENCE = "traffic did not flow both ways with an Active gateway and an installed CHILD_SA on the peer"
RRI_MISSING = ("RRI: new active {holder} has no injected route to {routes} "
               "(reverse route injection did not follow the takeover)")
PROBE = "tunnel"
CHILD = "net"  # the peer's CHILD_SA (render/templates/swanctl-peer.conf.j2)


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


def rekey_candidate(before: list[SaIdentity], after: list[SaIdentity]) -> SaIdentity | None:
    """The IKE SA whose CHILD_SA the peer rekeys for liveness: the one it kept through the fault, else the
    one now carrying an installed CHILD_SA (stateless: re-negotiated); None when there is none."""
    carrying = [sa for sa in after if sa.installed_spis()]
    kept = next((sa for sa in carrying if before and sa.same_ike(before[0])), None)
    return kept or (carrying[0] if carrying else None)


def judge(verdict: Verdict, probe: ProbeResult, expect_move: bool, rri_expected: list[str],
          rri_enabled_in_topology: bool) -> None:
    """Fill in the outcome and the reasons for a fail (pure: from what was measured; `ike_sa_preserved`,
    `child_sa` and `peer_log` are already on the verdict)."""
    shared.record_probes(verdict, [probe])
    verdict.probe = probe.to_dict()
    reasons = verdict.reasons
    reasons += shared.takeover_reasons(verdict, expect_move, CONVERGENCE)
    stateful = verdict.stateful
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
    over = shared.outage_reasons(verdict)
    reasons += over
    reasons += shared.loss_reasons(verdict)
    reasons += shared.active_reasons(verdict)
    reasons += shared.liveness_reasons(verdict)
    replays, leftovers = overlap.split(verdict.peer_log)
    if leftovers:
        verdict.notes.append(f"{leftovers} ESP packet(s) dropped by the peer as replays while two gateways were "
                             "Active (a preempt makes before it breaks: the old Active's last packets landed after "
                             "the new Active's first, which continue one replay interval ahead); judged as lost "
                             "packets, not as a break in ESP sequence continuity")
    moved = verdict.new_active is not None and verdict.new_active != verdict.old_active
    if stateful and moved and verdict.ike_sa_preserved and verdict.child_sa == "same" and replays:
        # the ha plugin does not sync ESP sequence numbers: the sidecar's replay-state sync or a CHILD_SA rekey
        # after the takeover restores continuity; without either the peer drops the new active's packets until
        # its counter catches up
        reasons.append(f"ESP sequence continuity not restored: the same CHILD_SA went on without the synced replay "
                       f"state and without a rekey, and the peer dropped {replays} packets as replays "
                       "('ESP sequence number verification failed')")
    elif replays and over:
        reasons.append(f"ESP replay drops on the peer ({replays} packets) during the outage: ESP sequence "
                       "continuity was restored too late")
    if rri_enabled_in_topology and verdict.new_active:
        reasons += shared.rri_reasons(verdict, rri_expected, RRI_MISSING)
    if not stateful:
        verdict.notes.append("stateless redundancy: no state sync by design, the peer detects the loss (DPD) and "
                             f"re-negotiates; child_sa={verdict.child_sa}")
    shared.conclude(verdict)


class PeerJudge:
    """The first remote peer of a site-to-site lab, probed between the first inside and remote hosts."""

    def __init__(self, lab: RunningLab) -> None:
        peers = list(lab.topo.peers)
        if not peers:
            raise LabctlError(f"lab {lab.name} has no remote peer to judge the failover from")
        self.lab, self.peer = lab, peers[0]
        self.before: list[SaIdentity] = []
        self.after: list[SaIdentity] = []
        self.log_offset = 0

    def sas(self) -> list[SaIdentity]:
        return established(charon.sas(self.lab.node(self.peer)))

    def record_before(self, verdict: Verdict) -> None:
        self.before = self.sas()
        verdict.sa_before = [asdict(sa) for sa in self.before]
        self.log_offset = charon.log_size(self.lab.node(self.peer))

    def probes(self, rate: float, max_duration: float) -> dict[str, TrafficProbe]:
        return {PROBE: TrafficProbe(self.lab, rate, max_duration=max_duration)}

    def describe(self, rate: float) -> str:
        return f"probe at {rate:.0f} pps both ways"

    def not_flowing(self, idle: list[str]) -> str:
        return "no probe traffic through the tunnel before the fault: the lab is not healthy"

    def converged(self, probes: dict[str, TrafficProbe], since: float) -> bool:
        """Traffic both ways and an installed CHILD_SA on the peer (whichever IKE SA carries it)."""
        return all(p.flowing(since=since) for p in probes.values()) \
            and any(sa.installed_spis() for sa in self.sas())

    def record_after(self, verdict: Verdict) -> None:
        self.after = self.sas()
        verdict.sa_after = [asdict(sa) for sa in self.after]
        text = charon.log_since(self.lab.node(self.peer), self.log_offset)
        verdict.peer_log = count_log_events(text)
        if verdict.peer_log.get("replay_drops"):
            counted = overlap.drops_while_both_active(self.lab, verdict.timeline, {self.peer: text},
                                                      events.CHARON_LINE, events.LOG_PATTERNS["replay_drops"])
            verdict.peer_log["replay_drops_both_active"] = counted.get(self.peer, 0)

    def liveness(self, verdict: Verdict) -> None:
        """The peer rekeys its CHILD_SA through whoever is Active now (the IKE SA it holds since the fault)."""
        note = liveness.skip_note(verdict)
        sa = rekey_candidate(self.before, self.after)
        if note is not None or sa is None:
            verdict.notes.append(note or "liveness not checked: the peer holds no established IKE SA with an "
                                 "installed CHILD_SA")
            return
        target = liveness.Target(self.peer, self.lab.node(self.peer), CHILD,
                                 {"uniqueid": sa.uniqueid, "initiator_spi": sa.initiator_spi,
                                  "responder_spi": sa.responder_spi},
                                 sa.installed_spis(), self.lab.topo.crypto.ike_version)
        verdict.liveness = liveness.measure([target])

    def judge(self, verdict: Verdict, results: dict[str, ProbeResult], expect_move: bool) -> None:
        verdict.ike_sa_preserved, verdict.child_sa = classify(self.before, self.after, verdict.peer_log)
        topo = self.lab.topo
        judge(verdict, results[PROBE], expect_move, [str(s) for s in topo.crypto.remote_subnets], topo.ha.rri)

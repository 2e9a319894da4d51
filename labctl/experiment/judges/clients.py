"""Remote access (Easy VPN): every connected client judges. A probe runs between the inside host and each
client's virtual IP (both directions); before and after the fault each client's IKE SA (SPIs + unique id)
and virtual IP come from the client's own charon, and `reverse-route remote-peer` must follow the Active.
A vpnc client judges from its own side too: the same vpnc process (pid, no restart of its loop), the same
tun address, no new Quick Mode / SPIs and no replay drops in its log."""

from __future__ import annotations

from typing import Any

from labctl.agent.probe import PORT
from labctl.errors import LabctlError
from labctl.experiment import verdict as shared
from labctl.experiment.events import count_log_events
from labctl.experiment.judges import liveness, overlap
from labctl.experiment.probe import ProbeResult, TrafficProbe
from labctl.experiment.verdict import Verdict
from labctl.lab import RunningLab
from labctl.nodes import client, vpnc

CONVERGENCE = ("traffic did not flow both ways between the inside host and every client with an Active "
               "gateway")
RRI_MISSING = ("RRI: new active {holder} has no route to client(s) {routes} "
               "(reverse-route remote-peer did not follow the takeover)")
CHILD = "ez"  # every client's CHILD_SA (render/templates/swanctl-client.conf.j2)
CLIENT_IKE_VERSION = 1  # Easy VPN: IKEv1 aggressive mode + XAuth
CHILD_ORDER = ["lost", "renegotiated", "rekeyed", "same"]  # worst first: the lab's child_sa is its worst client's


def readdressed(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Clients now connected with another virtual IP than before: name -> (old, new)."""
    moved = {}
    for name, old in before.items():
        new_vip = (after.get(name) or {}).get("virtual_ip")
        if new_vip and new_vip != old.get("virtual_ip"):
            moved[name] = (old.get("virtual_ip"), new_vip)
    return moved


def installed(sa: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["spi_in"], c["spi_out"]) for c in sa.get("child_sas", []) if c.get("state") == "INSTALLED"}


def rekey_targets(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[liveness.Target]:
    """The liveness rekey of each client connected before the fault that holds an IKE SA with an installed
    CHILD_SA now (its node is filled in by the caller)."""
    targets = []
    for name in before:
        sa = (after.get(name) or {}).get("ike_sa") or {}
        if sa and installed(sa):
            targets.append(liveness.Target(name, None, CHILD, {k: sa.get(k) for k in liveness.IKE_KEYS},
                                           installed(sa), CLIENT_IKE_VERSION))
    return targets


def vpnc_session(name: str, old: dict[str, Any], new: dict[str, Any], log: dict[str, int],
                 lines: list[str]) -> tuple[bool, str, list[str]]:
    """(same session, child state, reasons) of one vpnc client (pure). vpnc negotiates phase 1 only when it
    starts, so its session is its process: same pid, no new start in the log. Its CHILD_SA is `same` without
    any Quick Mode or new SPI in its log, `rekeyed` with one, `lost` when it is not connected any more or
    receives ESP it cannot use (unknown SPI, HMAC mismatch)."""
    connected = new.get("state") == "connected"
    same = connected and bool(old.get("pid")) and new.get("pid") == old.get("pid") and log.get("new_ike_sa", 0) == 0
    # ESP on an SPI or with keys vpnc does not share: the gateway's CHILD_SA is no longer vpnc's
    broken = log.get("unknown_spi", 0) or log.get("hmac_mismatch", 0)
    child = "lost" if not connected or broken else "renegotiated" if not same else \
        "rekeyed" if log.get("new_spis", 0) else "same"
    why = []
    quoted = f": {'; '.join(lines)}" if lines else ""
    replays, _ = overlap.split(log)
    if replays:
        why.append(f"{name} (vpnc): {replays} ESP packet(s) from the gateway discarded as replays "
                   "(the new Active restarted the CHILD_SA's outbound sequence numbers: no replay-state sync)")
    if log.get("unknown_spi", 0) or log.get("hmac_mismatch", 0):
        why.append(f"{name} (vpnc): the gateway's takeover rekey (a server-initiated Quick Mode) did not reach "
                   f"vpnc's ESP: {log.get('unknown_spi', 0)}x 'unknown spi', {log.get('hmac_mismatch', 0)}x "
                   "'HMAC mismatch' in its log")
    if log.get("dpd_terminated", 0) or log.get("exits", 0):
        why.append(f"{name} (vpnc): vpnc exited ({log.get('dpd_terminated', 0)}x dead peer detection), its restart "
                   f"loop started {log.get('new_ike_sa', 0)} new session(s)")
    elif not same and connected:
        why.append(f"{name} (vpnc): another vpnc session (pid {old.get('pid')} -> {new.get('pid')})")
    if why:
        why[-1] += quoted  # the log's own words, once
    return same, child, why


def vpnc_notes(name: str, log: dict[str, int]) -> list[str]:
    notes = [f"{name} (vpnc): {log['new_spis']} new IPsec SA(s) in its log during the run (a Quick Mode vpnc "
             "started itself: same session, new SPIs)"] if log.get("new_spis", 0) else []
    _, leftovers = overlap.split(log)
    if leftovers:
        notes.append(f"{name} (vpnc): {leftovers} ESP packet(s) discarded as replays while two gateways were Active "
                     "(a preempt makes before it breaks: the old Active's last packets land after the new Active's "
                     "first); judged as lost packets")
    return notes


def judge(verdict: Verdict, before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
          probes: dict[str, ProbeResult], client_logs: dict[str, dict[str, int]], expect_move: bool,
          log_lines: dict[str, list[str]] | None = None) -> None:
    """Fill the verdict from what each client held before/after, its probe and its log (pure); `log_lines`:
    the telling lines of each vpnc client's log, quoted in its reasons."""
    reasons = verdict.reasons
    stateful = verdict.stateful
    preserved, child_states = True, []
    for name, old in before.items():
        new = after.get(name) or {}
        if old.get("kind") == "vpnc":
            same, child, why = vpnc_session(name, old, new, client_logs.get(name, {}), (log_lines or {}).get(name, []))
            preserved &= same
            child_states.append(child)
            verdict.notes.extend(vpnc_notes(name, client_logs.get(name, {})))
            if stateful:
                reasons.extend(why)
                if not same and not why:  # a connected vpnc with another session always has a `why`
                    reasons.append(f"{name} (vpnc): session not preserved (not connected any more)")
                if new.get("virtual_ip") != old.get("virtual_ip"):
                    reasons.append(f"{name} (vpnc): tun address {old.get('virtual_ip')} -> "
                                   f"{new.get('virtual_ip') or 'none'}")
                if child not in ("same", "rekeyed") and not why:
                    reasons.append(f"{name} (vpnc): CHILD_SA {child}")
            continue
        old_sa, new_sa = old.get("ike_sa") or {}, new.get("ike_sa") or {}
        same_ike = bool(new_sa) and all(old_sa.get(k) == new_sa.get(k)
                                        for k in ("uniqueid", "initiator_spi", "responder_spi"))
        same_ike = same_ike and client_logs.get(name, {}).get("new_ike_sa", 0) == 0
        preserved &= same_ike
        old_spis, new_spis = installed(old_sa), installed(new_sa)
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
    verdict.child_sa = min(child_states, key=CHILD_ORDER.index) if child_states else "lost"
    shared.record_probes(verdict, list(probes.values()))
    verdict.probe = {name: p.to_dict() for name, p in probes.items()}
    verdict.peer_log = {k: sum(log.get(k, 0) for log in client_logs.values())
                        for k in {k for log in client_logs.values() for k in log}}
    reasons += shared.takeover_reasons(verdict, expect_move, CONVERGENCE)
    if not stateful:
        for name, (old_vip, new_vip) in readdressed(before, after).items():
            for direction in [d for d in verdict.outage_ms if d.endswith(f"->{name}")]:
                verdict.notes.append(f"{name} re-negotiated with another virtual IP ({old_vip} -> {new_vip}, no "
                                     f"lease sync when stateless): {direction} sent to the old address, its "
                                     f"{verdict.outage_ms.pop(direction):.0f} ms silence is not an outage")
    reasons += shared.outage_reasons(verdict)
    reasons += shared.loss_reasons(verdict)
    reasons += shared.active_reasons(verdict)
    reasons += shared.liveness_reasons(verdict)
    if verdict.new_active and verdict.rri:
        want = sorted({str(c.get("virtual_ip")) for c in after.values() if c.get("virtual_ip")})
        reasons += shared.rri_reasons(verdict, want, RRI_MISSING)
    if not stateful:
        verdict.notes.append("stateless redundancy: no state sync, clients must re-negotiate (DPD)")
    shared.conclude(verdict)


class ClientsJudge:
    """Every Easy VPN client connected before the fault, each with its own probe to the inside host."""

    def __init__(self, lab: RunningLab) -> None:
        target = client.inside_host(lab.topo)
        if target is None:
            raise LabctlError(f"lab {lab.name} has no host in the split-include networks to probe the clients from")
        self.lab, self.target = lab, target
        self.before: dict[str, dict[str, Any]] = {}
        self.after: dict[str, dict[str, Any]] = {}
        self.log_offsets: dict[str, int] = {}
        self.logs: dict[str, dict[str, int]] = {}
        self.log_lines: dict[str, list[str]] = {}

    def connected(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in client.reports(self.lab.topo, self.lab.handle) if r["state"] == "connected"}

    def record_before(self, verdict: Verdict) -> None:
        self.before = self.connected()
        if not self.before:
            raise LabctlError(f"lab {self.lab.name}: no Easy VPN client is connected: nothing to judge")
        verdict.sa_before = list(self.before.values())
        self.log_offsets = {name: client.log_size(self.lab.topo, self.lab.node(name)) for name in self.before}

    def rate_each(self, rate: float) -> float:
        return max(1.0, rate / len(self.before))

    def probes(self, rate: float, max_duration: float) -> dict[str, TrafficProbe]:
        inside, address = self.target
        return {name: TrafficProbe(self.lab, self.rate_each(rate), max_duration=max_duration, port=PORT + 1 + i,
                                   endpoints=((inside, report["virtual_ip"]), (name, address)))
                for i, (name, report) in enumerate(self.before.items())}

    def describe(self, rate: float) -> str:
        return (f"probe at {self.rate_each(rate):.0f} pps both ways between {self.target[0]} and each of "
                f"{', '.join(self.before)}")

    def not_flowing(self, idle: list[str]) -> str:
        return f"no probe traffic to {', '.join(idle)} before the fault: the lab is not healthy"

    def converged(self, probes: dict[str, TrafficProbe], since: float) -> bool:
        """Traffic flows to and from every client. A client that re-negotiated and got another virtual IP
        (stateless: no lease sync) can only be judged from its own stream: the inside host still sends to
        the old address, on purpose, since the probe measures what a session that kept its address would see."""
        if self.lab.topo.redundancy == "stateful":
            return all(p.flowing(since=since) for p in probes.values())
        now = self.connected()
        moved = readdressed(self.before, now)
        return all(name in now and probe.flowing(since=since, receivers=[self.target[0]] if name in moved else None)
                   for name, probe in probes.items())

    def record_after(self, verdict: Verdict) -> None:
        self.after = {r["name"]: r for r in client.reports(self.lab.topo, self.lab.handle)}
        verdict.sa_after = [self.after[name] for name in self.before if name in self.after]
        texts = {name: client.log_since(self.lab.topo, self.lab.node(name), offset)
                 for name, offset in self.log_offsets.items()}
        self.logs = {name: vpnc.count_events(text) if client.is_vpnc(self.lab.topo, name) else count_log_events(text)
                     for name, text in texts.items()}
        self.log_lines = {name: vpnc.telling_lines(text) for name, text in texts.items()
                          if client.is_vpnc(self.lab.topo, name)}
        # vpnc's restart loop stamps each line with the time (render/templates/init-vpnc.sh.j2)
        dropping = {name: text for name, text in texts.items() if client.is_vpnc(self.lab.topo, name)
                    and self.logs[name].get("replay_drops", 0)}
        counted = overlap.drops_while_both_active(self.lab, verdict.timeline, dropping, vpnc.STAMPED_LINE,
                                                  vpnc.LOG_PATTERNS["replay_drops"])
        for name, overlapping in counted.items():
            self.logs[name]["replay_drops_both_active"] = overlapping

    def liveness(self, verdict: Verdict) -> None:
        """Every client connected before the fault and still holding an IKE SA rekeys its CHILD_SA, all
        at once."""
        note = liveness.skip_note(verdict)
        if note is not None:
            verdict.notes.append(note)
            return
        targets = rekey_targets(self.before, self.after)
        skipped = [name for name in self.before if name not in {t.party for t in targets}]
        if skipped:
            verdict.notes.append(f"liveness not checked for {', '.join(skipped)}: no IKE SA with an installed "
                                 "CHILD_SA after the fault")
        for target in targets:
            target.node = self.lab.node(target.party)
        verdict.liveness = liveness.measure(targets)

    def judge(self, verdict: Verdict, results: dict[str, ProbeResult], expect_move: bool) -> None:
        judge(verdict, self.before, self.after, results, self.logs, expect_move, self.log_lines)

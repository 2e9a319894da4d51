"""The SSO/role policy of an HA gateway as a pure state machine (stdlib only).

HSRP decides who is Active; strongSwan follows. This module decides *what* follows, and nothing here
touches charon, the kernel, a socket or a clock: every input carries its ``now`` (monotonic seconds) and
returns the :class:`Command` objects the sidecar (``__main__``) executes, in order. Commands whose
outcome the policy needs report back through the ``*_ready`` / ``routes_*`` methods. That keeps the
standby rules fixed in the past testable with a fake clock, as :mod:`.hsrp.fsm` is.

Inputs: the node's HSRP role (:meth:`SsoPolicy.on_role`), SA snapshots from charon
(:meth:`~SsoPolicy.on_sas`), the Active peer's SSO report (:meth:`~SsoPolicy.on_peer_report`), whether
charon runs (:meth:`~SsoPolicy.on_tick`).

Rules, each fixed after a failure seen in the lab:

* Becoming Active: continue the synced ESP sequence state (``replay-sync``: raise every SA to the last
  state the Active forwarded, see :mod:`.replay`; the standby already does so as tables arrive, this
  covers a charon reloaded since), activate the ha segment, wait for the crypto VIP, inject RRI routes
  (with one per remote-access client the synced SAs carry; :meth:`SsoPolicy.takeover_routes` are already
  installed with the VIP claim itself, so the first packets it draws find them), then, with ``rekey`` instead, rekey the
  segment's CHILD_SAs (``*1``): new SAs start at sequence number 1 on both ends.
* Leaving Active: withdraw RRI, deactivate the segment and reload charon, as IOS reloads, so the node
  re-syncs from the new Active instead of keeping SAs it has since rekeyed or deleted.
* A standby is HOT only when it holds every IKE SA of the Active and a CHILD_SA wherever the Active has
  one; never from a restarted charon's previous SAs (each restart starts a new SA generation).
* Preempt (SSO-aware) only once STANDBY HOT when the ha plugin runs: otherwise preempt would cost the
  peer a renegotiation.
* A standby with duplicate synced IKE_SAs (the ha plugin re-pushes whole SAs and never deduplicates) is
  resynced by a charon reload once per standby period, and is not HOT until then; a standby COLD for over
  :data:`COLD_GRACE` is resynced even before any SSO report arrived, never after the Active's reports
  stopped (a dead Active's heir keeps what it holds); both at most every :data:`BULK_RESYNC_BACKOFF` seconds.
* charon dead: leave HSRP (the peer takes over), withdraw RRI, restart charon, rejoin as standby.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from labctl.sidecar.config import GroupSettings, SidecarConfig
from labctl.sidecar.contract import (
    EVENT_CHARON,
    EVENT_HA,
    EVENT_HSRP,
    EVENT_REDUNDANCY,
    EVENT_ROLE,
    EVENT_RRI,
    EVENT_SIDECAR,
    EVENT_SSO,
    EVENT_VIP,
    ROLE_ACTIVE,
    ROLE_INIT,
    ROLE_STANDBY,
    Redundancy,
)
from labctl.sidecar.hsrp import fsm

SA_POLL = 0.4  # seconds between two SA snapshots, hence between two SSO reports of each node
PEER_FRESH = 2.0  # seconds an SSO report of the peer counts (five of its reports)
COLD_GRACE = 6.0  # seconds a standby may stay COLD (bulk sync in progress) before it forces a resync
BULK_RESYNC_BACKOFF = 15.0  # seconds between two bulk resyncs (a reload and its resync take a few)
# charon's ha plugin asks the other node for a resync 1 s after it starts, and the other node answers with
# every SA it holds, including the ones it received from us: an SA we negotiated before that request would
# come back as a duplicate (and a PASSIVE twin of a live SA can swallow the peer's requests). So the VIP
# may be claimed only once charon's own startup resync is behind it. An election from Listen takes two
# holdtimes (active timer, then standby timer) before a router can become Active; HSRP starts late only by
# what is missing from that (1.5 s - 2 x 300 ms with msec timers, nothing with the 700 ms default).
HA_STARTUP_RESYNC_GRACE = 1.5
# seconds a node that left Active forwards to the new one what still comes for the remote side
# (`HandOverRoutes`): OSPF moves the route in well under a second, hosts their ARP entry at the gratuitous ARP
HANDOVER_S = 3.0
LIVE_SA_STATES = ("ESTABLISHED", "PASSIVE")  # a standby holds synced IKE SAs as PASSIVE, the active's are ESTABLISHED


# ---------------------------------------------------------------------------------------------- SA snapshots
def _installed(sa: Mapping[str, Any]) -> bool:
    return any(c.get("state", "INSTALLED") == "INSTALLED" for c in sa["child_sas"])


def _ike_key(sa: Mapping[str, Any]) -> str:
    return f"{sa['initiator_spi']}_{sa['responder_spi']}"


def carrying_keys(ike_sas: Iterable[Mapping[str, Any]]) -> set[str]:
    """IKE SAs (SPI pairs) that hold at least one installed CHILD_SA."""
    return {_ike_key(sa) for sa in ike_sas if _installed(sa)}


def sa_keys(ike_sas: Iterable[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """Identity of SAs for comparing nodes: IKE SPI pairs and CHILD SPI pairs."""
    ike_sas = list(ike_sas)
    ike = {_ike_key(sa) for sa in ike_sas}
    # IKEv1 keeps a rekeyed CHILD_SA (REKEYED) until it expires; the standby only needs the installed ones
    child = {f"{c['spi_in']}_{c['spi_out']}" for sa in ike_sas for c in sa["child_sas"]
             if c.get("state", "INSTALLED") == "INSTALLED"}
    return ike, child


def duplicated(ike_sas: Iterable[Mapping[str, Any]]) -> bool:
    """Two IKE SAs with the same SPI pair: the ha plugin pushed one twice (its receiver never dedups)."""
    keys = [_ike_key(sa) for sa in ike_sas]
    return len(keys) != len(set(keys))


def client_routes(sas: Iterable[Mapping[str, Any]], states: tuple[str, ...] = ("ESTABLISHED",)) -> list[str]:
    """Host routes to the virtual IPs of remote-access clients (`remote_vips` of their IKE SAs)."""
    return sorted({vip.split("/")[0] for sa in sas if sa.get("state") in states
                   for vip in sa.get("remote_vips", []) if ":" not in vip})


def derive_state(
    role: str, stateful: bool, charon_up: bool, mine: list[dict[str, Any]], peer: Mapping[str, Any] | None
) -> Redundancy:
    """This node's redundancy state from its HSRP role, its SAs and the active peer's (fresh) report."""
    if role == ROLE_ACTIVE:
        return Redundancy.ACTIVE
    if role != ROLE_STANDBY or not charon_up:
        return Redundancy.INITIALIZATION
    if not stateful or peer is None or peer.get("state") != Redundancy.ACTIVE.label:
        return Redundancy.STANDBY_COLD
    # HOT = every IKE SA of the active is held here, with a CHILD_SA wherever the active has one. CHILD SPIs
    # need not match: with `rekey` the takeover rekeys every CHILD_SA, and the ha plugin's re-pushes can
    # leave stale extra copies here that a takeover only rekeys or lets expire.
    my_ike, my_carrying = sa_keys(mine)[0], carrying_keys(mine)
    peer_ike, peer_carrying = set(peer.get("ike", [])), set(peer.get("carrying", peer.get("ike", [])))
    return Redundancy.STANDBY_HOT if peer_ike <= my_ike and peer_carrying <= my_carrying else Redundancy.STANDBY_COLD


def cold_reason(stateful: bool, mine: list[dict[str, Any]], peer: Mapping[str, Any] | None) -> str:
    """Why :func:`derive_state` says STANDBY COLD for a standby (`""` when it would not): for the status file,
    so a lab that never gets HOT says what it lacks."""
    if not stateful:
        return "stateless: nothing is synced"
    if peer is None:
        return "no fresh SSO report from the Active"
    if peer.get("state") != Redundancy.ACTIVE.label:
        return f"the peer reports {peer.get('state')}, not ACTIVE"
    peer_ike = set(peer.get("ike", []))
    missing = peer_ike - sa_keys(mine)[0]
    if missing:
        return f"{len(missing)} of {len(peer_ike)} IKE SAs of the Active not synced here"
    childless = set(peer.get("carrying", peer.get("ike", []))) - carrying_keys(mine)
    if childless:
        return f"{len(childless)} IKE SAs without the CHILD_SA the Active has"
    return ""


def startup_grace(ha_plugin: bool, hold_ms: int, restarted: bool = False, hello_ms: int = 0) -> float:
    """Seconds HSRP must start late so charon's startup resync is over before we can become Active.
    `restarted`: the sidecar itself crashed and came back (its charon with it, empty): it must stay silent
    until the peer's active timer has expired (hold + a hello), or its Speak Hellos, better by priority,
    send the peer from Standby back to Listen and the empty node wins the election it just lost (seen: a
    sidecar back within 0.7 s on the OSPF lab, 2.6 s outage, IKE SA dead)."""
    resync = max(0.0, HA_STARTUP_RESYNC_GRACE - 2 * hold_ms / 1000) if ha_plugin else 0.0
    return max(resync, (hold_ms + hello_ms) / 1000) if restarted else resync


# ---------------------------------------------------------------------------------------------- commands
@dataclass(frozen=True)
class Command:
    """Something the sidecar must do; executed in the order the policy returned them."""


@dataclass(frozen=True)
class Event(Command):
    """Log one event line (and keep it for the status file)."""

    kind: str
    detail: str


@dataclass(frozen=True)
class SendReport(Command):
    """Send our SSO report to the peer sidecar."""

    report: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class HaCommand(Command):
    """One command of charon's ha plugin, written to its FIFO."""

    segment: int = 1
    op: ClassVar[str]  # "+" activate, "-" deactivate, "*" resync (rekey)

    @property
    def fifo(self) -> str:
        return f"{self.op}{self.segment}"


@dataclass(frozen=True)
class ActivateSegment(HaCommand):
    op = "+"


@dataclass(frozen=True)
class DeactivateSegment(HaCommand):
    op = "-"


@dataclass(frozen=True)
class ResyncSegment(HaCommand):
    """Rekey the segment's CHILD_SAs: new SAs start at sequence number 1 on both ends."""

    op = "*"


@dataclass(frozen=True)
class ContinueReplayState(Command):
    """Raise every local SA to the synced sequence state now (one `get` and `set`s on charon's socket)."""


@dataclass(frozen=True)
class AwaitVip(Command):
    """Wait (bounded) until the VIP is on an interface, then report :meth:`SsoPolicy.vip_ready`."""

    ip: str


@dataclass(frozen=True)
class InjectRoutes(Command):
    """Install the RRI routes; report the routes now present to :meth:`SsoPolicy.routes_installed`."""

    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class SyncRoutes(Command):
    """Make the RRI routes exactly `prefixes`; report as InjectRoutes. `takeover`: part of becoming Active
    (else: following remote-access clients)."""

    prefixes: tuple[str, ...]
    takeover: bool = False


@dataclass(frozen=True)
class HandOverRoutes(Command):
    """Before the RRI routes go: forward what still arrives for `prefixes` to the new Active for a moment
    (`rri.hand_over`); not announced, removed by the sidecar after `HANDOVER_S` or when Active again."""

    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class WithdrawRoutes(Command):
    """Flush every RRI route, then report :meth:`SsoPolicy.routes_withdrawn`."""


@dataclass(frozen=True)
class ReloadCharon(Command):
    """SIGKILL charon and start it again (it re-syncs from the Active); :meth:`SsoPolicy.forget_sas` after
    the kill and after the start, :meth:`SsoPolicy.reload_finished` at the end, even on failure."""


@dataclass(frozen=True)
class RestartCharon(Command):
    """Start charon again after it died (blocking, status written first); forget SAs before and after."""


@dataclass(frozen=True)
class LeaveHsrp(Command):
    """Stop every HSRP group (an Active one resigns, so the peer takes over at once)."""


@dataclass(frozen=True)
class JoinHsrp(Command):
    """Start every HSRP group again."""


def hsrp_config(config: SidecarConfig, group: GroupSettings) -> fsm.GroupConfig:
    """The HSRP state machine's view of one configured group."""
    hsrp = config.hsrp
    return fsm.GroupConfig(
        group=group.group, name=config.group_name, virtual_ip=group.virtual_ip, priority=config.priority,
        preempt=hsrp.preempt, preempt_delay_ms=hsrp.preempt_delay_ms, hello_ms=hsrp.hello_ms, hold_ms=hsrp.hold_ms,
        auth=hsrp.auth, version=hsrp.version, track=dict(group.track), reload_delay_ms=hsrp.reload_delay_ms,
        auth_md5_key=hsrp.auth_md5_key, minimum_delay_ms=hsrp.minimum_delay_ms,
    )


def hsrp_events(action: fsm.Action) -> list[Command]:
    """The event lines of what the HSRP driver did (VIPs moved, group states changed)."""
    if isinstance(action, fsm.ClaimVip):
        return [Event(EVENT_VIP, f"claiming {action.ip} on {action.ifname} (+ gratuitous ARP)")]
    if isinstance(action, fsm.ReleaseVip):
        return [Event(EVENT_VIP, f"releasing {action.ip} on {action.ifname}")]
    if isinstance(action, fsm.StateChanged):
        return [Event(EVENT_HSRP, f"{action.ifname} Grp {action.group} state {action.old.name.capitalize()} -> "
                      f"{action.new.name.capitalize()} ({action.reason})")]
    return []


# ---------------------------------------------------------------------------------------------- the policy
class SsoPolicy:
    """Role/redundancy state of one gateway and the decisions that follow from it."""

    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.role = ROLE_INIT
        self.redundancy = Redundancy.INITIALIZATION
        self.peer_report: Mapping[str, Any] | None = None
        self.peer_seen: float | None = None
        self.sas: list[dict[str, Any]] = []
        self.sas_generation = 0  # bumped whenever charon (re)starts: older snapshots are ignored
        self.rri_routes: list[str] = []  # RRI routes present in the kernel, as last reported
        self.reloading = False
        self.dedup_done = False  # duplicate-SA resync already done in this standby period
        self.cold_since: float | None = None
        self.last_bulk_resync: float | None = None
        # replay-state sync: the Active's sequence table is continued here (the sidecar tells, each poll)
        self.replay_ready = not config.replay_sync
        self.cold_why = ""  # what a STANDBY COLD node lacks (`cold_reason`), for the status file

    @property
    def ha_plugin(self) -> bool:
        return self.config.ha_plugin

    # ------------------------------------------------------------------ queries
    def preempt_allowed(self) -> bool:
        """HSRP may preempt only once this node could take over statefully (the router's gate)."""
        return not self.ha_plugin or self.redundancy is Redundancy.STANDBY_HOT

    def takeover_routes(self) -> tuple[str, ...]:
        """The RRI routes a takeover installs with its VIP claim (the sidecar puts them in the claim's own
        process): the configured ones and, with `remote-peer`, one per client the synced SAs carry."""
        rri = self.config.rri
        if not rri.enabled:
            return ()
        return (*rri.routes, *(client_routes(self.sas, LIVE_SA_STATES) if rri.remote_peer else ()))

    def fresh_peer(self, now: float) -> Mapping[str, Any] | None:
        """The peer's last SSO report while it is fresh (heard within PEER_FRESH)."""
        if self.peer_report is None or self.peer_seen is None or now - self.peer_seen >= PEER_FRESH:
            return None
        return self.peer_report

    def peer_age(self, now: float) -> float | None:
        return round(now - self.peer_seen, 3) if self.peer_seen is not None else None

    # ------------------------------------------------------------------ inputs
    def on_start(self) -> list[Command]:
        """charon was just started by the sidecar: RRI routes of a previous run go."""
        return [Event(EVENT_CHARON, f"started (ha plugin {'on' if self.ha_plugin else 'off'})"), WithdrawRoutes()]

    def on_shutdown(self) -> list[Command]:
        return [Event(EVENT_SIDECAR, "shutting down: resigning")]

    def on_peer_report(self, report: Mapping[str, Any], now: float) -> None:
        """An authenticated SSO report of the peer (validated by the channel)."""
        self.peer_report, self.peer_seen = report, now

    def on_role(self, role: str, now: float, charon_running: bool) -> list[Command]:
        """The node's HSRP role (all groups together) may have changed: strongSwan follows it."""
        if role == self.role:
            return []
        old, self.role = self.role, role
        out: list[Command] = [Event(EVENT_ROLE, f"{old} -> {role}")]
        out += self._update_redundancy(now, charon_running)
        if role == ROLE_ACTIVE:
            if self.config.replay_sync:
                out.append(ContinueReplayState())
            if self.ha_plugin:
                out += [ActivateSegment(), Event(EVENT_HA, "segment 1 activated")]
            out.append(AwaitVip(self.config.crypto_group.virtual_ip))
        elif old == ROLE_ACTIVE:
            if self.config.rri.enabled and self.rri_routes:
                out.append(HandOverRoutes(tuple(self.rri_routes)))
            out.append(WithdrawRoutes())
            if self.ha_plugin:
                out += [DeactivateSegment(), Event(EVENT_HA, "segment 1 deactivated")]
                out += self._reload()
        elif role in (ROLE_STANDBY, ROLE_INIT) and self.rri_routes:
            # a claim that was never Active (the crypto group Active for a moment, a Coup took it back): the
            # claim put its RRI routes in; RRI is on the Active only
            out += [Event(EVENT_RRI, "takeover abandoned before it completed: its claim's routes go"),
                    WithdrawRoutes()]
        return out

    def routes_claimed(self, routes: Iterable[str]) -> None:
        """A VIP claim put `routes` in the kernel (:meth:`takeover_routes`, before any role change): known here,
        so a takeover abandoned before the node was Active withdraws them."""
        self.rri_routes = list(dict.fromkeys([*self.rri_routes, *routes]))

    def on_sas(self, sas: list[dict[str, Any]], now: float, charon_running: bool, generation: int) -> list[Command]:
        """A snapshot of charon's IKE SAs, asked for while `sas_generation` was `generation`."""
        if generation != self.sas_generation:
            return []  # charon restarted while we were asking: this answer describes the old one
        self.sas = [sa for sa in sas if sa.get("state") in LIVE_SA_STATES]
        return self._update_redundancy(now, charon_running) + self._follow_clients() + self._bulk_resync(now)

    def on_tick(self, now: float, charon_running: bool) -> list[Command]:
        """charon supervision: a dead charon (not one we are reloading) takes the node out of HSRP."""
        if charon_running or self.reloading:
            return []
        return [Event(EVENT_CHARON, "charon is not running: leaving HSRP, restarting charon"),
                LeaveHsrp(), WithdrawRoutes(), RestartCharon(), JoinHsrp()]

    # ------------------------------------------------------------------ outcomes of commands
    def forget_sas(self) -> None:
        """A (re)started charon knows nothing yet: never judge HOT from the previous charon's SAs (nor from
        the replay state it had)."""
        self.sas = []
        self.sas_generation += 1
        self.replay_ready = not self.config.replay_sync

    def reload_finished(self) -> None:
        self.reloading = False

    def vip_ready(self) -> list[Command]:
        """The crypto VIP is up (or the wait gave up): RRI, then the sequence-continuity rekey (`rekey`)."""
        if self.role != ROLE_ACTIVE:
            return []
        if self.config.rri.enabled:
            return [InjectRoutes(self.config.rri.routes)]
        return self._resync()

    def routes_installed(self, command: InjectRoutes | SyncRoutes, routes: Iterable[str]) -> list[Command]:
        """The RRI routes present after `command` ran."""
        routes = list(routes)
        if isinstance(command, InjectRoutes):
            self.rri_routes = routes
            if self.config.rri.remote_peer:
                # the synced (until now PASSIVE) client SAs are ours now: a route per client right away
                return [SyncRoutes(self.takeover_routes(), takeover=True)]
            return self._injected()
        if command.takeover:
            self.rri_routes = routes
            return self._injected()
        if self.role != ROLE_ACTIVE:  # lost Active while the routes were written: withdraw them again
            return [WithdrawRoutes()]
        added, gone = set(routes) - set(self.rri_routes), set(self.rri_routes) - set(routes)
        self.rri_routes = routes
        if not (added or gone):
            return []
        return [Event(EVENT_RRI, "remote-peer routes" + (f" +{', +'.join(sorted(added))}" if added else "")
                      + (f" -{', -'.join(sorted(gone))}" if gone else ""))]

    def routes_withdrawn(self) -> list[Command]:
        out: list[Command] = [Event(EVENT_RRI, f"withdrew {', '.join(self.rri_routes)}")] if self.rri_routes else []
        self.rri_routes = []
        return out

    # ------------------------------------------------------------------ rules
    def _update_redundancy(self, now: float, charon_running: bool) -> list[Command]:
        state = derive_state(self.role, self.ha_plugin, charon_running, self.sas, self.fresh_peer(now))
        why = cold_reason(self.ha_plugin, self.sas, self.fresh_peer(now)) if state is Redundancy.STANDBY_COLD else ""
        if state is Redundancy.STANDBY_HOT and duplicated(self.sas) and not self.dedup_done:
            state = Redundancy.STANDBY_COLD  # the bulk resync that clears the copies is about to reload charon
            why = "duplicate synced IKE SAs (a bulk resync clears them)"
        if state is Redundancy.STANDBY_HOT and not self.replay_ready:
            state = Redundancy.STANDBY_COLD  # a takeover now would restart ESP sequence numbers: not HOT yet
            why = "ESP replay state of the Active not continued here yet"
        self.cold_why = why
        out: list[Command] = []
        if state is not self.redundancy:
            out.append(Event(EVENT_REDUNDANCY, f"my state {self.redundancy.label} -> {state.label}"))
            self.redundancy = state
        ike, child = sa_keys(self.sas)
        out.append(SendReport({"node": self.config.node, "state": state.label, "role": self.role, "ike": sorted(ike),
                               "child": sorted(child), "carrying": sorted(carrying_keys(self.sas))}))
        return out

    def _follow_clients(self) -> list[Command]:
        """`reverse-route remote-peer`: on the Active node, one route per connected remote-access client."""
        rri = self.config.rri
        if self.role != ROLE_ACTIVE or not rri.enabled or not rri.remote_peer:
            return []
        wanted = [*rri.routes, *client_routes(self.sas)]
        if sorted(wanted) == sorted(self.rri_routes):
            return []
        return [SyncRoutes(tuple(wanted))]

    def _bulk_resync(self, now: float) -> list[Command]:
        """A standby whose synced state is wrong reloads charon to get a clean bulk sync (HA_RESYNC).

        The ha plugin re-pushes whole IKE_SAs on every resync and its receiver does not deduplicate: a
        standby that started while the active was syncing a new SA ends up with two PASSIVE copies (one
        of them with a CHILD_SA the peer has since deleted), and a takeover would activate both. The same
        reload also ends a STANDBY COLD that does not heal by itself.
        """
        if self.role != ROLE_STANDBY or not self.ha_plugin or self.reloading:
            self.cold_since = None
            self.dedup_done = False
            return []
        if self.last_bulk_resync is not None and now - self.last_bulk_resync < BULK_RESYNC_BACKOFF:
            return []
        # once per standby period: the copies come back when the active's own sync cache holds stale entries
        dup = duplicated(self.sas) and not self.dedup_done
        # a standby has an Active by definition: a COLD that lasts is resynced even if no SSO report came in
        # yet (a gateway restarted after a node kill once stayed COLD for a minute, without any event)
        # ...but never while the Active is silent (it reported, and stopped): it may be dead, HSRP has not timed
        # it out yet (hold 10 s at IOS timers), and a reload would destroy the only copy of the sessions the
        # takeover is about to need (the seed labs re-negotiated after exactly that); nobody could answer the
        # resync anyway. The grace starts again when it reports again.
        silent = self.peer_seen is not None and self.fresh_peer(now) is None
        if self.redundancy is not Redundancy.STANDBY_COLD or silent:
            self.cold_since = None
        elif self.cold_since is None:
            self.cold_since = now
        stuck = self.cold_since is not None and now - self.cold_since > COLD_GRACE
        if not (dup or stuck):
            return []
        self.dedup_done = self.dedup_done or dup
        self.last_bulk_resync = now
        self.cold_since = None
        reason = "duplicate synced IKE_SAs" if dup else f"STANDBY COLD for over {COLD_GRACE:.0f}s"
        return [Event(EVENT_SSO, f"bulk resync: {reason}"), *self._reload()]

    def _reload(self) -> list[Command]:
        self.reloading = True
        return [Event(EVENT_CHARON, "reloading charon to resync from the active"), ReloadCharon()]

    def _resync(self) -> list[Command]:
        if not (self.ha_plugin and self.config.sequence_continuity == "rekey"):
            return []
        return [ResyncSegment(), Event(EVENT_HA, "segment 1 resync: CHILD_SAs rekeyed for ESP sequence continuity")]

    def _injected(self) -> list[Command]:
        return [Event(EVENT_RRI, f"injected {', '.join(self.rri_routes) or 'nothing (tunnel device missing?)'}"),
                *self._resync()]

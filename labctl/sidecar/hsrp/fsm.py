"""Pure HSRP state machine (RFC 2281 section 6), stdlib only.

Nothing here owns a socket, a clock or a thread: every entry point takes
``now`` (monotonic seconds) and returns the list of :class:`Action` objects the
caller must carry out.  That keeps the protocol testable with a fake clock and
lets :mod:`.transport` be a thin driver.

RFC 2281 events handled (letters as in section 6.4):

* a  interface up / configured -> Learn (no VIP) or Listen, after the start
  delay (``standby delay minimum/reload``, see :meth:`HsrpGroup.start`)
* b  interface down -> Initial (Resign first when Active)
* c  active timer expiry: Listen -> Speak, Standby -> Active
* d  standby timer expiry: Listen -> Speak, Speak -> Standby (or Active when
  there is no active router either: a lone router goes Listen->Speak->Active)
* e  hello timer: send Hello in Speak/Standby/Active
* f  Hello from a better Speak router: Speak/Standby -> Listen
* g  Hello from a better Active router while Active -> Speak
* h  Hello from a worse Active router: Active sends Coup; others preempt if allowed
* i  Resign from the active router: Standby -> Active, Listen -> Speak
* j  Coup from a better router while Active -> Speak
* k/l Hello from a better/worse Standby router: Standby/Speak -> Listen / Speak -> Standby

"Better" is (priority, IP address) compared as a tuple: higher priority
wins, equal priority is broken by the higher interface address (RFC 2281
section 5.1), for the Active and the Standby election alike.

Authentication is the text string (``auth``, default ``cisco``) or, when
``auth_md5_key`` is set, the IOS MD5 TLV (``standby authentication md5
key-string``).  A packet that fails either check is dropped and counted in
``counters["bad_auth"]``; so is a packet of the other kind.

Deliberate simplifications, documented so nobody has to rediscover them:

* Our own Hello/Hold are always the configured ones.  The only timer taken
  from the wire is the Holdtime *carried in the peer's message*, which sets
  how long that peer's Active/Standby claim stays valid (RFC 2281: "the
  amount of time that the current Hello message should be considered
  valid").  It is used when it is non-zero (an HSRPv1 peer with msec timers
  sends 0) and above the advertised Hellotime, else our own Hold applies; and
  it is capped at :data:`MAX_LEARNED_HOLD_MS` (255 s, the largest Holdtime
  IOS accepts in either version and all the HSRPv1 one-byte seconds field can
  carry) or our own configured Hold if that is larger.  So one hostile Coup
  advertising 0xFFFFFFFF ms can keep the VIP ownerless for at most that cap,
  not 49.7 days.
* The time spent in Speak is one Holdtime (the standby timer restarts on
  entry), as IOS does; during it the router contests for standby.
* Two gates (:attr:`HsrpGroup.gate` for every transition into Active,
  :attr:`HsrpGroup.preempt_gate` for preemption only), set by
  :class:`HsrpRouter`, can veto taking Active.  A vetoed Standby simply stays
  Standby and the takeover is retried by :meth:`HsrpGroup.reevaluate`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from .packet import MD5_KEY_MAX, HsrpPacket, Md5Auth, Opcode, PacketError, State, sign, verify

__all__ = [
    "Action",
    "ClaimVip",
    "GroupConfig",
    "HsrpGroup",
    "HsrpRouter",
    "MAX_LEARNED_HOLD_MS",
    "ReleaseVip",
    "Send",
    "StateChanged",
]


MAX_LEARNED_HOLD_MS = 255_000
"""Cap on a Holdtime learned from the wire (IOS: hold 1-255 s, or msec up to 255000)."""


@dataclass(frozen=True)
class GroupConfig:
    """One ``standby <group> ...`` block; timers in milliseconds as in ``timers msec``.

    ``auth_md5_key``: ``standby authentication md5 key-string KEY`` (1-64
    characters); when set it replaces the text ``auth`` on the wire and on
    receipt.  ``None`` (default) keeps text authentication.

    ``reload_delay_ms`` / ``minimum_delay_ms``: ``standby delay minimum M
    reload R``.  With ``minimum_delay_ms=None`` (default, the historical
    behaviour) every start waits ``reload_delay_ms``.  With a number, the first
    start after the router (re)loaded waits ``max(reload, minimum)`` and every
    later interface-up waits ``minimum``; see :meth:`HsrpGroup.start`.
    """

    group: int
    name: str
    virtual_ip: str | None
    priority: int = 100
    preempt: bool = False
    preempt_delay_ms: int = 0
    hello_ms: int = 3000
    hold_ms: int = 10000
    auth: str = "cisco"
    version: int = 2
    track: dict[str, int] = field(default_factory=dict)
    reload_delay_ms: int = 0
    auth_md5_key: str | None = None
    minimum_delay_ms: int | None = None

    def __post_init__(self) -> None:
        hi = 255 if self.version == 1 else 4095
        if self.version not in (1, 2):
            raise ValueError(f"HSRP version must be 1 or 2, not {self.version}")
        if not 0 <= self.group <= hi:
            raise ValueError(f"HSRPv{self.version} group {self.group} out of range 0-{hi}")
        if not 0 <= self.priority <= 255:
            raise ValueError(f"priority {self.priority} out of range 0-255")
        if self.hello_ms <= 0 or self.hold_ms <= self.hello_ms:
            raise ValueError(f"need 0 < hello ({self.hello_ms} ms) < hold ({self.hold_ms} ms)")
        if self.virtual_ip:
            ipaddress.IPv4Address(self.virtual_ip)
        if self.auth_md5_key is not None:
            key = self.auth_md5_key
            if not isinstance(key, str) or not 1 <= len(key) <= MD5_KEY_MAX or not _latin1(key):
                raise ValueError(f"MD5 key string must be 1-{MD5_KEY_MAX} 8-bit characters")
        if self.minimum_delay_ms is not None and self.minimum_delay_ms < 0:
            raise ValueError(f"minimum delay {self.minimum_delay_ms} ms is negative")


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Action:
    """Base class; ``ifname`` is filled in by :class:`HsrpRouter` (empty for a bare group)."""


@dataclass(frozen=True)
class Send(Action):
    packet: HsrpPacket
    ifname: str = ""


@dataclass(frozen=True)
class StateChanged(Action):
    group: int
    old: State
    new: State
    reason: str
    ifname: str = ""


@dataclass(frozen=True)
class ClaimVip(Action):
    """Add the VIP to the interface and send gratuitous ARP."""

    ip: str
    ifname: str = ""


@dataclass(frozen=True)
class ReleaseVip(Action):
    ip: str
    ifname: str = ""


def _ip_int(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


_RUNNING = (State.LISTEN, State.SPEAK, State.STANDBY, State.ACTIVE)
_SPEAKING = (State.SPEAK, State.STANDBY, State.ACTIVE)


class HsrpGroup:
    """One HSRP group on one interface of this node."""

    def __init__(self, config: GroupConfig, my_ip: str, identifier: bytes = b"\0" * 6) -> None:
        self.config = config
        self.my_ip = my_ip
        self._my_ip_int = _ip_int(my_ip)
        self.identifier = bytes(identifier)
        self.gate: Callable[[], bool] = lambda: True  # may this group enter Active at all?
        self.preempt_gate: Callable[[], bool] = lambda: True  # may it take Active by preemption?
        self.counters: dict[str, int] = dict.fromkeys(
            ("rx", "tx", "bad_auth", "malformed", "foreign_group", "ignored"), 0
        )
        self._state = State.INITIAL
        self._vip: str | None = config.virtual_ip or None
        self._down: set[str] = set()
        self._start_at: float | None = None
        self._started_once = False  # the reload delay is served (``standby delay reload``)
        self._hello_at: float | None = None
        self._active_at: float | None = None  # active timer expiry
        self._standby_at: float | None = None  # standby timer expiry
        self._preempt_at: float | None = None  # when preemption is allowed (preempt delay)
        self._preempt_timer = False  # _preempt_at is still a pending deadline
        self._active: tuple[int, int, str] | None = None  # (priority, ip int, ip)
        self._standby: tuple[int, int, str] | None = None
        self._peer_ip: str | None = None  # the other router last heard (`peer_ip`)

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def state(self) -> State:
        return self._state

    @property
    def virtual_ip(self) -> str | None:
        return self._vip

    @property
    def active_router(self) -> str | None:
        if self._state == State.ACTIVE:
            return self.my_ip
        return self._active[2] if self._active else None

    @property
    def standby_router(self) -> str | None:
        if self._state == State.STANDBY:
            return self.my_ip
        return self._standby[2] if self._standby else None

    @property
    def effective_priority(self) -> int:
        dec = sum(d for name, d in self.config.track.items() if name in self._down)
        return max(0, self.config.priority - dec)

    @property
    def owns_vip(self) -> bool:
        return self._state == State.ACTIVE

    @property
    def is_down(self) -> bool:
        """Interface down, not started yet (reload delay) or VIP unknown."""
        return self._state in (State.INITIAL, State.LEARN)

    @property
    def active_priority(self) -> int | None:
        """Priority advertised by the live active router of this group, if that is a peer."""
        return self._active[0] if self._active and self._state != State.ACTIVE else None

    @property
    def peer_ip(self) -> str | None:
        """The address of the other router last heard on this group (an HA pair has one): kept when the
        group stops or resigns, which is when a node hands its routes over to it."""
        return self._peer_ip

    @property
    def standby_priority(self) -> int | None:
        """Priority advertised by the standby router of this group, if that is a peer."""
        return self._standby[0] if self._standby and self._state != State.STANDBY else None

    @property
    def next_hello_at(self) -> float | None:
        """When the next Hello is due (same clock as ``now``); None when not speaking."""
        return self._hello_at

    @property
    def active_expires_at(self) -> float | None:
        """Active timer deadline: when the active router is presumed dead if silent."""
        return self._active_at

    @property
    def standby_expires_at(self) -> float | None:
        """Standby timer deadline (or, in Speak, the end of the standby contest)."""
        return self._standby_at

    @property
    def held_out(self) -> bool:
        """Informational: not Active here and not about to be.

        That is: it is down (Initial/Learn), or it sees a live active router
        that it will not displace (that router is better, or we lack preempt).
        """
        if self._state == State.ACTIVE:
            return False
        if self._state in (State.INITIAL, State.LEARN):
            return True
        return self._active is not None and not self._would_preempt()

    def next_deadline(self) -> float | None:
        times = [
            t
            for t in (
                self._start_at,
                self._hello_at,
                self._active_at,
                self._standby_at,
                self._preempt_at if self._preempt_timer else None,
            )
            if t is not None
        ]
        return min(times) if times else None

    # ------------------------------------------------------------------ inputs

    def start(self, now: float) -> list[Action]:
        """Interface up / group configured (event a), after the start delay.

        The group stays in Initial until the interface has been up for the
        delay; a stop() meanwhile cancels it and the next start() waits anew.
        The reload delay counts as served only once a start has completed, so
        a flap during the reload delay does not cut it short.
        """
        if self._state != State.INITIAL or self._start_at is not None:
            return self._run_timers(now)
        self._start_at = now + self._start_delay_ms() / 1000
        return self._run_timers(now)

    def _start_delay_ms(self) -> int:
        c = self.config
        if c.minimum_delay_ms is None:  # historical behaviour: every start waits the reload delay
            return c.reload_delay_ms
        if not self._started_once:
            return max(c.reload_delay_ms, c.minimum_delay_ms)
        return c.minimum_delay_ms

    def stop(self, now: float) -> list[Action]:
        """Interface down or shutdown (event b): Resign if Active, back to Initial."""
        out: list[Action] = []
        if self._state == State.ACTIVE:
            out.append(self._send(Opcode.RESIGN))
            out.append(ReleaseVip(self._vip or ""))
        if self._state != State.INITIAL:
            out.append(self._set_state(State.INITIAL, "stopped"))
        self._start_at = self._hello_at = self._active_at = self._standby_at = None
        self._disarm_preempt()
        self._active = self._standby = None
        self._vip = self.config.virtual_ip or None
        return out

    def resign(self, now: float, reason: str = "resigned") -> list[Action]:
        """Give up Active deliberately: send Resign, release the VIP and drop to Speak."""
        if self._state != State.ACTIVE:
            return self._run_timers(now)
        out: list[Action] = [self._send(Opcode.RESIGN), ReleaseVip(self._vip or "")]
        out += self._enter_speak(now, reason)
        return out + self._run_timers(now)

    def set_tracked(self, name: str, up: bool, now: float) -> list[Action]:
        """A tracked object changed; adjusts the priority and lets HSRP sort it out.

        An Active router whose priority drops does *not* step down by itself:
        its next Hello carries the lower priority and a preempting peer takes
        over with a Coup (event h on the peer, j here).  A Hello is sent at
        once so that happens without waiting a hello interval.
        """
        before = self.effective_priority
        if up:
            self._down.discard(name)
        else:
            self._down.add(name)
        out: list[Action] = []
        if self.effective_priority != before and self._state in _SPEAKING:
            out.append(self._send(Opcode.HELLO))
            self._hello_at = now + self.config.hello_ms / 1000
        out += self._check_preempt(now)
        return out + self._run_timers(now)

    def on_timer(self, now: float) -> list[Action]:
        return self._run_timers(now)

    def reevaluate(self, now: float) -> list[Action]:
        """Retry takeovers the gate vetoed earlier (called when a sibling changed)."""
        out = self._run_timers(now)
        if self._state == State.STANDBY and self._active is None and self._active_at is None:
            out += self._become_active(now, "active router gone; sibling gate now open")
        out += self._check_preempt(now)
        return out

    def on_packet(self, pkt: HsrpPacket | PacketError, src_ip: str, now: float) -> list[Action]:
        """Process one received message (RFC 2281 events f-l)."""
        self.counters["rx"] += 1
        out = self._run_timers(now)
        if isinstance(pkt, PacketError) or not isinstance(pkt, HsrpPacket):
            self.counters["malformed"] += 1
            return out
        try:
            src = _ip_int(src_ip)
            peer = (int(pkt.priority), src, src_ip)
            opcode, pstate = Opcode(pkt.opcode), State(pkt.state)
        except (ValueError, TypeError):
            self.counters["malformed"] += 1
            return out
        if pkt.group != self.config.group:
            self.counters["foreign_group"] += 1
            return out
        if not self._authentic(pkt, src_ip):
            self.counters["bad_auth"] += 1
            return out
        if src == self._my_ip_int or pkt.version != self.config.version or self._state == State.INITIAL:
            self.counters["ignored"] += 1
            return out
        self._peer_ip = src_ip
        hold_s = self._learned_hold_ms(pkt) / 1000
        claims_active = opcode == Opcode.COUP or (opcode == Opcode.HELLO and pstate == State.ACTIVE)

        if self._state == State.LEARN:
            if not claims_active:
                self.counters["ignored"] += 1
                return out
            try:
                ipaddress.IPv4Address(pkt.virtual_ip)
            except ValueError:
                self.counters["malformed"] += 1
                return out
            self._vip = pkt.virtual_ip
            out.append(self._set_state(State.LISTEN, f"learned VIP {pkt.virtual_ip} from {src_ip}"))

        better = peer[:2] > (self.effective_priority, self._my_ip_int)
        if opcode == Opcode.RESIGN:
            out += self._on_resign(peer, now)
        elif claims_active:
            out += self._on_active_claim(peer, better, opcode, hold_s, now)
        elif pstate == State.STANDBY:
            out += self._on_standby_hello(peer, better, hold_s, now)
        elif pstate == State.SPEAK:
            out += self._on_speak_hello(peer, better, hold_s, now)
        else:
            self.counters["ignored"] += 1  # Hellos from Initial/Learn/Listen carry no election info
        return out + self._run_timers(now)

    def _authentic(self, pkt: HsrpPacket, src_ip: str) -> bool:
        """Text or MD5 authentication, whichever is configured; the other kind is refused."""
        key = self.config.auth_md5_key
        if key is None:
            return pkt.md5 is None and pkt.auth == self.config.auth
        md5 = pkt.md5
        return md5 is not None and md5.sender_ip == src_ip and verify(pkt, key)

    def _learned_hold_ms(self, pkt: HsrpPacket) -> int:
        """The peer's advertised Holdtime, bounded (see the module docstring); else our own."""
        hold, hello = pkt.holdtime_ms, pkt.hellotime_ms
        if not isinstance(hold, int) or hold <= 0:
            return self.config.hold_ms
        if isinstance(hello, int) and hold <= hello:
            return self.config.hold_ms  # nonsense timers: trust our own
        return min(hold, max(MAX_LEARNED_HOLD_MS, self.config.hold_ms))

    # ------------------------------------------------------------------ event handlers

    def _forget_peer(self, ip: str, now: float) -> None:
        if self._active and self._active[2] == ip:
            self._active = None
            self._active_at = None
            self._disarm_preempt()
        if self._standby and self._standby[2] == ip:
            self._standby_gone(now)

    def _standby_gone(self, now: float) -> None:
        """The standby router left (promoted, resigned): there is no standby any more.

        In Listen that is a standby-timer expiry right now (go contest it); in
        Speak the timer is our contest period and keeps running.
        """
        self._standby = None
        if self._state == State.LISTEN:
            self._standby_at = now
        elif self._state != State.SPEAK:
            self._standby_at = None

    def _on_resign(self, peer: tuple[int, int, str], now: float) -> list[Action]:
        was_active = self._active is not None and self._active[2] == peer[2]
        self._forget_peer(peer[2], now)
        if not was_active and self._active is not None:
            self.counters["ignored"] += 1
            return []
        # Event i: the active router left; the standby takes over at once.
        self._active = None
        self._active_at = None
        if self._state == State.STANDBY:
            return self._become_active(now, f"Resign from active {peer[2]}")
        if self._state == State.LISTEN:
            return self._enter_speak(now, f"Resign from active {peer[2]}")
        return []

    def _on_active_claim(
        self, peer: tuple[int, int, str], better: bool, opcode: Opcode, hold_s: float, now: float
    ) -> list[Action]:
        if self._standby and self._standby[2] == peer[2]:
            self._standby_gone(now)
        if self._state == State.ACTIVE:
            if better:
                # Event g (Hello) or j (Coup): a better router is active; step back.
                self._active, self._active_at = peer, now + hold_s
                what = "Coup" if opcode == Opcode.COUP else "Hello"
                out: list[Action] = [ReleaseVip(self._vip or "")]
                return out + self._enter_speak(now, f"{what} from better active {peer[2]} (prio {peer[0]})")
            # Event h while Active: tell the worse router to back off.
            return [self._send(Opcode.COUP)]
        self._active, self._active_at = peer, now + hold_s
        return self._check_preempt(now)

    def _on_standby_hello(self, peer: tuple[int, int, str], better: bool, hold_s: float, now: float) -> list[Action]:
        if self._active and self._active[2] == peer[2]:
            # The old active now says Standby without a Resign: treat it as gone.
            self._active = None
            self._active_at = now
        if self._state == State.ACTIVE:
            self._standby, self._standby_at = peer, now + hold_s
            return []
        if better:
            self._standby, self._standby_at = peer, now + hold_s
            if self._state in (State.STANDBY, State.SPEAK):  # event k
                return self._set_listen(now, f"better standby {peer[2]} (prio {peer[0]})")
            return []
        if self._state == State.SPEAK:  # event l: we are the better standby
            self._forget_peer(peer[2], now)
            return self._enter_standby(now, f"worse standby {peer[2]} (prio {peer[0]})")
        if self._state == State.LISTEN:  # event l: the standby must be the best non-active router
            return self._enter_speak(now, f"worse standby {peer[2]} (prio {peer[0]})")
        return []

    def _on_speak_hello(self, peer: tuple[int, int, str], better: bool, hold_s: float, now: float) -> list[Action]:
        if self._active and self._active[2] == peer[2]:
            self._active = None
            self._active_at = now
        if not better:
            return []
        if self._state in (State.SPEAK, State.STANDBY):  # event f
            self._standby, self._standby_at = peer, now + hold_s
            return self._set_listen(now, f"better speaker {peer[2]} (prio {peer[0]})")
        if self._state == State.LISTEN:
            self._standby_at = now + hold_s  # a better candidate is contesting; keep listening
        return []

    def _would_preempt(self) -> bool:
        return (
            self.config.preempt
            and self._active is not None
            and (self.effective_priority, self._my_ip_int) > self._active[:2]
        )

    def _disarm_preempt(self) -> None:
        self._preempt_at = None
        self._preempt_timer = False

    def _check_preempt(self, now: float) -> list[Action]:
        if (
            self._state not in (State.LISTEN, State.SPEAK, State.STANDBY)
            or not self._would_preempt()
            or not self.preempt_gate()
        ):
            self._disarm_preempt()
            return []
        if self._preempt_at is None:
            self._preempt_at = now + self.config.preempt_delay_ms / 1000
            self._preempt_timer = True
        if now < self._preempt_at:
            return []
        # Delay served.  If the gate vetoes, stay armed: reevaluate() retries without a new delay.
        self._preempt_timer = False
        active = self._active
        assert active is not None
        return self._become_active(now, f"preempt worse active {active[2]} (prio {active[0]})", coup=True)

    # ------------------------------------------------------------------ timers

    def _run_timers(self, now: float) -> list[Action]:
        out: list[Action] = []
        for _ in range(8):  # each pass consumes at least one expired timer
            step = self._one_timer(now)
            if step is None:
                break
            out += step
        return out

    def _one_timer(self, now: float) -> list[Action] | None:
        if self._start_at is not None and now >= self._start_at:
            self._start_at = None
            self._started_once = True
            hold = self.config.hold_ms / 1000
            self._active_at = self._standby_at = now + hold
            if self._vip is None:
                return [self._set_state(State.LEARN, "started; no VIP configured")]
            return [self._set_state(State.LISTEN, "started")]
        if self._active_at is not None and now >= self._active_at:
            self._active_at = None  # event c
            gone = self._active[2] if self._active else "none"
            self._active = None
            self._disarm_preempt()
            if self._state == State.LISTEN:
                return self._enter_speak(now, f"active timer expired (was {gone})")
            if self._state == State.STANDBY:
                return self._become_active(now, f"active timer expired (was {gone})")
            return []
        if self._standby_at is not None and now >= self._standby_at:
            self._standby_at = None  # event d
            self._standby = None
            if self._state == State.LISTEN:
                return self._enter_speak(now, "standby timer expired")
            if self._state == State.SPEAK:
                if self._active is None:  # a vetoed takeover lands in Standby instead
                    why = "no active and no better speaker for a holdtime"
                    return self._become_active(now, why, veto_to_standby=True)
                return self._enter_standby(now, "no better speaker for a holdtime")
            return []
        if self._preempt_timer and self._preempt_at is not None and now >= self._preempt_at:
            self._preempt_timer = False
            return self._check_preempt(now)
        if self._hello_at is not None and now >= self._hello_at:
            self._hello_at = now + self.config.hello_ms / 1000  # event e
            return [self._send(Opcode.HELLO)] if self._state in _SPEAKING else []
        return None

    # ------------------------------------------------------------------ transitions

    def _set_state(self, new: State, reason: str) -> StateChanged:
        old, self._state = self._state, new
        return StateChanged(self.config.group, old, new, reason)

    def _set_listen(self, now: float, reason: str) -> list[Action]:
        self._hello_at = None
        if self._active is None and self._active_at is None:
            self._active_at = now + self.config.hold_ms / 1000
        return [self._set_state(State.LISTEN, reason)]

    def _enter_speak(self, now: float, reason: str) -> list[Action]:
        out: list[Action] = [self._set_state(State.SPEAK, reason)]
        self._standby = None
        self._standby_at = now + self.config.hold_ms / 1000  # contest for one holdtime
        self._hello_at = now + self.config.hello_ms / 1000
        out.append(self._send(Opcode.HELLO))
        return out

    def _enter_standby(self, now: float, reason: str) -> list[Action]:
        out: list[Action] = [self._set_state(State.STANDBY, reason)]
        self._standby = None
        self._standby_at = None
        self._hello_at = now + self.config.hello_ms / 1000
        out.append(self._send(Opcode.HELLO))
        out += self._check_preempt(now)
        return out

    def _become_active(
        self, now: float, reason: str, coup: bool = False, veto_to_standby: bool = False
    ) -> list[Action]:
        if self._state == State.ACTIVE or self._vip is None:
            return []
        if not self.gate():
            if veto_to_standby:
                return self._enter_standby(now, f"{reason}; Active vetoed by sibling group")
            return []
        out: list[Action] = [self._set_state(State.ACTIVE, reason)]
        self._active = None
        self._active_at = None
        self._disarm_preempt()
        # make before break: the VIP is ours (address up, gratuitous ARP out) before the Coup tells the old
        # Active to let go, so hosts move to us while it still forwards: a preempt loses (almost) nothing
        out.append(ClaimVip(self._vip))
        if coup:
            out.append(self._send(Opcode.COUP))
        out.append(self._send(Opcode.HELLO))
        self._hello_at = now + self.config.hello_ms / 1000
        return out

    def _send(self, opcode: Opcode) -> Send:
        self.counters["tx"] += 1
        c = self.config
        pkt = HsrpPacket(
            version=c.version,
            opcode=opcode,
            state=self._state,
            group=c.group,
            priority=self.effective_priority,
            hellotime_ms=c.hello_ms,
            holdtime_ms=c.hold_ms,
            virtual_ip=self._vip or "0.0.0.0",
            auth=c.auth if c.auth_md5_key is None else "",
            identifier=self.identifier,
            md5=None if c.auth_md5_key is None else Md5Auth(self.my_ip),
        )
        if c.auth_md5_key is not None:
            pkt = sign(pkt, c.auth_md5_key)
        return Send(pkt)


# =========================================================================== router


class HsrpRouter:
    """All HSRP groups of ONE node, kept in the same state (inside == outside).

    The stateful-failover spec requires "the state of the inside interface
    and the outside interface must be the same".  Plain HSRP runs each group
    independently, so this class adds three rules on top of RFC 2281.  They
    assume an HA *pair*: the router active on one group is the same peer node
    as on the others (which is exactly what these rules maintain).

    1. *Down follows*: when any group leaves Active (stop, Hello/Coup from a
       better router, resign), every sibling still Active resigns, so the peer
       takes all groups over together (its Standby groups get our Resign).  An
       Active group also resigns whenever a sibling is *down* (Initial/Learn:
       interface down, reload delay running, VIP not learned).
    2. *Up gate*: no group enters Active (active-timer expiry, Resign from the
       peer, preemption, lone-router election) while a sibling is down.  A
       node that lost one interface therefore never attracts traffic on the
       other.  Vetoed takeovers are retried when anything changes.
    3. *Preemption gate*: on top of RFC 2281's per-group "I am better than the
       active router" test (and the node's own gate, SSO's STANDBY HOT, which a
       node Active on a sibling group skips), a group may only preempt if this node's *weakest*
       effective priority across all its groups is not below the weakest
       priority advertised by the peers active on those groups.  A node is as
       good as its worst interface: without this rule a node degraded on one
       interface (tracking) would pull the other group back with a Coup, which
       by rule 1 drags the degraded group along and starts a tug of war.

    Groups are never forced Active from outside: the peer hands them over with
    Resign (rule 1 on the peer) or they are taken by normal preemption.  If
    the interfaces order the routers differently (priorities/addresses - the
    misconfiguration the spec warns about) the outcome is a stable split,
    reported as ``role == "transition"``, not a flap.
    """

    def __init__(self, members: Iterable[tuple[str, HsrpGroup]]) -> None:
        self._groups: dict[tuple[str, int], HsrpGroup] = {}
        for ifname, grp in members:
            key = (ifname, grp.config.group)
            if key in self._groups:
                raise ValueError(f"duplicate HSRP group {grp.config.group} on {ifname}")
            self._groups[key] = grp
        for grp in self._groups.values():
            grp.gate = self._gate_for(grp)
            grp.preempt_gate = self._preempt_ok
        self.counters: dict[str, int] = {"malformed": 0, "foreign_group": 0}
        # set by the node (SSO): preempt only once the node could take over statefully (STANDBY HOT)
        self.preempt_allowed: Callable[[], bool] = lambda: True

    def _gate_for(self, grp: HsrpGroup) -> Callable[[], bool]:
        return lambda: not any(s.is_down for s in self._groups.values() if s is not grp)

    def _preempt_ok(self) -> bool:
        # the SSO gate (STANDBY HOT) guards a takeover from the peer's Active role; a node already Active on a
        # sibling group is no standby and can never become HOT: it completes its own role instead of keeping
        # a split both nodes would hold forever (seen at start-up under load: gw1 Active outside and Standby
        # inside, gw2 the mirror image, neither allowed to move)
        half_active = any(g.state == State.ACTIVE for g in self._groups.values())
        if not half_active and not self.preempt_allowed():
            return False
        mine = min(g.effective_priority for g in self._groups.values())
        peers = [p for g in self._groups.values() if (p := g.active_priority) is not None]
        return not peers or mine >= min(peers)

    @property
    def groups(self) -> dict[tuple[str, int], HsrpGroup]:
        return dict(self._groups)

    def group(self, ifname: str, number: int) -> HsrpGroup:
        return self._groups[(ifname, number)]

    @property
    def role(self) -> str:
        states = {g.state for g in self._groups.values()}
        if states == {State.ACTIVE}:
            return "active"
        if states == {State.STANDBY}:
            return "standby"
        if states <= {State.INITIAL, State.LEARN}:
            return "init"
        return "transition"

    def next_deadline(self) -> float | None:
        times = [t for t in (g.next_deadline() for g in self._groups.values()) if t is not None]
        return min(times) if times else None

    # ------------------------------------------------------------------ inputs

    def start(self, now: float, ifname: str | None = None) -> list[Action]:
        return self._each(now, ifname, lambda g: g.start(now))

    def stop(self, now: float, ifname: str | None = None) -> list[Action]:
        return self._each(now, ifname, lambda g: g.stop(now))

    def resign(self, now: float) -> list[Action]:
        return self._each(now, None, lambda g: g.resign(now))

    def set_tracked(self, name: str, up: bool, now: float) -> list[Action]:
        return self._each(now, None, lambda g: g.set_tracked(name, up, now))

    def on_timer(self, now: float) -> list[Action]:
        return self._each(now, None, lambda g: g.on_timer(now))

    def on_packet(self, ifname: str, pkt: HsrpPacket | PacketError, src_ip: str, now: float) -> list[Action]:
        """Route a received message to the group (ifname, pkt.group)."""
        if isinstance(pkt, PacketError):
            self.counters["malformed"] += 1
            return self.on_timer(now)
        grp = self._groups.get((ifname, pkt.group))
        if grp is None:
            self.counters["foreign_group"] += 1
            return self.on_timer(now)
        return self._each(now, ifname, lambda g: g.on_packet(pkt, src_ip, now) if g is grp else [])

    # ------------------------------------------------------------------ sync rules

    def _each(self, now: float, ifname: str | None, fn: Callable[[HsrpGroup], list[Action]]) -> list[Action]:
        out: list[Action] = []
        for (ifn, _), grp in self._groups.items():
            if ifname is None or ifn == ifname:
                out += self._tag(ifn, fn(grp))
        return claims_first(out + self._sync(now, out))

    def _tag(self, ifname: str, actions: list[Action]) -> list[Action]:
        return [replace(a, ifname=ifname) for a in actions]

    def _sync(self, now: float, actions: list[Action]) -> list[Action]:
        out: list[Action] = []
        pending = list(actions)
        for _ in range(2 * len(self._groups) + 2):
            left = [
                a for a in pending if isinstance(a, StateChanged) and a.old == State.ACTIVE and a.new != State.ACTIVE
            ]
            down = [g for g in self._groups.values() if g.is_down]
            new: list[Action] = []
            if left or down:
                why = ", ".join(f"{a.ifname} group {a.group} left Active" for a in left) or (
                    ", ".join(f"group {g.config.group} is down" for g in down)
                )
                for (ifn, _), grp in self._groups.items():
                    if grp.state == State.ACTIVE:
                        new += self._tag(ifn, grp.resign(now, f"sibling: {why}"))
            for (ifn, _), grp in self._groups.items():
                new += self._tag(ifn, grp.reevaluate(now))
            if not new:
                break
            out += new
            pending = new
        return out


def claims_first(actions: list[Action]) -> list[Action]:
    """Make before break across groups: when this node takes VIPs, every claim of the batch (each group's,
    the inside one too) comes before any packet of it, so no Coup or Active Hello makes the old Active let
    go of one interface before this node holds and has announced the VIPs of all of them."""
    if not any(isinstance(a, ClaimVip) for a in actions):
        return actions
    return [a for a in actions if not isinstance(a, Send)] + [a for a in actions if isinstance(a, Send)]

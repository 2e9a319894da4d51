"""Timers from the wire are bounded; ``standby delay minimum/reload``; the public timer properties."""

from __future__ import annotations

import pytest

from labctl.sidecar.hsrp.fsm import MAX_LEARNED_HOLD_MS, GroupConfig, HsrpGroup
from labctl.sidecar.hsrp.packet import HsrpPacket, Opcode, State
from tests.unit.test_hsrp_fsm import VIP_OUT, Lan, Node, cfg, grp, state

HOSTILE = "192.0.2.66"
CAP_S = 255.0  # the documented cap, spelled out so a changed constant fails here instead of simulating it


def _owners(*nodes: Node) -> list[str]:
    return [n.name for n in nodes if VIP_OUT in n.vips]


def _inject(lan: Lan, pkt: HsrpPacket, *nodes: Node) -> None:
    for n in nodes:
        lan.do(n, n.router.on_packet("eth0", pkt, HOSTILE, lan.now))


# --------------------------------------------------------------------------- learned holdtime cap


def test_cap_is_the_ios_maximum():
    assert MAX_LEARNED_HOLD_MS == 255_000


@pytest.mark.parametrize("opcode", [Opcode.COUP, Opcode.HELLO])
def test_hostile_claim_with_huge_holdtime_loses_the_vip_within_the_cap(opcode):
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110, preempt=True))
    b = lan.single("B", "192.0.2.2", cfg(priority=100))
    lan.start(a, b)
    lan.run_until(40.0)
    assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY)
    t0 = lan.now
    evil = HsrpPacket(2, opcode, State.ACTIVE, 1, 255, 3000, 0xFFFFFFFF, VIP_OUT, "cisco")
    _inject(lan, evil, a, b)  # one authenticated claim, then silence
    assert _owners(a, b) == []  # A stepped back for the better "active router"
    lan.run_until(t0 + CAP_S - 0.5)
    assert _owners(a, b) == []  # the claim is honoured for the capped holdtime...
    lan.run_until(t0 + CAP_S + 0.5)
    assert len(_owners(a, b)) == 1  # ...and no longer: someone owns the VIP again
    lan.advance(15.0)
    assert _owners(a, b) == ["A"] and (state(a), state(b)) == (State.ACTIVE, State.STANDBY)


def test_hostile_v1_claim_is_bounded_by_the_seconds_field():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(version=1))
    lan.start(a)
    lan.run_until(20.0)
    _inject(lan, HsrpPacket(1, Opcode.COUP, State.ACTIVE, 1, 255, 3000, 255_000, VIP_OUT), a)
    assert _owners(a) == []
    lan.advance(CAP_S + 10.0 + 1.0)  # cap, then one holdtime contesting in Speak
    assert _owners(a) == ["A"]


def _listening(**kw) -> HsrpGroup:
    g = HsrpGroup(cfg(**kw), "192.0.2.2")
    g.start(0.0)
    assert g.state == State.LISTEN
    return g


def _active_hello(hello_ms: int, hold_ms: int) -> HsrpPacket:
    return HsrpPacket(2, Opcode.HELLO, State.ACTIVE, 1, 200, hello_ms, hold_ms, VIP_OUT, "cisco")


@pytest.mark.parametrize(
    ("hello_ms", "hold_ms", "expires_in"),
    [
        (1000, 5000, 5.0),  # a sane advertised holdtime is honoured, shorter than ours
        (3000, 200_000, 200.0),  # ... and longer than ours, up to the cap
        (3000, 255_000, 255.0),
        (3000, 255_001, 255.0),  # capped
        (3000, 0xFFFFFFFF, 255.0),
        (0, 0xFFFFFFFF, 255.0),  # an HSRPv1-style 0 hello does not lift the cap
        (20_000, 20_000, 10.0),  # hello not below hold: nonsense, our own hold (10 s) applies
        (0xFFFFFFFF, 0xFFFFFFF0, 10.0),
        (3000, 0, 10.0),  # 0: not representable in v1, our own hold
    ],
)
def test_learned_holdtime_is_bounded(hello_ms, hold_ms, expires_in):
    g = _listening()
    g.on_packet(_active_hello(hello_ms, hold_ms), "192.0.2.1", 1.0)
    assert g.active_router == "192.0.2.1"
    assert g.active_expires_at == pytest.approx(1.0 + expires_in)


def test_cap_stretches_to_our_own_configured_hold():
    """A lab configured beyond the IOS range keeps working with a peer advertising the same."""
    g = _listening(hello_ms=100_000, hold_ms=300_000)
    g.on_packet(_active_hello(100_000, 300_000), "192.0.2.1", 1.0)
    assert g.active_expires_at == pytest.approx(301.0)
    g.on_packet(_active_hello(100_000, 0xFFFFFFFF), "192.0.2.1", 2.0)
    assert g.active_expires_at == pytest.approx(302.0)


def test_learned_standby_holdtime_is_capped_too():
    g = _listening()
    g.on_packet(_active_hello(3000, 10_000), "192.0.2.1", 1.0)
    g.on_packet(HsrpPacket(2, Opcode.HELLO, State.STANDBY, 1, 150, 3000, 0xFFFFFFFF, VIP_OUT), "192.0.2.3", 1.0)
    assert g.standby_router == "192.0.2.3"
    assert g.standby_expires_at == pytest.approx(1.0 + CAP_S)


# --------------------------------------------------------------------------- standby delay


def _group(**kw) -> HsrpGroup:
    return HsrpGroup(cfg(hello_ms=100, hold_ms=300, **kw), "192.0.2.1")


def _started_at(g: HsrpGroup, t0: float, until: float) -> float | None:
    """First time (10 ms steps) at which the group left Initial."""
    for i in range(round((until - t0) * 100) + 1):
        t = round(t0 + i / 100, 2)
        g.on_timer(t)
        if g.state != State.INITIAL:
            return t
    return None


def test_legacy_default_waits_the_reload_delay_on_every_start():
    g = _group(reload_delay_ms=2000)
    assert g.config.minimum_delay_ms is None
    g.start(0.0)
    assert _started_at(g, 0.0, 5.0) == 2.0
    g.stop(10.0)
    g.start(10.0)
    assert _started_at(g, 10.0, 15.0) == 12.0


def test_minimum_delay_after_the_reload_delay():
    g = _group(reload_delay_ms=5000, minimum_delay_ms=1000)
    g.start(0.0)
    assert _started_at(g, 0.0, 10.0) == 5.0  # first start after (re)load: the reload delay
    g.stop(20.0)
    g.start(21.0)
    assert _started_at(g, 21.0, 30.0) == 22.0  # every later interface-up: the minimum delay


def test_minimum_delay_is_a_floor_on_the_first_start_too():
    g = _group(reload_delay_ms=1000, minimum_delay_ms=3000)
    g.start(0.0)
    assert _started_at(g, 0.0, 10.0) == 3.0


def test_minimum_delay_alone_applies_from_the_first_start():
    g = _group(minimum_delay_ms=1500)
    g.start(0.0)
    assert _started_at(g, 0.0, 10.0) == 1.5
    g.stop(5.0)
    g.start(5.0)
    assert _started_at(g, 5.0, 10.0) == 6.5


def test_interface_must_stay_up_for_the_whole_minimum_delay():
    g = _group(minimum_delay_ms=1000)
    g.start(0.0)
    assert _started_at(g, 0.0, 2.0) == 1.0
    g.stop(10.0)
    g.start(10.0)
    g.on_timer(10.6)
    g.stop(10.7)  # flap before the delay is served
    g.start(11.0)
    assert _started_at(g, 10.7, 13.0) == 12.0  # a full delay counted from the last up


def test_flap_during_the_reload_delay_does_not_cut_it_short():
    g = _group(reload_delay_ms=5000, minimum_delay_ms=1000)
    g.start(0.0)
    g.on_timer(2.0)
    g.stop(2.0)
    g.start(3.0)
    assert _started_at(g, 3.0, 10.0) == 8.0  # still the reload delay: it was never served


def test_zero_delays_keep_the_immediate_start():
    g = _group(minimum_delay_ms=0)
    g.start(0.0)
    assert g.state == State.LISTEN


def test_negative_minimum_delay_is_refused():
    with pytest.raises(ValueError):
        GroupConfig(group=1, name="g", virtual_ip=None, minimum_delay_ms=-1)


def test_router_interface_up_honours_the_minimum_delay():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(reload_delay_ms=4000, minimum_delay_ms=1000))
    lan.start(a)
    lan.run_until(3.9)
    assert state(a) == State.INITIAL
    lan.run_until(30.0)
    assert state(a) == State.ACTIVE
    lan.do(a, a.router.stop(lan.now, ifname="eth0"))
    lan.do(a, a.router.start(lan.now, ifname="eth0"))
    lan.advance(0.9)
    assert state(a) == State.INITIAL
    lan.advance(0.2)
    assert state(a) == State.LISTEN


# --------------------------------------------------------------------------- status properties


def test_status_properties_follow_the_timers():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110))
    b = lan.single("B", "192.0.2.2", cfg(priority=90))
    lan.start(a, b)
    lan.run_until(40.0)
    assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY)
    ga, gb = grp(a), grp(b)
    last_a = max(t for t, who, p in lan.wire if who == "A")
    last_b = max(t for t, who, p in lan.wire if who == "B")
    assert ga.standby_priority == 90 and gb.standby_priority is None
    assert gb.active_priority == 110
    assert ga.next_hello_at == pytest.approx(last_a + 3.0) and gb.next_hello_at == pytest.approx(last_b + 3.0)
    assert gb.active_expires_at == pytest.approx(last_a + 10.0) and ga.active_expires_at is None
    assert ga.standby_expires_at == pytest.approx(last_b + 10.0) and gb.standby_expires_at is None
    lan.kill(b)
    lan.advance(10.5)
    assert ga.standby_priority is None and ga.standby_expires_at is None

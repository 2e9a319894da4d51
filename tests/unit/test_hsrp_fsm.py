"""Scenario tests for the pure HSRP FSM and HsrpRouter, on a fake clock.

Nodes are wired together in-process: every ``Send`` is encoded to bytes,
decoded again (so the wire codec is exercised too) and delivered to every
other node on the same segment at the same instant.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import pytest

from labctl.sidecar.hsrp.fsm import (
    Action,
    ClaimVip,
    GroupConfig,
    HsrpGroup,
    HsrpRouter,
    ReleaseVip,
    Send,
    StateChanged,
)
from labctl.sidecar.hsrp.packet import HsrpPacket, Opcode, PacketError, State, decode, encode

VIP_OUT = "192.0.2.100"
VIP_IN = "10.1.0.100"


def cfg(**kw) -> GroupConfig:
    base = {"group": 1, "name": "HA-out", "virtual_ip": VIP_OUT}
    base.update(kw)
    return GroupConfig(**base)


class Node:
    def __init__(self, name: str, router: HsrpRouter, segments: dict[str, str], ips: dict[str, str]):
        self.name, self.router, self.segments, self.ips = name, router, segments, ips
        self.links_up = set(segments)
        self.alive = True
        self.vips: set[str] = set()
        self.changes: list[StateChanged] = []


class Lan:
    """A fake broadcast network plus clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.nodes: dict[str, Node] = {}
        self.wire: list[tuple[float, str, HsrpPacket]] = []
        self.log: list[tuple[str, Action]] = []  # every action, in the order the nodes emitted them

    def add(self, name: str, groups: dict[str, tuple[str, GroupConfig]], segment_of=None) -> Node:
        """groups: ifname -> (my_ip, config).  Segment name defaults to the ifname."""
        members, segs, ips = [], {}, {}
        for ifname, (ip, config) in groups.items():
            members.append((ifname, HsrpGroup(config, ip, bytes([2, 0, 0, 0, 0, len(self.nodes) + 1]))))
            segs[ifname] = (segment_of or {}).get(ifname, ifname)
            ips[ifname] = ip
        node = Node(name, HsrpRouter(members), segs, ips)
        self.nodes[name] = node
        return node

    def single(self, name: str, ip: str, config: GroupConfig) -> Node:
        return self.add(name, {"eth0": (ip, config)})

    # -- driving
    def do(self, node: Node, actions: list[Action]) -> None:
        queue: deque[tuple[Node, Action]] = deque((node, a) for a in actions)
        while queue:
            src, act = queue.popleft()
            self.log.append((src.name, act))
            if isinstance(act, StateChanged):
                src.changes.append(act)
            elif isinstance(act, ClaimVip):
                assert act.ip not in src.vips, f"{src.name} claimed {act.ip} twice"
                src.vips.add(act.ip)
            elif isinstance(act, ReleaseVip):
                src.vips.discard(act.ip)
            elif isinstance(act, Send):
                if not src.alive or act.ifname not in src.links_up:
                    continue
                pkt = decode(encode(act.packet))
                self.wire.append((self.now, src.name, pkt))
                seg = src.segments[act.ifname]
                for dst in self.nodes.values():
                    if dst is src or not dst.alive:
                        continue
                    for ifn, s in dst.segments.items():
                        if s == seg and ifn in dst.links_up:
                            out = dst.router.on_packet(ifn, pkt, src.ips[act.ifname], self.now)
                            queue.extend((dst, a) for a in out)

    def start(self, *nodes: Node) -> None:
        for n in nodes:
            self.do(n, n.router.start(self.now))

    def run_until(self, t: float) -> None:
        while True:
            due = [
                (d, n)
                for n in self.nodes.values()
                if n.alive and (d := n.router.next_deadline()) is not None and d <= t
            ]
            if not due:
                self.now = t
                return
            d, _ = min(due, key=lambda x: x[0])
            assert d >= self.now - 1e-9, "deadline in the past"
            self.now = max(self.now, d)
            for n in list(self.nodes.values()):
                dl = n.router.next_deadline()
                if n.alive and dl is not None and dl <= self.now:
                    self.do(n, n.router.on_timer(self.now))

    def advance(self, dt: float) -> None:
        self.run_until(self.now + dt)

    def kill(self, node: Node) -> None:
        """Power cut: no Resign, just silence."""
        node.alive = False


def state(node: Node, ifname: str = "eth0", group: int = 1) -> State:
    return node.router.group(ifname, group).state


def grp(node: Node, ifname: str = "eth0", group: int = 1) -> HsrpGroup:
    return node.router.group(ifname, group)


# --------------------------------------------------------------------------- single router


def test_lone_router_initial_listen_speak_active_within_rfc_timings():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg())
    lan.start(a)
    assert state(a) == State.LISTEN
    assert [c.new for c in a.changes] == [State.LISTEN]
    lan.run_until(9.99)
    assert state(a) == State.LISTEN  # active timer = holdtime (10 s)
    lan.run_until(10.0)
    assert state(a) == State.SPEAK
    lan.run_until(19.99)
    assert state(a) == State.SPEAK  # speak for one holdtime
    lan.run_until(20.0)
    assert state(a) == State.ACTIVE
    assert [c.new for c in a.changes] == [State.LISTEN, State.SPEAK, State.ACTIVE]
    assert a.vips == {VIP_OUT}
    assert grp(a).owns_vip and grp(a).active_router == "192.0.2.1"
    # Hellos every hello interval while Active.
    lan.run_until(29.0)
    hellos = [t for t, n, p in lan.wire if p.state == State.ACTIVE and p.opcode == Opcode.HELLO]
    assert hellos == pytest.approx([20.0, 23.0, 26.0, 29.0])
    pkt = lan.wire[-1][2]
    assert (pkt.group, pkt.priority, pkt.virtual_ip, pkt.hellotime_ms, pkt.holdtime_ms) == (
        1,
        100,
        VIP_OUT,
        3000,
        10000,
    )


def test_bare_group_api_and_deadlines():
    g = HsrpGroup(cfg(hello_ms=100, hold_ms=300), "192.0.2.1", b"\x02\0\0\0\0\x01")
    assert g.state == State.INITIAL and g.next_deadline() is None
    acts = g.start(5.0)
    assert acts == [StateChanged(1, State.INITIAL, State.LISTEN, "started")]
    assert g.next_deadline() == pytest.approx(5.3)
    acts = g.on_timer(5.3)
    assert g.state == State.SPEAK
    sends = [a.packet for a in acts if isinstance(a, Send)]
    assert sends and sends[0].state == State.SPEAK and sends[0].identifier == b"\x02\0\0\0\0\x01"
    g.on_timer(5.4)
    g.on_timer(5.5)
    acts = g.on_timer(5.6)
    assert g.state == State.ACTIVE
    assert ClaimVip(VIP_OUT) in acts
    acts = g.stop(6.0)
    assert [type(a) for a in acts] == [Send, ReleaseVip, StateChanged]
    assert acts[0].packet.opcode == Opcode.RESIGN
    assert g.state == State.INITIAL and g.next_deadline() is None and not g.owns_vip


def test_reload_delay_holds_group_in_initial():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(reload_delay_ms=5000, hello_ms=100, hold_ms=300))
    lan.start(a)
    assert state(a) == State.INITIAL
    lan.run_until(4.99)
    assert state(a) == State.INITIAL and not lan.wire
    lan.run_until(5.0)
    assert state(a) == State.LISTEN
    lan.run_until(5.61)
    assert state(a) == State.ACTIVE


def test_learn_state_learns_vip_from_active_hello():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg())
    b = lan.single("B", "192.0.2.2", cfg(virtual_ip=None))
    lan.start(a)
    lan.run_until(20.0)
    assert state(a) == State.ACTIVE
    lan.start(b)
    assert state(b) == State.LEARN
    lan.advance(3.0)  # next hello from A
    assert state(b) in (State.LISTEN, State.SPEAK)
    assert grp(b).virtual_ip == VIP_OUT
    lan.advance(25.0)
    assert state(b) == State.STANDBY
    assert grp(b).active_router == "192.0.2.1"


def test_lone_router_without_vip_never_goes_active():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(virtual_ip=None))
    lan.start(a)
    lan.run_until(100.0)
    assert state(a) == State.LEARN and not a.vips and not lan.wire


# --------------------------------------------------------------------------- elections


@pytest.mark.parametrize("version", [1, 2])
def test_two_routers_elect_by_priority(version):
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110, version=version))
    b = lan.single("B", "192.0.2.2", cfg(priority=100, version=version))
    lan.start(a, b)
    lan.run_until(40.0)
    assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY)
    assert a.vips == {VIP_OUT} and not b.vips
    assert grp(b).active_router == "192.0.2.1" and grp(a).standby_router == "192.0.2.2"
    assert grp(a).standby_router == grp(b).standby_router == "192.0.2.2"
    # The worse router never claimed the VIP on the way.
    assert all(c.new != State.ACTIVE for c in b.changes)


@pytest.mark.parametrize("stagger", [0.01, 0.05, 0.15, 0.29, 0.31, 0.45])
def test_staggered_start_never_stalls_in_listen(stagger):
    """Regression: B saw A as the standby candidate, then A went Active; B must still become Standby."""
    lan = Lan()
    a = lan.single("A", "10.199.0.1", cfg(priority=150, hello_ms=100, hold_ms=300))
    b = lan.single("B", "10.199.0.2", cfg(priority=100, hello_ms=100, hold_ms=300))
    lan.start(a)
    lan.run_until(stagger)
    lan.start(b)
    lan.run_until(stagger + 1.5)
    assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY), b.changes


def test_equal_priority_higher_ip_wins():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg())
    b = lan.single("B", "192.0.2.2", cfg())
    lan.start(a, b)
    lan.run_until(40.0)
    assert (state(a), state(b)) == (State.STANDBY, State.ACTIVE)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("order", ["low_first", "high_first"])
def test_equal_priority_active_and_standby_go_to_the_higher_ips(version, order):
    """RFC 2281 5.1: equal priorities are broken by the higher IP, for Active and for Standby."""
    lan = Lan()
    low = lan.single("L", "192.0.2.9", cfg(version=version))
    mid = lan.single("M", "192.0.2.10", cfg(version=version))  # numerically, not textually, above .9
    high = lan.single("H", "192.0.2.200", cfg(version=version))
    nodes = [low, mid, high] if order == "low_first" else [high, mid, low]
    lan.start(*nodes)
    lan.run_until(60.0)
    assert [state(n) for n in (low, mid, high)] == [State.LISTEN, State.STANDBY, State.ACTIVE]
    assert high.vips == {VIP_OUT} and not low.vips and not mid.vips
    assert grp(low).active_router == "192.0.2.200" and grp(low).standby_router == "192.0.2.10"
    lan.kill(high)
    lan.advance(10.5)
    assert (state(mid), mid.vips) == (State.ACTIVE, {VIP_OUT})
    lan.advance(25.0)
    assert state(low) == State.STANDBY


def test_equal_priority_tie_uses_effective_priority_then_ip():
    """A tracked decrement makes the higher IP the worse router: priority first, IP only on a tie."""
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=100))
    b = lan.single("B", "192.0.2.2", cfg(priority=110, track={"up": 10}))
    lan.do(b, b.router.set_tracked("up", False, 0.0))
    lan.start(a, b)
    lan.run_until(40.0)
    assert grp(b).effective_priority == 100
    assert (state(a), state(b)) == (State.STANDBY, State.ACTIVE)  # tie at 100: B's higher IP wins
    lan2 = Lan()
    a2 = lan2.single("A", "192.0.2.1", cfg(priority=100))
    b2 = lan2.single("B", "192.0.2.2", cfg(priority=110, track={"up": 11}))
    lan2.do(b2, b2.router.set_tracked("up", False, 0.0))
    lan2.start(a2, b2)
    lan2.run_until(40.0)
    assert (state(a2), state(b2)) == (State.ACTIVE, State.STANDBY)  # 100 > 99: priority decides


def test_third_router_listens():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=120))
    b = lan.single("B", "192.0.2.2", cfg(priority=110))
    c = lan.single("C", "192.0.2.3", cfg(priority=100))
    lan.start(a, b, c)
    lan.run_until(60.0)
    assert [state(n) for n in (a, b, c)] == [State.ACTIVE, State.STANDBY, State.LISTEN]
    lan.kill(a)
    lan.advance(10.0)
    assert state(b) == State.ACTIVE
    lan.advance(25.0)
    assert state(c) == State.STANDBY


def test_no_preempt_keeps_existing_active():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=100))
    b = lan.single("B", "192.0.2.2", cfg(priority=200, preempt=False))
    lan.start(a)
    lan.run_until(20.0)
    lan.start(b)
    lan.advance(60.0)
    assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY)
    assert not any(p.opcode == Opcode.COUP for _, _, p in lan.wire)


def test_preempt_with_coup_from_higher_priority_router():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=100))
    b = lan.single("B", "192.0.2.2", cfg(priority=200, preempt=True))
    lan.start(a)
    lan.run_until(20.0)
    lan.start(b)
    lan.advance(3.0)  # B hears A's hello (lower priority) and preempts straight from Listen
    assert state(b) == State.ACTIVE and state(a) == State.SPEAK
    coups = [(t, n) for t, n, p in lan.wire if p.opcode == Opcode.COUP]
    assert coups == [(23.0, "B")]
    assert a.vips == set() and b.vips == {VIP_OUT}
    a_last = a.changes[-1]
    assert a_last.old == State.ACTIVE and "Coup" in a_last.reason
    # make before break: the VIP (address and gratuitous ARP) is B's before its Coup makes A release it, so
    # hosts never point at a router that no longer forwards
    mine = [act for name, act in lan.log if name == "B"]
    claim = next(i for i, act in enumerate(mine) if isinstance(act, ClaimVip))
    coup = next(i for i, act in enumerate(mine) if isinstance(act, Send) and act.packet.opcode == Opcode.COUP)
    assert claim < coup
    assert isinstance(mine[claim - 1], StateChanged) and mine[claim - 1].new == State.ACTIVE
    lan.advance(15.0)
    assert (state(a), state(b)) == (State.STANDBY, State.ACTIVE)


def test_a_pair_preempts_with_every_vip_claimed_before_any_packet():
    """Both groups of a dual-interface node: the inside VIP is announced before the outside group's Coup
    (which makes the old Active resign the inside group too)."""
    lan = Lan()
    a = lan.add("A", {"out": ("192.0.2.1", cfg(priority=100)),
                      "in": ("10.1.0.1", cfg(group=2, virtual_ip=VIP_IN, priority=100))})
    b = lan.add("B", {"out": ("192.0.2.2", cfg(priority=200, preempt=True)),
                      "in": ("10.1.0.2", cfg(group=2, virtual_ip=VIP_IN, priority=200, preempt=True))})
    hot = False
    b.router.preempt_allowed = lambda: hot  # SSO: B is a standby that may not preempt until it is HOT
    lan.start(a)
    lan.run_until(20.0)
    lan.start(b)
    lan.advance(20.0)
    assert b.router.role == "standby" and a.vips == {VIP_OUT, VIP_IN}
    hot = True
    lan.advance(5.0)
    assert b.vips == {VIP_OUT, VIP_IN} and a.vips == set()
    mine = [act for name, act in lan.log if name == "B"]
    claims = [i for i, act in enumerate(mine) if isinstance(act, ClaimVip)]
    first_coup = next(i for i, act in enumerate(mine) if isinstance(act, Send) and act.packet.opcode == Opcode.COUP)
    assert len(claims) == 2 and max(claims) < first_coup


def test_a_node_active_on_one_group_takes_the_other_despite_the_sso_gate():
    """A start-up race under load split the pair: A (better on both) Active outside and Standby inside,
    B Active inside. A is no standby and never becomes HOT, so the SSO gate must not keep it from preempting
    the group it lacks (in the lab B was Standby outside: nothing else would ever end the split)."""
    fast = {"hello_ms": 100, "hold_ms": 300, "preempt": True}
    lan = Lan()
    a = lan.add("A", {"out": ("192.0.2.1", cfg(priority=110, **fast)),
                      "in": ("10.1.0.1", cfg(group=2, virtual_ip=VIP_IN, priority=110, **fast))})
    b = lan.add("B", {"out": ("192.0.2.2", cfg(priority=100, **fast)),
                      "in": ("10.1.0.2", cfg(group=2, virtual_ip=VIP_IN, priority=100, **fast))})
    a.router.preempt_allowed = lambda: False  # never STANDBY HOT
    b.links_up.discard("out")  # B's outside hellos are lost at first: A alone outside, B first inside
    lan.start(b)
    lan.advance(2.0)
    lan.start(a)
    lan.advance(5.0)
    assert state(a, "out") == State.ACTIVE and state(a, "in", 2) == State.ACTIVE
    assert state(b, "in", 2) != State.ACTIVE
    b.links_up.add("out")
    lan.advance(5.0)
    assert a.router.role == "active" and b.router.role == "standby"


def test_preempt_delay():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=100))
    b = lan.single("B", "192.0.2.2", cfg(priority=200, preempt=True, preempt_delay_ms=7000))
    lan.start(a)
    lan.run_until(20.0)
    lan.start(b)
    lan.run_until(23.0)  # first hello from A at 23.0 arms the delay
    assert state(b) != State.ACTIVE
    lan.run_until(29.99)
    assert state(b) != State.ACTIVE and state(a) == State.ACTIVE
    lan.run_until(30.0)
    assert state(b) == State.ACTIVE and state(a) == State.SPEAK


def test_preempt_disarmed_when_active_becomes_better():
    g = HsrpGroup(cfg(priority=150, preempt=True, preempt_delay_ms=5000), "192.0.2.2")
    g.start(0.0)
    hello = HsrpPacket(2, Opcode.HELLO, State.ACTIVE, 1, 100, 3000, 10000, VIP_OUT)
    g.on_packet(hello, "192.0.2.1", 1.0)
    assert g.next_deadline() == pytest.approx(6.0)
    g.on_packet(replace(hello, priority=200), "192.0.2.1", 2.0)
    g.on_timer(6.0)
    assert g.state != State.ACTIVE


@pytest.mark.parametrize("version", [1, 2])
def test_msec_hold_timer_expiry_standby_takes_over(version):
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110, hello_ms=100, hold_ms=300, version=version))
    b = lan.single("B", "192.0.2.2", cfg(priority=100, hello_ms=100, hold_ms=300, version=version))
    lan.start(a, b)
    lan.run_until(1.2)
    assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY)
    lan.run_until(2.0)
    last_hello = max(t for t, n, _ in lan.wire if n == "A")
    lan.kill(a)
    lan.run_until(last_hello + 0.299)
    assert state(b) == State.STANDBY
    lan.run_until(last_hello + 0.3)
    assert state(b) == State.ACTIVE and b.vips == {VIP_OUT}
    assert "active timer expired" in b.changes[-1].reason


def test_resign_causes_immediate_takeover():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110))
    b = lan.single("B", "192.0.2.2", cfg(priority=100))
    lan.start(a, b)
    lan.run_until(40.0)
    t = lan.now + 0.5
    lan.run_until(t)
    lan.do(a, a.router.stop(lan.now))
    assert state(a) == State.INITIAL and not a.vips
    assert state(b) == State.ACTIVE and b.vips == {VIP_OUT}
    assert b.changes[-1].reason.startswith("Resign")
    assert [p.opcode for _, n, p in lan.wire if n == "A"][-1] == Opcode.RESIGN


def test_deliberate_resign_hands_over_and_returns_to_standby():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110))
    b = lan.single("B", "192.0.2.2", cfg(priority=100))
    lan.start(a, b)
    lan.run_until(40.0)
    lan.do(a, a.router.resign(lan.now))
    assert (state(a), state(b)) == (State.SPEAK, State.ACTIVE)
    lan.advance(12.0)
    assert (state(a), state(b)) == (State.STANDBY, State.ACTIVE)


def test_tracking_decrement_fails_over_with_preempt():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110, preempt=True, track={"eth1": 20}))
    b = lan.single("B", "192.0.2.2", cfg(priority=100, preempt=True))
    lan.start(a, b)
    lan.run_until(40.0)
    assert state(a) == State.ACTIVE
    lan.do(a, a.router.set_tracked("eth1", False, lan.now))
    assert grp(a).effective_priority == 90
    # A does not step down by itself; B sees the lower priority in the immediate hello and couped.
    assert (state(a), state(b)) == (State.SPEAK, State.ACTIVE)
    lan.advance(12.0)
    assert (state(a), state(b)) == (State.STANDBY, State.ACTIVE)
    lan.do(a, a.router.set_tracked("eth1", True, lan.now))
    assert (state(a), state(b)) == (State.ACTIVE, State.SPEAK)


def test_tracking_decrement_without_peer_preempt_keeps_active():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110, track={"eth1": 20}))
    b = lan.single("B", "192.0.2.2", cfg(priority=100, preempt=False))
    lan.start(a, b)
    lan.run_until(40.0)
    lan.do(a, a.router.set_tracked("eth1", False, lan.now))
    lan.advance(30.0)
    assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY)
    assert grp(b).active_router == "192.0.2.1"


@pytest.mark.parametrize("preempt", [False, True])
def test_restart_of_old_active(preempt):
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110, preempt=preempt))
    b = lan.single("B", "192.0.2.2", cfg(priority=100))
    lan.start(a, b)
    lan.run_until(40.0)
    lan.do(a, a.router.stop(lan.now))
    assert state(b) == State.ACTIVE
    lan.advance(5.0)
    lan.start(a)
    lan.advance(40.0)
    if preempt:
        assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY)
    else:
        assert (state(a), state(b)) == (State.STANDBY, State.ACTIVE)
    assert len([n for n in (a, b) if n.vips]) == 1


def test_power_cut_active_then_comes_back_standby():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=100, hello_ms=100, hold_ms=300))
    b = lan.single("B", "192.0.2.2", cfg(priority=100, hello_ms=100, hold_ms=300))
    lan.start(a, b)
    lan.run_until(2.0)
    assert state(b) == State.ACTIVE  # equal priority, higher IP
    lan.kill(b)
    lan.advance(0.5)
    assert state(a) == State.ACTIVE
    # B comes back: a fresh FSM (reboot).
    b2 = lan.single("B", "192.0.2.2", cfg(priority=100, hello_ms=100, hold_ms=300))
    lan.start(b2)
    lan.advance(2.0)
    assert (state(a), state(b2)) == (State.ACTIVE, State.STANDBY)


def test_active_active_after_partition_heals():
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110))
    b = lan.single("B", "192.0.2.2", cfg(priority=100))
    lan.start(a, b)
    lan.run_until(40.0)
    a.links_up.clear()  # A cannot send; B will time it out
    b_in = lan.nodes["B"]
    lan.advance(11.0)
    assert state(b_in) == State.ACTIVE and state(a) == State.ACTIVE
    a.links_up.add("eth0")
    lan.advance(3.0)
    assert (state(a), state(b)) == (State.ACTIVE, State.SPEAK)
    assert not b.vips
    lan.advance(12.0)
    assert state(b) == State.STANDBY


# --------------------------------------------------------------------------- robustness


def test_bad_auth_foreign_group_self_and_malformed_are_counted_and_ignored():
    g = HsrpGroup(cfg(), "192.0.2.2")
    g.start(0.0)
    good = HsrpPacket(2, Opcode.HELLO, State.ACTIVE, 1, 200, 3000, 10000, VIP_OUT)
    assert g.on_packet(replace(good, auth="wrong"), "192.0.2.1", 1.0) == []
    assert g.on_packet(replace(good, group=7), "192.0.2.1", 1.0) == []
    assert g.on_packet(good, "192.0.2.2", 1.0) == []  # our own
    assert g.on_packet(replace(good, version=1), "192.0.2.1", 1.0) == []
    assert g.on_packet(PacketError("truncated"), "192.0.2.1", 1.0) == []
    assert g.on_packet(good, "not-an-ip", 1.0) == []
    assert g.state == State.LISTEN and g.active_router is None
    c = g.counters
    assert (c["rx"], c["bad_auth"], c["foreign_group"], c["ignored"], c["malformed"]) == (6, 1, 1, 2, 2)
    g.on_packet(good, "192.0.2.1", 1.0)
    assert g.active_router == "192.0.2.1"


def test_router_counts_unroutable_packets():
    r = HsrpRouter([("eth0", HsrpGroup(cfg(), "192.0.2.1"))])
    r.start(0.0)
    pkt = HsrpPacket(2, Opcode.HELLO, State.ACTIVE, 9, 200, 3000, 10000, VIP_OUT)
    assert r.on_packet("eth0", pkt, "192.0.2.2", 0.1) == []
    assert r.on_packet("eth9", replace(pkt, group=1), "192.0.2.2", 0.1) == []
    assert r.on_packet("eth0", PacketError("x"), "192.0.2.2", 0.1) == []
    assert r.counters == {"malformed": 1, "foreign_group": 2}


def test_group_config_validation():
    with pytest.raises(ValueError):
        cfg(version=1, group=300)
    with pytest.raises(ValueError):
        cfg(hello_ms=1000, hold_ms=1000)
    with pytest.raises(ValueError):
        cfg(priority=256)
    assert cfg(version=2, group=4095).group == 4095


# --------------------------------------------------------------------------- HsrpRouter: inside == outside


def pair(lan: Lan, name: str, last_octet: int, **kw) -> Node:
    out_kw = {k[4:]: v for k, v in kw.items() if k.startswith("out_")}
    in_kw = {k[3:]: v for k, v in kw.items() if k.startswith("in_")}
    common = {k: v for k, v in kw.items() if not k.startswith(("out_", "in_"))}
    return lan.add(
        name,
        {
            "eth0": (f"192.0.2.{last_octet}", cfg(**{**common, **out_kw})),
            "eth1": (f"10.1.0.{last_octet}", cfg(group=2, name="HA-in", virtual_ip=VIP_IN, **{**common, **in_kw})),
        },
    )


def states(node: Node) -> tuple[State, State]:
    return state(node, "eth0", 1), state(node, "eth1", 2)


FAST = {"hello_ms": 100, "hold_ms": 300}


def test_router_elects_both_groups_together():
    lan = Lan()
    a = pair(lan, "A", 1, priority=110, **FAST)
    b = pair(lan, "B", 2, priority=100, **FAST)
    assert a.router.role == "init"
    lan.start(a, b)
    lan.run_until(2.0)
    assert states(a) == (State.ACTIVE, State.ACTIVE) and a.router.role == "active"
    assert states(b) == (State.STANDBY, State.STANDBY) and b.router.role == "standby"
    assert a.vips == {VIP_OUT, VIP_IN} and not b.vips
    sends = [p for t, n, p in lan.wire if n == "A"]
    assert {p.group for p in sends} == {1, 2}


def test_router_inside_link_down_moves_both_groups():
    lan = Lan()
    a = pair(lan, "A", 1, priority=110, preempt=True, **FAST)
    b = pair(lan, "B", 2, priority=100, preempt=True, **FAST)
    lan.start(a, b)
    lan.run_until(2.0)
    lan.do(a, a.router.stop(lan.now, ifname="eth1"))  # inside interface down
    assert states(b) == (State.ACTIVE, State.ACTIVE), b.changes
    assert state(a, "eth0", 1) in (State.SPEAK, State.STANDBY) and a.router.role == "transition"
    assert a.vips == set()
    lan.advance(2.0)
    # A's outside group must not preempt back while its inside group is down.
    assert states(b) == (State.ACTIVE, State.ACTIVE)
    assert state(a, "eth0", 1) == State.STANDBY
    assert "sibling" in next(c.reason for c in a.changes if c.old == State.ACTIVE and c.group == 1)
    # Inside back: with preempt A takes both groups back.
    lan.do(a, a.router.start(lan.now, ifname="eth1"))
    lan.advance(2.0)
    assert states(a) == (State.ACTIVE, State.ACTIVE) and states(b) == (State.STANDBY, State.STANDBY)


def test_router_inside_link_down_without_preempt_stays_on_peer():
    lan = Lan()
    a = pair(lan, "A", 1, priority=110, **FAST)
    b = pair(lan, "B", 2, priority=100, **FAST)
    lan.start(a, b)
    lan.run_until(2.0)
    lan.do(a, a.router.stop(lan.now, ifname="eth1"))
    lan.advance(1.0)
    lan.do(a, a.router.start(lan.now, ifname="eth1"))
    lan.advance(3.0)
    assert states(a) == (State.STANDBY, State.STANDBY) and states(b) == (State.ACTIVE, State.ACTIVE)


def test_router_tracking_coup_on_one_group_moves_the_other():
    lan = Lan()
    a = pair(lan, "A", 1, priority=110, preempt=True, in_track={"eth0": 20}, **FAST)
    b = pair(lan, "B", 2, priority=100, preempt=True, **FAST)
    lan.start(a, b)
    lan.run_until(2.0)
    lan.do(a, a.router.set_tracked("eth0", False, lan.now))  # only the inside group tracks it
    assert states(b) == (State.ACTIVE, State.ACTIVE)
    lan.advance(2.0)
    assert states(a) == (State.STANDBY, State.STANDBY) and a.router.role == "standby"
    # No tug of war: A's outside group is still better (110 > 100) but A is degraded on the inside.
    t0 = lan.now
    lan.advance(5.0)
    assert not [p for t, n, p in lan.wire if t > t0 and p.opcode != Opcode.HELLO]
    assert states(b) == (State.ACTIVE, State.ACTIVE)
    lan.do(a, a.router.set_tracked("eth0", True, lan.now))
    lan.advance(1.0)
    assert states(a) == (State.ACTIVE, State.ACTIVE) and states(b) == (State.STANDBY, State.STANDBY)


def test_router_power_cut_peer_takes_both_within_holdtime():
    lan = Lan()
    a = pair(lan, "A", 1, priority=110, **FAST)
    b = pair(lan, "B", 2, priority=100, **FAST)
    lan.start(a, b)
    lan.run_until(2.0)
    lan.kill(a)
    lan.advance(0.31)
    assert states(b) == (State.ACTIVE, State.ACTIVE) and b.vips == {VIP_OUT, VIP_IN}


def test_router_node_with_one_interface_down_never_goes_active():
    lan = Lan()
    a = pair(lan, "A", 1, **FAST)
    lan.do(a, a.router.start(0.0, ifname="eth0"))
    lan.run_until(5.0)
    assert state(a, "eth0", 1) == State.STANDBY and state(a, "eth1", 2) == State.INITIAL
    assert not a.vips
    lan.do(a, a.router.start(lan.now, ifname="eth1"))
    lan.advance(1.0)
    assert states(a) == (State.ACTIVE, State.ACTIVE)


def test_router_reload_delay_on_both_groups():
    lan = Lan()
    a = pair(lan, "A", 1, priority=110, preempt=True, **FAST)
    b = pair(lan, "B", 2, priority=100, **FAST)
    lan.start(b)
    lan.run_until(2.0)
    # A reloads with `standby delay reload 3` (3 s): nothing happens until then.
    for g in a.router.groups.values():
        g.config = replace(g.config, reload_delay_ms=3000)
    lan.start(a)
    lan.advance(2.9)
    assert states(a) == (State.INITIAL, State.INITIAL) and states(b) == (State.ACTIVE, State.ACTIVE)
    lan.advance(1.0)
    assert states(a) == (State.ACTIVE, State.ACTIVE) and states(b) == (State.STANDBY, State.STANDBY)


def test_router_duplicate_group_rejected():
    with pytest.raises(ValueError):
        HsrpRouter([("eth0", HsrpGroup(cfg(), "192.0.2.1")), ("eth0", HsrpGroup(cfg(), "192.0.2.1"))])


def test_router_misordered_addresses_give_a_stable_split_not_a_flap():
    lan = Lan()
    a = lan.add(
        "A",
        {
            "eth0": ("192.0.2.1", cfg(preempt=True, **FAST)),
            "eth1": ("10.1.0.2", cfg(group=2, name="HA-in", virtual_ip=VIP_IN, preempt=True, **FAST)),
        },
    )
    b = lan.add(
        "B",
        {
            "eth0": ("192.0.2.2", cfg(preempt=True, **FAST)),
            "eth1": ("10.1.0.1", cfg(group=2, name="HA-in", virtual_ip=VIP_IN, preempt=True, **FAST)),
        },
    )
    lan.start(a, b)
    lan.run_until(3.0)
    t0 = lan.now
    lan.advance(5.0)
    assert not [p for t, n, p in lan.wire if t > t0 and p.opcode != Opcode.HELLO]
    assert a.router.role == b.router.role == "transition"
    assert len(a.vips) + len(b.vips) == 2


def test_router_preemption_waits_for_the_node_gate() -> None:
    """SSO-aware preempt: a better router that is not yet STANDBY HOT stays Standby until allowed."""
    from labctl.sidecar.hsrp.fsm import GroupConfig, HsrpGroup, HsrpRouter, Send, State

    def node(ip: str, priority: int) -> HsrpRouter:
        cfg = GroupConfig(group=1, name="HA-out", virtual_ip="10.0.0.3", priority=priority, preempt=True,
                          hello_ms=100, hold_ms=300)
        return HsrpRouter([("eth0", HsrpGroup(cfg, ip))])

    low, high = node("10.0.0.2", 100), node("10.0.0.1", 110)
    allowed = False
    high.preempt_allowed = lambda: allowed
    now = 0.0
    pending = low.start(now)  # low comes up alone and becomes Active
    for _ in range(40):
        now += 0.05
        pending = [a for a in pending if isinstance(a, Send)] + low.on_timer(now)
    high_pending = high.start(now)
    for step in range(120):
        now += 0.05
        if step == 60:
            allowed = True
        out_low = low.on_timer(now)
        out_high = high.on_timer(now)
        for act in [*pending, *out_low]:
            if isinstance(act, Send):
                out_high += high.on_packet("eth0", act.packet, "10.0.0.2", now)
        for act in [*high_pending, *out_high]:
            if isinstance(act, Send):
                out_low += low.on_packet("eth0", act.packet, "10.0.0.1", now)
        pending, high_pending = out_low, out_high
        if step == 59:
            assert high.group("eth0", 1).state == State.STANDBY
            assert low.group("eth0", 1).state == State.ACTIVE
    assert high.group("eth0", 1).state == State.ACTIVE


def test_each_router_knows_the_other_ones_address_for_the_routing_handover():
    """`peer_ip`: where a node that leaves Active forwards what still arrives for the remote side."""
    lan = Lan()
    a = lan.single("A", "10.1.0.11", cfg(priority=110, preempt=True))
    b = lan.single("B", "10.1.0.12", cfg(priority=100))
    assert grp(a).peer_ip is None  # nobody heard yet
    lan.start(a, b)
    lan.advance(30)
    assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY)
    assert grp(a).peer_ip == "10.1.0.12" and grp(b).peer_ip == "10.1.0.11"
    b.router.stop(lan.now)  # stopping (charon crash: the node leaves HSRP) keeps what it heard
    assert state(b) == State.INITIAL and grp(b).peer_ip == "10.1.0.11"

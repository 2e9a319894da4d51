"""Property tests: the codec and the FSM survive arbitrary input."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labctl.sidecar.hsrp.fsm import GroupConfig, HsrpGroup, HsrpRouter, Send
from labctl.sidecar.hsrp.packet import HsrpPacket, Md5Auth, Opcode, PacketError, State, decode, encode, sign, verify

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

auth_text = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), max_size=8)


@st.composite
def packets(draw, version=None) -> HsrpPacket:
    v = draw(st.sampled_from([1, 2])) if version is None else version
    timer = st.integers(0, 255).map(lambda s: s * 1000) if v == 1 else st.integers(0, 2**32 - 1)
    return HsrpPacket(
        version=v,
        opcode=draw(st.sampled_from(list(Opcode))),
        state=draw(st.sampled_from(list(State))),
        group=draw(st.integers(0, 255 if v == 1 else 4095)),
        priority=draw(st.integers(0, 255 if v == 1 else 2**32 - 1)),
        hellotime_ms=draw(timer),
        holdtime_ms=draw(timer),
        virtual_ip=draw(st.ip_addresses(v=4).map(str)),
        auth=draw(auth_text if v == 1 else st.one_of(st.just(""), auth_text)),
        identifier=bytes(6) if v == 1 else draw(st.binary(min_size=6, max_size=6)),
    )


@FAST
@given(st.binary(max_size=120))
def test_decode_arbitrary_bytes_only_raises_packet_error(data):
    try:
        pkt = decode(data)
    except PacketError:
        return
    # Whatever decodes must re-encode to something that decodes the same.
    assert decode(encode(pkt)) == pkt


@FAST
@given(packets())
def test_round_trip_property(pkt):
    assert decode(encode(pkt)) == pkt


@FAST
@given(packets(), st.data())
def test_mutated_packets_only_raise_packet_error(pkt, data):
    raw = bytearray(encode(pkt))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for blob in (bytes(raw), bytes(raw[:cut]), bytes(raw) + data.draw(st.binary(max_size=8))):
        try:
            decode(blob)
        except PacketError:
            continue


def _cfg(version: int) -> GroupConfig:
    return GroupConfig(
        group=1,
        name="g",
        virtual_ip="192.0.2.100",
        hello_ms=100,
        hold_ms=300,
        preempt=True,
        version=version,
    )


wild_packets = st.builds(
    HsrpPacket,
    version=st.sampled_from([1, 2, 0, 7]),
    opcode=st.sampled_from(list(Opcode)),
    state=st.sampled_from(list(State)),
    group=st.sampled_from([1, 1, 1, 2, 0, -1, 5000]),
    priority=st.integers(-5, 2**32),
    hellotime_ms=st.integers(-1000, 20000),
    holdtime_ms=st.integers(-1000, 20000),
    virtual_ip=st.one_of(st.ip_addresses(v=4).map(str), st.just("192.0.2.100"), st.text(max_size=6)),
    auth=st.sampled_from(["cisco", "cisco", "bad", ""]),
)
events = st.lists(
    st.tuples(
        st.floats(0, 0.5, allow_nan=False),
        st.one_of(
            wild_packets,
            st.builds(PacketError, st.just("junk")),
            st.sampled_from(["timer", "track_down", "track_up", "resign", "stop", "start"]),
        ),
        st.sampled_from(["192.0.2.1", "192.0.2.3", "192.0.2.2", "garbage"]),
    ),
    max_size=60,
)


@FAST
@given(st.sampled_from([1, 2]), events)
def test_fsm_never_crashes_and_counts_every_packet(version, evs):
    config = GroupConfig(
        group=1,
        name="g",
        virtual_ip="192.0.2.100",
        hello_ms=100,
        hold_ms=300,
        preempt=True,
        version=version,
        track={"t": 50},
    )
    g = HsrpGroup(config, "192.0.2.2", b"\x02\0\0\0\0\x02")
    now = 0.0
    g.start(now)
    fed = 0
    for dt, ev, src in evs:
        now += dt
        if isinstance(ev, HsrpPacket | PacketError):
            acts = g.on_packet(ev, src, now)
            fed += 1
        elif ev == "timer":
            acts = g.on_timer(now)
        elif ev in ("track_down", "track_up"):
            acts = g.set_tracked("t", ev == "track_up", now)
        elif ev == "resign":
            acts = g.resign(now)
        elif ev == "stop":
            acts = g.stop(now)
        else:
            acts = g.start(now)
        for a in acts:
            if isinstance(a, Send):
                assert decode(encode(a.packet)).group == 1  # everything we send is encodable
        dl = g.next_deadline()
        assert dl is None or dl > now  # every call runs the timers that are due
        assert g.owns_vip == (g.state == State.ACTIVE)
    c = g.counters
    assert c["rx"] == fed
    assert c["bad_auth"] + c["malformed"] + c["foreign_group"] + c["ignored"] <= fed


@FAST
@given(events)
def test_router_never_crashes(evs):
    r = HsrpRouter(
        [
            ("eth0", HsrpGroup(_cfg(2), "192.0.2.2")),
            ("eth1", HsrpGroup(GroupConfig(group=2, name="in", virtual_ip="10.0.0.9", version=2), "10.0.0.2")),
        ]
    )
    now = 0.0
    r.start(now)
    for dt, ev, src in evs:
        now += dt
        if isinstance(ev, HsrpPacket | PacketError):
            r.on_packet("eth0" if src.endswith("1") else "eth1", ev, src, now)
        elif ev == "stop":
            r.stop(now, ifname="eth1")
        elif ev == "start":
            r.start(now, ifname="eth1")
        else:
            r.on_timer(now)
        dl = r.next_deadline()
        assert dl is None or dl > now
        assert r.role in ("active", "standby", "transition", "init")


md5_keys = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), min_size=1, max_size=64)


@FAST
@given(packets(), st.ip_addresses(v=4).map(str), st.integers(0, 2**32 - 1), md5_keys)
def test_md5_round_trip_property(pkt, sender, key_id, key):
    signed = sign(replace(pkt, auth="", md5=Md5Auth(sender, key_id)), key)
    back = decode(encode(signed))
    assert back == signed and verify(back, key)


@FAST
@given(packets(), md5_keys, st.data())
def test_mutated_md5_packets_never_verify(pkt, key, data):
    raw = bytearray(encode(sign(replace(pkt, auth="", md5=Md5Auth("192.0.2.1")), key)))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    try:
        bent = decode(bytes(raw))
    except PacketError:
        return
    assert not verify(bent, key)


@FAST
@given(st.sampled_from([1, 2]), events, st.booleans())
def test_md5_fsm_never_crashes_and_drops_unsigned_packets(version, evs, sign_some):
    g = HsrpGroup(replace(_cfg(version), auth_md5_key="k3y"), "192.0.2.2")
    now = 0.0
    g.start(now)
    fed = 0
    for dt, ev, src in evs:
        now += dt
        if not isinstance(ev, HsrpPacket):
            g.on_timer(now)
            continue
        if sign_some:
            with contextlib.suppress(PacketError):  # a wild packet may not be encodable
                ev = sign(replace(ev, md5=Md5Auth(src)), "k3y")
        fed += 1
        for a in g.on_packet(ev, src, now):
            if isinstance(a, Send):
                assert verify(decode(encode(a.packet)), "k3y")
        assert g.owns_vip == (g.state == State.ACTIVE)
    if not sign_some:  # nothing was signed: every well-addressed packet of our group is a bad_auth drop
        assert g.active_router in (None, "192.0.2.2")
        mine = [ev for _, ev, src in evs if isinstance(ev, HsrpPacket) and ev.group == 1 and src != "garbage"]
        assert g.counters["bad_auth"] == len(mine)
    assert g.counters["rx"] == fed

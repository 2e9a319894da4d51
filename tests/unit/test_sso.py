"""SSO redundancy states and the authenticated sidecar channel (pure, no Docker)."""

from __future__ import annotations

import hashlib
import hmac
import json
import select
import socket
from typing import Any

import pytest

from labctl.sidecar import sso
from labctl.sidecar.contract import Redundancy
from labctl.sidecar.policy import carrying_keys, derive_state, sa_keys
from labctl.sidecar.sso import LOG_INTERVAL, Channel

KEY = b"labctl-sso-key"
GW1, GW2 = "10.9.0.11", "10.9.0.12"


def sa(ispi: str, rspi: str, *children: tuple[str, str], state: str = "PASSIVE") -> dict:
    return {"initiator_spi": ispi, "responder_spi": rspi, "state": state,
            "child_sas": [{"spi_in": i, "spi_out": o} for i, o in children]}


ACTIVE_SAS = [sa("a1", "b1", ("c1", "d1"), state="ESTABLISHED")]


def active_report(sas: list[dict]) -> dict:
    ike, child = sa_keys(sas)
    return {"state": "ACTIVE", "ike": sorted(ike), "child": sorted(child), "carrying": sorted(carrying_keys(sas))}


def test_roles_map_to_ios_states() -> None:
    assert derive_state("active", True, True, ACTIVE_SAS, None) is Redundancy.ACTIVE
    assert Redundancy.ACTIVE.number == 13 and Redundancy.STANDBY_HOT.number == 8
    assert derive_state("transition", True, True, [], None) is Redundancy.INITIALIZATION
    assert derive_state("standby", True, False, [], None) is Redundancy.INITIALIZATION  # charon down
    assert sso.Redundancy is Redundancy  # older imports (views) keep working


def test_standby_is_hot_only_with_every_active_sa() -> None:
    report = active_report(ACTIVE_SAS)
    assert derive_state("standby", True, True, [sa("a1", "b1", ("c1", "d1"))], report) is Redundancy.STANDBY_HOT
    assert derive_state("standby", True, True, [sa("a1", "b1")], report) is Redundancy.STANDBY_COLD  # no child
    assert derive_state("standby", True, True, [], report) is Redundancy.STANDBY_COLD
    # stateless (no ha plugin) or no active peer heard: never HOT
    assert derive_state("standby", False, True, [sa("a1", "b1", ("c1", "d1"))], report) is Redundancy.STANDBY_COLD
    assert derive_state("standby", True, True, [sa("a1", "b1", ("c1", "d1"))], None) is Redundancy.STANDBY_COLD


def test_child_spis_need_not_match_but_a_child_must_exist() -> None:
    """The takeover rekeys every CHILD_SA, so a re-pushed stale copy or an older child is still HOT."""
    report = active_report(ACTIVE_SAS)
    doubled = [sa("a1", "b1", ("c1", "d1")), sa("a1", "b1", ("c0", "d0"))]
    assert derive_state("standby", True, True, doubled, report) is Redundancy.STANDBY_HOT
    assert derive_state("standby", True, True, [sa("a1", "b1", ("c0", "d0"))], report) is Redundancy.STANDBY_HOT
    extra = [sa("a1", "b1", ("c1", "d1")), sa("zz", "yy")]
    assert derive_state("standby", True, True, extra, report) is Redundancy.STANDBY_HOT


# ---------------------------------------------------------------------------------------------- the channel
def pair(**kw: Any) -> tuple[Channel, Channel]:
    """gw1 and gw2 ends of the channel, handshake not yet done."""
    return Channel(GW1, GW2, 4520, KEY, **kw), Channel(GW2, GW1, 4520, KEY, **kw)


def signed(body: bytes, key: bytes = KEY) -> bytes:
    return hmac.new(key, body, hashlib.sha256).hexdigest().encode() + b"\n" + body


def test_channel_accepts_only_authentic_fresh_messages() -> None:
    sender, receiver = pair()
    receiver.open_message(sender.seal({"node": "gw1"}), GW1)  # unconfirmed: receiver learns sender's boot
    sender.open_message(receiver.seal({"node": "gw2"}), GW2)  # sender learns the receiver's boot
    data = sender.seal({"node": "gw1", "state": "ACTIVE"})
    assert receiver.open_message(data, GW1)["state"] == "ACTIVE"
    assert receiver.open_message(data, GW1) is None  # replayed
    forged_body = data.split(b"\n", 1)[1].replace(b"ACTIVE", b"STANDBY")
    assert receiver.open_message(data.split(b"\n", 1)[0] + b"\n" + forged_body, GW1) is None
    wrong_key = Channel(GW1, GW2, 4520, b"another-key").seal({"node": "gw1"})
    assert receiver.open_message(wrong_key, GW1) is None
    assert receiver.open_message(sender.seal({"node": "gw1"}), "10.9.0.99") is None  # not the peer
    assert receiver.rejected == 4
    assert receiver.counts == {"foreign": 1, "forged": 2, "malformed": 0, "replayed": 1, "unconfirmed": 1}
    assert json.loads(sender.seal({"x": 1}).split(b"\n", 1)[1])["seq"] == 4


def test_first_message_after_a_boot_only_teaches_the_peer_boot() -> None:
    """The epoch handshake: a report is delivered only once it names the receiver's current boot."""
    gw1, gw2 = pair()
    first = gw1.seal({"node": "gw1", "state": "ACTIVE"})
    assert json.loads(first.split(b"\n", 1)[1])["peer_boot"] is None  # gw1 has heard nobody yet
    assert gw2.open_message(first, GW1) is None
    assert (gw2.rejected, gw2.counts["unconfirmed"], gw2.heard_boot) == (0, 1, gw1.boot)
    # gw2's reply names gw1's boot: delivered, and gw1 learns gw2's boot from it
    reply = gw2.seal({"node": "gw2", "state": "STANDBY HOT"})
    assert json.loads(reply.split(b"\n", 1)[1])["peer_boot"] == gw1.boot
    assert gw1.open_message(reply, GW2)["state"] == "STANDBY HOT"
    assert gw1.heard_boot == gw2.boot
    assert gw2.open_message(gw1.seal({"node": "gw1", "state": "ACTIVE"}), GW1)["node"] == "gw1"


def test_a_captured_message_is_rejected_after_the_receiver_restarts() -> None:
    gw1, gw2 = pair()
    gw2.open_message(gw1.seal({"node": "gw1"}), GW1)
    gw1.open_message(gw2.seal({"node": "gw2"}), GW2)
    captured = gw1.seal({"node": "gw1", "state": "ACTIVE"})
    assert gw2.open_message(captured, GW1) is not None  # genuine, delivered once
    restarted = Channel(GW2, GW1, 4520, KEY)  # gw2's sidecar restarted: new boot, no memory
    assert restarted.boot != gw2.boot
    assert restarted.open_message(captured, GW1) is None  # names gw2's previous boot
    assert restarted.open_message(captured, GW1) is None  # and once its seq is known, a plain replay
    assert restarted.counts["replayed"] == 1
    # the live gw1 binds to the new boot as soon as it hears it, and is delivered again
    gw1.open_message(restarted.seal({"node": "gw2"}), GW2)
    assert restarted.open_message(gw1.seal({"node": "gw1", "state": "ACTIVE"}), GW1)["state"] == "ACTIVE"


def test_a_superseded_sender_boot_stays_rejected() -> None:
    """After the peer restarted, its previous incarnation's messages (captured, delayed) are replays."""
    old_gw1, gw2 = pair()
    gw2.open_message(old_gw1.seal({"node": "gw1"}), GW1)
    old_gw1.open_message(gw2.seal({"node": "gw2"}), GW2)
    delayed = old_gw1.seal({"node": "gw1", "state": "ACTIVE"})
    new_gw1 = Channel(GW1, GW2, 4520, KEY)
    new_gw1.open_message(gw2.seal({"node": "gw2"}), GW2)
    assert gw2.open_message(new_gw1.seal({"node": "gw1", "state": "STANDBY COLD"}), GW1)["state"] == "STANDBY COLD"
    assert gw2.open_message(delayed, GW1) is None
    assert gw2.counts["replayed"] == 1 and old_gw1.boot in gw2.retired


def bound_pair() -> tuple[Channel, Channel]:
    gw1, gw2 = pair()
    gw2.open_message(gw1.seal({}), GW1)
    gw1.open_message(gw2.seal({}), GW2)
    return gw1, gw2


def envelope(gw1: Channel, gw2: Channel, **fields: Any) -> dict[str, Any]:
    gw1.seq += 1
    return {"boot": gw1.boot, "seq": gw1.seq, "time": 1.0, "peer_boot": gw2.boot, **fields}


def dumps(envelope: dict[str, Any], drop: str = "", **fields: Any) -> bytes:
    return json.dumps({k: v for k, v in {**envelope, **fields}.items() if k != drop}).encode()


@pytest.mark.parametrize(("make", "reason"), [
    (lambda e: b"[1, 2, 3]", "not a JSON object but list"),
    (lambda e: b"\"text\"", "not a JSON object but str"),
    (lambda e: b"null", "not a JSON object but NoneType"),
    (lambda e: b'{"node": "\xff"}', "not JSON (UnicodeDecodeError)"),
    (lambda e: b"\xff\xfe not utf-8", "not JSON (JSONDecodeError)"),  # taken for UTF-16
    (lambda e: b"{not json", "not JSON (JSONDecodeError)"),
    (lambda e: b"[" * 100_000 + b"]" * 100_000, "not JSON (RecursionError)"),  # deep nesting
    (lambda e: b'{"seq": ' + b"9" * 5000 + b"}", "not JSON (ValueError)"),  # more digits than int() accepts
    (lambda e: dumps(e, drop="boot"), "boot missing or not a short string"),
    (lambda e: dumps(e, boot=7), "boot missing or not a short string"),
    (lambda e: dumps(e, boot="x" * 65), "boot missing or not a short string"),
    (lambda e: dumps(e, boot=""), "boot missing or not a short string"),
    (lambda e: dumps(e, drop="seq"), "seq missing or not an integer in 1..2^63-1"),
    (lambda e: dumps(e, seq="5"), "seq missing or not an integer in 1..2^63-1"),
    (lambda e: dumps(e, seq=True), "seq missing or not an integer in 1..2^63-1"),
    (lambda e: dumps(e, seq=2**63), "seq missing or not an integer in 1..2^63-1"),
    (lambda e: dumps(e, seq=0), "seq missing or not an integer in 1..2^63-1"),
    (lambda e: dumps(e, seq=1.5), "seq missing or not an integer in 1..2^63-1"),
    (lambda e: dumps(e, drop="time"), "time missing or not a finite number"),
    (lambda e: dumps(e, time="now"), "time missing or not a finite number"),
    (lambda e: dumps(e, time=False), "time missing or not a finite number"),
    (lambda e: dumps(e).replace(b'"time": 1.0', b'"time": 1e999'), "time missing or not a finite number"),  # inf
    (lambda e: dumps(e).replace(b'"time": 1.0', b'"time": NaN'), "time missing or not a finite number"),
    (lambda e: dumps(e, peer_boot=5), "peer_boot not a short string"),
    (lambda e: dumps(e, peer_boot="p" * 65), "peer_boot not a short string"),
    (lambda e: dumps(e, node=["gw1"]), "node not a string"),
    (lambda e: dumps(e, state=13), "state not a string"),
    (lambda e: dumps(e, state="SUPER HOT " * 10), f"unknown state {('SUPER HOT ' * 4)!r}"),  # cut at 40
    (lambda e: dumps(e, role=None), "role not a string"),
    (lambda e: dumps(e, ike="a_b"), "ike not a list of strings"),
    (lambda e: dumps(e, child=[1, 2]), "child not a list of strings"),
    (lambda e: dumps(e, carrying={"a": 1}), "carrying not a list of strings"),
    (lambda e: dumps(e, replay={"c1a2b3c4": 5}), "replay not a list of at most 1500 entries"),
    (lambda e: dumps(e, replay=[["c1a2b3c4", "10.0.0.1", "out", -1]]), "replay seq not an integer in 0..2^32-1"),
])
def test_a_signed_but_malformed_message_is_one_counted_rejection(make: Any, reason: str) -> None:
    gw1, gw2 = bound_pair()
    logged: list[str] = []
    gw2.log = logged.append
    body = make(envelope(gw1, gw2))
    assert gw2.open_message(signed(body), GW1, now=100.0) is None  # never an exception
    assert (gw2.rejected, gw2.counts["malformed"]) == (1, 1)
    assert logged == [f"rejected SSO message: malformed: {reason}"]
    # the channel still works afterwards
    good = json.dumps(envelope(gw1, gw2, node="gw1", state="ACTIVE", ike=["a_b"])).encode()
    assert gw2.open_message(signed(good), GW1, now=100.0)["ike"] == ["a_b"]


def test_a_replay_is_logged_with_its_boot_and_seq() -> None:
    gw1, gw2 = bound_pair()
    logged: list[str] = []
    gw2.log = logged.append
    data = gw1.seal({"node": "gw1"})
    gw2.open_message(data, GW1, now=1.0)
    gw2.open_message(data, GW1, now=2.0)
    assert logged == [f"rejected SSO message: replayed: boot {gw1.boot} seq {gw1.seq} already seen"]
    long_boot = envelope(gw1, gw2, boot="b" * 64)
    gw2.open_message(signed(json.dumps(long_boot).encode()), GW1, now=3.0)
    gw2.open_message(signed(json.dumps(long_boot).encode()), GW1, now=4.0)
    assert logged[-1] == f"rejected SSO message: replayed: boot {'b' * 16} seq {long_boot['seq']} already seen"


def test_reports_travel_over_real_udp_on_loopback() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    gw1, gw2 = Channel("127.0.0.1", "127.0.0.2", port, KEY), Channel("127.0.0.2", "127.0.0.1", port, KEY)
    gw1.send({"node": "gw1"})  # not open yet: nothing sent, nothing raised
    assert gw1.seq == 0
    socks = [gw1.open(), gw2.open()]
    try:
        assert all(not s.getblocking() for s in socks) and socks[0].getsockname() == ("127.0.0.1", port)

        def deliver(src: Channel, dst: Channel, payload: dict[str, Any]) -> dict[str, Any] | None:
            src.send(payload)
            assert dst.sock is not None
            select.select([dst.sock], [], [], 2.0)
            data, (source, _port) = dst.sock.recvfrom(65535)
            return dst.open_message(data, source)

        assert deliver(gw1, gw2, {"node": "gw1"}) is None  # the handshake
        assert deliver(gw2, gw1, {"node": "gw2", "state": "STANDBY HOT"})["state"] == "STANDBY HOT"
        assert deliver(gw1, gw2, {"node": "gw1", "state": "ACTIVE"})["node"] == "gw1"
    finally:
        for s in socks:
            s.close()


def test_a_well_formed_report_passes_validation() -> None:
    gw1, gw2 = bound_pair()
    report = {"node": "gw1", "state": "STANDBY HOT", "role": "standby", "ike": ["a_b"], "child": ["c_d"],
              "carrying": ["a_b"]}
    assert sso.malformed({**envelope(gw1, gw2), **report}) is None
    assert sso.malformed({**envelope(gw1, gw2), "time": 3}) is None  # an integer time is a number too
    assert sso.malformed({**envelope(gw1, gw2), "seq": 2**63 - 1}) is None
    assert sso.malformed({**envelope(gw1, gw2), "boot": "b" * 64}) is None
    assert sso.malformed({**envelope(gw1, gw2), "boot": "b", "peer_boot": "p"}) is None  # one character is enough
    assert sso.malformed({**envelope(gw1, gw2), "seq": 1}) is None
    assert sso.malformed({**envelope(gw1, gw2), "time": -5.5}) is None
    assert sso.malformed({**envelope(gw1, gw2), "replay": [["c1a2b3c4", "10.0.0.1", "out", 2**32 - 1]]}) is None
    message = gw2.open_message(gw1.seal(report), GW1)
    assert isinstance(message.pop("time"), float)
    assert message == {**report, "boot": gw1.boot, "seq": gw1.seq, "peer_boot": gw2.boot}


def test_rejections_are_logged_at_most_once_per_interval_with_a_count() -> None:
    gw1, gw2 = bound_pair()
    logged: list[str] = []
    gw2.log = logged.append
    bad = Channel(GW1, GW2, 4520, b"wrong-key-here").seal({"node": "gw1"})
    gw2.open_message(bad, GW1, now=10.0)
    gw2.open_message(bad, GW1, now=10.5)
    gw2.open_message(b"garbage", GW1, now=10.0 + LOG_INTERVAL - 0.01)
    assert logged == ["rejected SSO message: forged: bad HMAC (wrong key or altered)"]
    gw2.open_message(bad, "192.0.2.1", now=10.0 + LOG_INTERVAL)
    assert logged[1] == ("rejected SSO message: foreign: from 192.0.2.1, not the peer 10.9.0.11 "
                         "(+2 more rejected since the last line)")
    gw2.open_message(bad, GW1, now=20.0)
    assert logged[2] == "rejected SSO message: forged: bad HMAC (wrong key or altered)"  # count restarted
    assert gw2.rejected == 5 and gw2.counts["forged"] == 4


def test_unconfirmed_and_delivered_messages_are_not_logged() -> None:
    logged: list[str] = []
    gw1, gw2 = pair(log=logged.append)
    gw2.open_message(gw1.seal({"node": "gw1"}), GW1)
    gw1.open_message(gw2.seal({"node": "gw2"}), GW2)
    assert gw2.open_message(gw1.seal({"node": "gw1"}), GW1) is not None
    assert logged == [] and gw1.rejected == gw2.rejected == 0

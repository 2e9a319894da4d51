"""HSRP MD5 authentication (IOS ``standby authentication md5 key-string``): codec, IOS known answers,
tshark's dissector, and the FSM dropping (and counting) packets with a wrong key or a bad digest."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.sidecar.hsrp.fsm import GroupConfig, HsrpGroup
from labctl.sidecar.hsrp.packet import (
    HSRP_PORT,
    HSRP_V1_GROUP,
    HSRP_V2_GROUP,
    HsrpPacket,
    Md5Auth,
    Opcode,
    PacketError,
    State,
    decode,
    encode,
    md5_digest,
    sign,
    verify,
)
from tests.unit.test_hsrp_fsm import VIP_OUT, Lan, cfg, grp, state

# Known answers: HSRP packets captured from IOS routers, with the key each was signed with (the test
# vectors of John the Ripper's "hsrp" format: packet with the digest zeroed, then the digest).
IOS_VECTORS = [
    (
        "000004030a64010000000000000000000a000064041c010000000a0000140000000000000000000000000000000000000000",
        "52e1db09d18d695b8fefb3730ff8d9d6",
        "password12345",
    ),
    (
        "000010030a64010000000000000000000a000064041c010000000a0000140000000000000000000000000000000000000000",
        "f02fc41b1b516e2d1261d8800d39ccea",
        "openwall12345",
    ),
    (
        "0128020006040001aabbcc000a000000006400000bb8000027100a000064000000000000000000000000"
        "041c010000000a00000a0000000000000000000000000000000000000000",
        "642fedafe1f374bd2fdd8f1ba81d87a2",
        "password",
    ),
    (
        "0128020006040001aabbcc001400000000c800000bb8000027100a000064000000000000000000000000"
        "041c010000000a0000140000000000000000000000000000000000000000",
        "0481257f0fe583b275f03a48e88de72f",
        "password12345",
    ),
]


def _wire(zeroed_hex: str, digest_hex: str) -> bytes:
    return bytes.fromhex(zeroed_hex)[:-16] + bytes.fromhex(digest_hex)


@pytest.mark.parametrize(("zeroed", "digest", "key"), IOS_VECTORS)
def test_ios_known_answers_verify_and_sign_back_to_the_same_bytes(zeroed, digest, key):
    raw = _wire(zeroed, digest)
    pkt = decode(raw)
    assert pkt.md5 is not None and pkt.md5.digest.hex() == digest
    assert md5_digest(key, bytes.fromhex(zeroed)).hex() == digest
    assert verify(pkt, key)
    assert not verify(pkt, key + "x") and not verify(pkt, key[:-1])
    # Signing the decoded fields ourselves gives IOS's bytes exactly: we interoperate on the wire.
    assert encode(sign(replace(pkt, md5=replace(pkt.md5, digest=bytes(16))), key)) == raw


def test_ios_v1_vector_fields():
    pkt = decode(_wire(*IOS_VECTORS[0][:2]))
    assert (pkt.version, pkt.opcode, pkt.state, pkt.group, pkt.priority) == (1, Opcode.HELLO, State.SPEAK, 1, 100)
    assert (pkt.hellotime_ms, pkt.holdtime_ms, pkt.virtual_ip, pkt.auth) == (3000, 10000, "10.0.0.100", "")
    assert pkt.md5 == Md5Auth("10.0.0.20", 0, bytes.fromhex(IOS_VECTORS[0][1]))


def test_ios_v2_vector_fields():
    pkt = decode(_wire(*IOS_VECTORS[2][:2]))
    assert (pkt.version, pkt.state, pkt.group, pkt.priority, pkt.auth) == (2, State.ACTIVE, 1, 100, "")
    assert pkt.identifier == bytes.fromhex("aabbcc000a00") and pkt.md5.sender_ip == "10.0.0.10"


V1 = HsrpPacket(1, Opcode.HELLO, State.ACTIVE, 7, 110, 3000, 10000, "192.0.2.100", "", md5=Md5Auth("192.0.2.1"))
V2 = HsrpPacket(
    2,
    Opcode.COUP,
    State.STANDBY,
    1234,
    150,
    100,
    300,
    "10.1.0.100",
    "",
    b"\x02\x42\xac\x11\x00\x02",
    md5=Md5Auth("10.1.0.2", key_id=7),
)


def test_v1_md5_layout():
    raw = encode(sign(V1, "k"))
    assert len(raw) == 50
    assert raw[8:16] == bytes(8)  # the text field is all zero, as IOS sends it
    assert raw[20:34] == bytes([4, 28, 1, 0, 0, 0, 192, 0, 2, 1, 0, 0, 0, 0])
    assert raw[34:] == md5_digest("k", raw[:34] + bytes(16))


def test_v2_md5_layout_replaces_text_tlv():
    raw = encode(sign(V2, "k"))
    assert len(raw) == 42 + 30 and raw[42:44] == bytes([4, 28])
    assert raw[44:56] == bytes([1, 0, 0, 0, 10, 1, 0, 2, 0, 0, 0, 7])
    assert raw[56:] == md5_digest("k", raw[:56] + bytes(16))


@pytest.mark.parametrize("pkt", [V1, V2])
def test_round_trip_and_every_byte_is_covered(pkt):
    raw = encode(sign(pkt, "s3cr3t"))
    back = decode(raw)
    assert back == sign(pkt, "s3cr3t") and verify(back, "s3cr3t")
    for i in range(len(raw)):
        bent = bytearray(raw)
        bent[i] ^= 0x01
        try:
            other = decode(bytes(bent))
        except PacketError:
            continue
        assert not verify(other, "s3cr3t"), f"flipping byte {i} went unnoticed"


def test_unsigned_or_edited_packets_do_not_verify():
    assert not verify(replace(V1, md5=None), "k")
    assert not verify(V1, "k")  # digest still zero
    signed = decode(encode(sign(V1, "k")))
    assert not verify(replace(signed, priority=255), "k")  # fields edited after decode
    assert verify(sign(V1, "k"), "k")  # a locally built packet verifies from its fields


def test_keyed_md5_pads_long_keys_to_the_next_block():
    import hashlib
    import struct

    data = b"payload"
    for key in ("a" * 55, "b" * 56, "c" * 64):
        k = key.encode()
        blocks = 64 if len(k) <= 55 else 128
        fill = b"\x80" + bytes(blocks - len(k) - 9) + struct.pack("<Q", 8 * len(k))
        assert md5_digest(key, data) == hashlib.md5(k + fill + data + k).digest()
    assert md5_digest("a" * 55, data) != md5_digest("a" * 56, data)


@pytest.mark.parametrize("key", ["", "x" * 65, "\u20ac"])
def test_bad_keys_are_refused(key):
    with pytest.raises(PacketError):
        md5_digest(key, b"")
    assert not verify(sign(V1, "ok"), key)
    with pytest.raises(ValueError):
        GroupConfig(group=1, name="g", virtual_ip=None, auth_md5_key=key)


@pytest.mark.parametrize(
    "raw",
    [
        encode(sign(V1, "k"))[:49],  # v1 MD5 cut short
        encode(sign(V1, "k"))[:20] + bytes([4, 27]) + encode(sign(V1, "k"))[22:],  # wrong TLV length
        encode(sign(V1, "k"))[:20] + bytes([5]) + encode(sign(V1, "k"))[21:],  # not an MD5 TLV
        encode(sign(V1, "k"))[:22] + bytes([2]) + encode(sign(V1, "k"))[23:],  # algorithm 2
        encode(sign(V2, "k")) + encode(sign(V2, "k"))[42:],  # two MD5 TLVs
        encode(sign(V2, "k"))[:43] + bytes([27]) + encode(sign(V2, "k"))[44:],
    ],
)
def test_malformed_md5_raises_packet_error(raw):
    with pytest.raises(PacketError):
        decode(raw)


@pytest.mark.parametrize(
    "md5",
    [
        Md5Auth("::1"),
        Md5Auth("192.0.2.1", key_id=-1),
        Md5Auth("192.0.2.1", digest=b"short"),
        Md5Auth("192.0.2.1", algorithm=2),
        Md5Auth("192.0.2.1", flags=0x10000),
    ],
)
def test_unrepresentable_md5_raises_packet_error(md5):
    with pytest.raises(PacketError):
        encode(replace(V1, md5=md5))


def test_sign_needs_an_md5_tlv():
    with pytest.raises(PacketError):
        sign(replace(V1, md5=None), "k")


# --------------------------------------------------------------------------- tshark

TSHARK = shutil.which("tshark")


def _pcap(tmp_path: Path, payloads: list[tuple[bytes, str, str]]) -> Path:
    from scapy.all import IP, UDP, Ether, Raw, wrpcap

    frames = [
        Ether(src="02:42:ac:11:00:02", dst="01:00:5e:00:00:02")
        / IP(src=src, dst=dst, ttl=1)
        / UDP(sport=HSRP_PORT, dport=HSRP_PORT)
        / Raw(raw)
        for raw, src, dst in payloads
    ]
    path = tmp_path / "hsrp-md5.pcap"
    wrpcap(str(path), frames)
    return path


def _tshark(*args: str) -> str:
    assert TSHARK is not None
    return subprocess.run([TSHARK, "-n", *args], capture_output=True, text=True, timeout=60, check=True).stdout


def _fields(node: object, flat: dict[str, str]) -> dict[str, str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str):
                flat.setdefault(k, v)
            _fields(v, flat)
    return flat


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install tshark)")
def test_tshark_decodes_our_md5_packets(tmp_path):
    p1, p2 = sign(V1, "s3cr3t"), sign(V2, "s3cr3t")
    pcap = _pcap(tmp_path, [(encode(p1), "192.0.2.1", HSRP_V1_GROUP), (encode(p2), "10.1.0.2", HSRP_V2_GROUP)])
    text = _tshark("-r", str(pcap), "-V", "-O", "hsrp")
    frames = text.split("\nFrame ")
    assert len(frames) == 2
    for frame, pkt in zip(frames, (p1, p2), strict=True):
        lines = [ln.strip() for ln in frame.splitlines()]
        assert "MD5 Authentication TLV: Type=4 Len=28" in lines
        assert "MD5 Algorithm: MD5 (1)" in lines
        assert f"Sender's IP Address: {pkt.md5.sender_ip}" in lines
        assert f"MD5 Key ID: {pkt.md5.key_id}" in lines
        assert f"MD5 Authentication Data: {pkt.md5.digest.hex()}" in lines
        assert "Unknown TLV" not in frame and "Malformed" not in frame
    v1_lines = [ln.strip() for ln in frames[0].splitlines()]
    assert {"Version: 0", "State: Active (16)", "Priority: 110", "Group: 7"} <= set(v1_lines)
    assert {"Hellotime: Default (3)", "Holdtime: Default (10)", "Virtual IP Address: 192.0.2.100"} <= set(v1_lines)
    v2_lines = [ln.strip() for ln in frames[1].splitlines()]
    assert {"Version: 2", "Op Code: Coup (1)", "State: Standby (5)", "Group: 1234", "Priority: 150"} <= set(v2_lines)
    assert {"Hellotime: Non-Default (100)", "Holdtime: Non-Default (300)"} <= set(v2_lines)
    assert "Virtual IP Address: 10.1.0.100" in v2_lines and "Identifier: 02:42:ac:11:00:02" in v2_lines

    docs = json.loads(_tshark("-r", str(pcap), "-T", "json", "-Y", "hsrp"))
    f1, f2 = (_fields(d["_source"]["layers"]["hsrp"], {}) for d in docs)
    assert f1["hsrp.md5_ip_address"] == "192.0.2.1" and f2["hsrp.md5_ip_address"] == "10.1.0.2"
    assert f1["hsrp2.md5_auth_data"].replace(":", "") == p1.md5.digest.hex()
    assert f2["hsrp2.md5_key_id"] == "7" and f2["hsrp2.group"] == "1234"


# --------------------------------------------------------------------------- FSM


@pytest.mark.parametrize("version", [1, 2])
def test_routers_sharing_the_md5_key_elect_and_sign_everything(version):
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110, version=version, auth_md5_key="k3y"))
    b = lan.single("B", "192.0.2.2", cfg(priority=100, version=version, auth_md5_key="k3y"))
    lan.start(a, b)
    lan.run_until(40.0)
    assert (state(a), state(b)) == (State.ACTIVE, State.STANDBY)
    assert grp(b).active_router == "192.0.2.1" and grp(a).standby_router == "192.0.2.2"
    assert lan.wire and all(p.md5 is not None and p.auth == "" and verify(p, "k3y") for _, _, p in lan.wire)
    assert grp(a).counters["bad_auth"] == grp(b).counters["bad_auth"] == 0
    lan.kill(a)
    lan.advance(10.0)
    assert state(b) == State.ACTIVE and b.vips == {VIP_OUT}


@pytest.mark.parametrize(
    ("a_kw", "b_kw"),
    [
        ({"auth_md5_key": "right"}, {"auth_md5_key": "wrong"}),
        ({"auth_md5_key": "cisco"}, {}),  # MD5 against the text default, even with the same string
        ({}, {"auth_md5_key": "cisco"}),
    ],
)
@pytest.mark.parametrize("version", [1, 2])
def test_mismatched_authentication_is_ignored_and_counted(version, a_kw, b_kw):
    lan = Lan()
    a = lan.single("A", "192.0.2.1", cfg(priority=110, version=version, **a_kw))
    b = lan.single("B", "192.0.2.2", cfg(priority=100, version=version, **b_kw))
    lan.start(a)
    lan.run_until(20.0)
    assert state(a) == State.ACTIVE
    lan.start(b)
    lan.advance(40.0)
    # Neither hears the other: B never learns A and claims the VIP itself, and both count the drops.
    assert state(b) == State.ACTIVE and grp(b).active_router == "192.0.2.2"
    assert grp(a).counters["bad_auth"] >= 10 and grp(b).counters["bad_auth"] >= 10
    assert grp(b).counters["ignored"] == 0


def _md5_group() -> HsrpGroup:
    g = HsrpGroup(cfg(auth_md5_key="k3y", hello_ms=1000, hold_ms=3000), "192.0.2.2")
    g.start(0.0)
    g.on_timer(10.0)
    return g


def _hello(**kw) -> HsrpPacket:
    base = HsrpPacket(2, Opcode.HELLO, State.ACTIVE, 1, 200, 1000, 3000, VIP_OUT, "", md5=Md5Auth("192.0.2.1"))
    return replace(base, **kw)


def test_a_good_md5_hello_is_accepted():
    g = _md5_group()
    g.on_packet(decode(encode(sign(_hello(), "k3y"))), "192.0.2.1", 10.0)
    assert g.active_router == "192.0.2.1" and g.counters["bad_auth"] == 0


@pytest.mark.parametrize(
    ("pkt", "src"),
    [
        (sign(_hello(), "wrong"), "192.0.2.1"),  # wrong key
        (_hello(), "192.0.2.1"),  # zero digest
        (replace(_hello(), md5=None, auth="k3y"), "192.0.2.1"),  # the key as plain text
        (sign(_hello(), "k3y"), "192.0.2.9"),  # replayed from another address
        (sign(_hello(md5=Md5Auth("192.0.2.9")), "k3y"), "192.0.2.1"),  # TLV names another sender
    ],
)
def test_bad_md5_packets_are_dropped_and_counted(pkt, src):
    g = _md5_group()
    before = g.state
    g.on_packet(decode(encode(pkt)), src, 10.0)
    assert g.counters["bad_auth"] == 1 and g.counters["rx"] == 1
    assert g.active_router != src and g.state == before


def test_digest_is_checked_against_the_received_bytes():
    g = _md5_group()
    raw = bytearray(encode(sign(_hello(), "k3y")))
    raw[17] ^= 0x40  # priority 200 -> 136: still decodes, digest no longer matches
    g.on_packet(decode(bytes(raw)), "192.0.2.1", 10.0)
    assert g.counters["bad_auth"] == 1 and g.active_router != "192.0.2.1"


def test_text_auth_default_unchanged_on_the_wire():
    g = HsrpGroup(cfg(version=1), "192.0.2.2")
    sends = [a for a in g.start(0.0) + g.on_timer(30.0) if hasattr(a, "packet")]
    assert sends and all(s.packet.md5 is None and s.packet.auth == "cisco" for s in sends)
    assert all(len(encode(s.packet)) == 20 for s in sends)


@pytest.mark.parametrize("version", [1, 2])
def test_text_auth_router_refuses_md5_packets_even_with_matching_text(version):
    """An MD5 packet whose text field also says "cisco" is still an MD5 packet: a text router drops it."""
    g = HsrpGroup(cfg(version=version, hello_ms=1000, hold_ms=3000), "192.0.2.2")
    g.start(0.0)
    g.on_timer(10.0)
    pkt = sign(_hello(version=version, auth="cisco"), "k3y")
    back = decode(encode(pkt))
    assert back.auth == "cisco" and back.md5 is not None
    g.on_packet(back, "192.0.2.1", 10.0)
    assert g.counters["bad_auth"] == 1 and g.active_router != "192.0.2.1"


def test_digest_covers_tlvs_after_the_md5_tlv():
    """The digest is over the whole packet as sent, including TLVs that follow it (here Interface State)."""
    head = encode(_hello())
    tail = bytes([2, 4, 0, 1, 0, 0])
    digest = md5_digest("k3y", head + tail)
    raw = head[:-16] + digest + tail
    pkt = decode(raw)
    assert verify(pkt, "k3y")
    assert not verify(decode(head[:-16] + digest + bytes([2, 4, 0, 2, 0, 0])), "k3y")
    g = _md5_group()
    g.on_packet(pkt, "192.0.2.1", 10.0)
    assert g.counters["bad_auth"] == 0 and g.active_router == "192.0.2.1"

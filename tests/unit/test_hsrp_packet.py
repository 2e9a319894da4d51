"""HSRP codec: round trips, and cross-checks against scapy and tshark's dissectors."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.sidecar.hsrp.packet import (
    HSRP_PORT,
    HSRP_V1_GROUP,
    HSRP_V2_GROUP,
    HsrpPacket,
    Opcode,
    PacketError,
    State,
    decode,
    encode,
    multicast_group,
    v1_virtual_mac,
    v2_virtual_mac,
    virtual_mac,
)

V1 = HsrpPacket(1, Opcode.HELLO, State.ACTIVE, 7, 110, 3000, 10000, "192.0.2.100")
V2 = HsrpPacket(
    2, Opcode.HELLO, State.STANDBY, 1234, 150, 100, 300, "10.1.0.100", "s3cret", b"\x02\x42\xac\x11\x00\x02"
)


@pytest.mark.parametrize("pkt", [V1, V2, replace(V2, auth="cisco", opcode=Opcode.COUP, state=State.ACTIVE)])
def test_round_trip(pkt):
    assert decode(encode(pkt)) == pkt


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("opcode", list(Opcode))
@pytest.mark.parametrize("version", [1, 2])
def test_round_trip_all_states_and_opcodes(version, opcode, state):
    pkt = replace(V1, version=version, opcode=opcode, state=state)
    assert decode(encode(pkt)) == pkt


def test_v1_layout_matches_rfc2281():
    raw = encode(V1)
    assert raw == bytes([0, 0, 16, 3, 10, 110, 7, 0]) + b"cisco\0\0\0" + bytes([192, 0, 2, 100])


def test_v2_layout():
    raw = encode(V2)
    assert len(raw) == 42 + 10
    assert raw[:2] == bytes([1, 40]) and raw[2] == 2  # Group State TLV, version 2
    assert raw[4] == 5  # HSRPv2 numbers states sequentially: Standby = 5
    assert raw[5] == 4 and int.from_bytes(raw[6:8], "big") == 1234
    assert raw[8:14] == V2.identifier
    assert [int.from_bytes(raw[i : i + 4], "big") for i in (14, 18, 22)] == [150, 100, 300]
    assert raw[26:30] == bytes([10, 1, 0, 100]) and raw[30:42] == bytes(12)
    assert raw[42:] == bytes([3, 8]) + b"s3cret\0\0"


def test_v2_without_auth_tlv():
    raw = encode(replace(V2, auth=""))
    assert len(raw) == 42
    assert decode(raw).auth == ""


def test_v1_msec_timers_not_representable_become_zero():
    raw = encode(replace(V1, hellotime_ms=100, holdtime_ms=300))
    assert raw[3:5] == b"\0\0"
    assert decode(raw).hellotime_ms == 0 and decode(raw).holdtime_ms == 0
    assert encode(replace(V1, hellotime_ms=1500))[3] == 0
    assert encode(replace(V1, hellotime_ms=256_000))[3] == 0


def test_v2_disabled_state_decodes_as_initial_and_interface_tlv_is_skipped():
    raw = bytearray(encode(V2))
    raw[4] = 0
    raw += bytes([2, 4, 0, 1, 0, 0])
    assert decode(bytes(raw)).state == State.INITIAL


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        encode(V1)[:19],
        encode(V1) + b"\0",
        b"\x07" + encode(V1)[1:],  # unknown first byte
        encode(V1)[:1] + b"\x05" + encode(V1)[2:],  # opcode 5
        encode(V1)[:2] + b"\x03" + encode(V1)[3:],  # state 3
        encode(V2)[:41],
        encode(V2)[:-1],
        encode(V2)[:43],  # auth TLV header cut
        encode(V2)[:1] + b"\x27" + encode(V2)[2:],  # group state length 39
        encode(V2)[:2] + b"\x01" + encode(V2)[3:],  # version 1 in a v2 TLV
        encode(V2)[:5] + b"\x06" + encode(V2)[6:],  # IPv6 not supported
        encode(V2)[:6] + b"\x10\x00" + encode(V2)[8:],  # group 4096
        encode(V2)[:4] + b"\x07" + encode(V2)[5:],  # state 7
        encode(V2) + bytes([9, 0]),  # unknown TLV
        encode(V2) + bytes([4, 28]) + bytes(28),  # MD5 auth
        bytes([3, 8]) + b"cisco\0\0\0",  # auth only, no group state
        encode(V2) + encode(V2)[:42],  # two group states
    ],
)
def test_malformed_raises_packet_error(raw):
    with pytest.raises(PacketError):
        decode(raw)


@pytest.mark.parametrize(
    "pkt",
    [
        replace(V1, group=256),
        replace(V1, priority=256),
        replace(V2, group=4096),
        replace(V2, priority=-1),
        replace(V1, auth="123456789"),
        replace(V1, auth="\u20ac"),
        replace(V1, virtual_ip="::1"),
        replace(V1, version=3),
        replace(V2, identifier=b"\0"),
        replace(V2, hellotime_ms=-5),
    ],
)
def test_unrepresentable_raises_packet_error(pkt):
    with pytest.raises(PacketError):
        encode(pkt)


def test_constants_and_virtual_macs():
    assert HSRP_PORT == 1985
    assert multicast_group(1) == HSRP_V1_GROUP == "224.0.0.2"
    assert multicast_group(2) == HSRP_V2_GROUP == "224.0.0.102"
    assert v1_virtual_mac(0x2A) == "00:00:0c:07:ac:2a"
    assert v2_virtual_mac(1) == "00:00:0c:9f:f0:01"
    assert v2_virtual_mac(4095) == "00:00:0c:9f:ff:ff"
    assert virtual_mac(1, 1) == "00:00:0c:07:ac:01"
    with pytest.raises(ValueError):
        v1_virtual_mac(256)
    with pytest.raises(ValueError):
        multicast_group(3)


# --------------------------------------------------------------------------- scapy

scapy_hsrp = pytest.importorskip("scapy.layers.hsrp")


def test_scapy_decodes_our_v1():
    s = scapy_hsrp.HSRP(encode(V1))
    assert (s.version, s.opcode, s.state, s.hellotime, s.holdtime) == (0, 0, 16, 3, 10)
    assert (s.priority, s.group, s.reserved, s.virtualIP) == (110, 7, 0, "192.0.2.100")
    assert s.auth.rstrip(b"\0") == b"cisco"


def test_we_decode_what_scapy_builds():
    s = scapy_hsrp.HSRP(
        opcode=2, state=8, hellotime=1, holdtime=4, priority=42, group=200, auth=b"k3y", virtualIP="198.51.100.9"
    )
    pkt = decode(bytes(s))
    assert pkt == HsrpPacket(1, Opcode.RESIGN, State.STANDBY, 200, 42, 1000, 4000, "198.51.100.9", "k3y")


def test_scapy_default_hsrp_is_a_valid_v1_hello():
    pkt = decode(bytes(scapy_hsrp.HSRP()))
    assert (pkt.version, pkt.opcode, pkt.state, pkt.auth) == (1, Opcode.HELLO, State.ACTIVE, "cisco")


# --------------------------------------------------------------------------- tshark

TSHARK = shutil.which("tshark")


def _tshark_fields(tmp_path: Path, payloads: list[tuple[bytes, str]]) -> list[dict]:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    frames = [
        Ether(src="02:42:ac:11:00:02", dst="01:00:5e:00:00:02")
        / IP(src="192.0.2.1", dst=dst, ttl=1)
        / UDP(sport=HSRP_PORT, dport=HSRP_PORT)
        / raw
        for raw, dst in payloads
    ]
    pcap = tmp_path / "hsrp.pcap"
    wrpcap(str(pcap), frames)
    res = subprocess.run(
        [TSHARK, "-n", "-r", str(pcap), "-T", "json", "-Y", "hsrp"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    docs = json.loads(res.stdout)
    assert len(docs) == len(payloads), res.stderr
    return [_flatten(d["_source"]["layers"]["hsrp"], {}) for d in docs]


def _flatten(node: object, flat: dict[str, str]) -> dict[str, str]:
    """tshark nests fields in subtrees (TLVs); first occurrence of each name wins."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str):
                flat.setdefault(k, v)
            _flatten(v, flat)
    elif isinstance(node, list):
        for v in node:
            _flatten(v, flat)
    return flat


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install tshark)")
def test_tshark_dissects_our_v1(tmp_path):
    pkts = [V1, replace(V1, opcode=Opcode.COUP, state=State.SPEAK, group=255, priority=0, auth="abc")]
    f1, f2 = _tshark_fields(tmp_path, [(encode(p), HSRP_V1_GROUP) for p in pkts])
    assert f1["hsrp.version"] == "0" and f1["hsrp.opcode"] == "0" and f1["hsrp.state"] == "16"
    assert (f1["hsrp.group"], f1["hsrp.priority"]) == ("7", "110")
    assert (f1["hsrp.hellotime"], f1["hsrp.holdtime"]) == ("3", "10")
    assert f1["hsrp.virt_ip"] == "192.0.2.100" and f1["hsrp.auth_data"] == "cisco"
    assert (f2["hsrp.opcode"], f2["hsrp.state"], f2["hsrp.group"], f2["hsrp.priority"]) == ("1", "4", "255", "0")
    assert f2["hsrp.auth_data"] == "abc"


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install tshark)")
def test_tshark_dissects_our_v2(tmp_path):
    pkts = [V2, replace(V2, state=State.ACTIVE, opcode=Opcode.RESIGN, group=1, priority=255, auth="cisco")]
    f1, f2 = _tshark_fields(tmp_path, [(encode(p), HSRP_V2_GROUP) for p in pkts])
    assert f1["hsrp2.version"] == "2" and f1["hsrp2.opcode"] == "0"
    assert f1["hsrp2.state"] == "5"  # Standby in HSRPv2 numbering
    assert f1["hsrp2.ipversion"] == "4"
    assert (f1["hsrp2.group"], f1["hsrp2.priority"]) == ("1234", "150")
    assert (f1["hsrp2.hellotime"], f1["hsrp2.holdtime"]) == ("100", "300")
    assert f1["hsrp2.virt_ip"] == "10.1.0.100"
    assert f1["hsrp2.identifier"] == "02:42:ac:11:00:02"
    assert f1["hsrp2.auth_data"] == "s3cret"
    assert (f2["hsrp2.opcode"], f2["hsrp2.state"], f2["hsrp2.group"], f2["hsrp2.priority"]) == ("2", "6", "1", "255")


def test_hsrp_package_imports_only_the_standard_library():
    """The sidecar image has nothing but CPython: no third-party import may creep in."""
    import ast
    import sys

    pkg = Path(__file__).resolve().parents[2] / "labctl" / "sidecar" / "hsrp"
    bad = []
    for src in sorted(pkg.glob("*.py")):
        for node in ast.walk(ast.parse(src.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            bad += [f"{src.name}: {n}" for n in names if n.split(".")[0] not in sys.stdlib_module_names]
    assert not bad

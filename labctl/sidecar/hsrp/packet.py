"""HSRP wire format: RFC 2281 (HSRPv1) and Cisco HSRPv2, stdlib only.

The sidecar runs in a container with nothing but the Python standard library,
so this codec is hand written with :mod:`struct` and cross-checked in the unit
tests against scapy and tshark.

HSRPv1 (RFC 2281 section 5.1), 20 bytes, all integers big endian::

    version(=0) opcode state hellotime(s) holdtime(s) priority group reserved
    authentication data (8 bytes, NUL padded text, default "cisco")
    virtual IP address (4 bytes)

HSRPv2 is a sequence of TLVs: a Group State TLV (type 1, length 40)::

    version(=2) opcode state ipversion(4) group(2) identifier(6, MAC)
    priority(4) hellotime(4, ms) holdtime(4, ms) virtual address(16, IPv4 in first 4)

optionally followed by a Text Authentication TLV (type 3, length 8) and/or an
Interface State TLV (type 2, length 4, ignored).

**MD5 authentication** (IOS ``standby authentication md5 key-string KEY``)
replaces the text TLV with an MD5 Authentication TLV (type 4, length 28)::

    algorithm(1 = MD5) padding(0) flags(2) sender IP(4) key ID(4) digest(16)

HSRPv1 carries the same 30 bytes after its 20-byte header (a 50-byte packet,
authentication data field all zero); Wireshark dissects both forms.  The
digest is RFC 1828 "keyed MD5" as IOS computes it:
``MD5(key || keyfill || packet-with-zero-digest || key)``, keyfill being MD5's
own padding of the key to a 64-byte boundary.  Known answers from IOS captures
are in the unit tests.  A key string (not a key chain) always has key ID 0.

**State encoding differs between versions.** :class:`State` carries the RFC
2281 values (1, 2, 4, 8, 16 bit flags).  HSRPv2 numbers its states
sequentially (0 Disabled, 1 Init, 2 Learn, 3 Listen, 4 Speak, 5 Standby,
6 Active) - this is what IOS sends and what Wireshark dissects - so the v2
codec translates.  A received v2 "Disabled" (0) decodes as ``State.INITIAL``.

**Millisecond timers in HSRPv1.** The v1 timer fields are whole seconds in one
byte.  A timer that is an exact number of seconds in 0..255 is sent as is;
anything else (e.g. ``timers msec 100 msec 300``) is sent as 0, which is what
IOS does: 0 means "not representable, use your own configured timers".  The
FSM then falls back to its own Holdtime (it takes only the peer's Holdtime from
the wire, bounded, see :mod:`.fsm`); decode turns it into ``hellotime_ms == 0``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import struct
from dataclasses import dataclass, field, replace

__all__ = [
    "HSRP_PORT",
    "HSRP_V1_GROUP",
    "HSRP_V2_GROUP",
    "Opcode",
    "PacketError",
    "HsrpPacket",
    "Md5Auth",
    "State",
    "decode",
    "encode",
    "md5_digest",
    "sign",
    "verify",
    "multicast_group",
    "virtual_mac",
    "v1_virtual_mac",
    "v2_virtual_mac",
]

HSRP_PORT = 1985
HSRP_V1_GROUP = "224.0.0.2"  # all-routers
HSRP_V2_GROUP = "224.0.0.102"
DEFAULT_AUTH = "cisco"
AUTH_LEN = 8

V1_LEN = 20
V2_TLV_GROUP_STATE = 1
V2_TLV_INTERFACE_STATE = 2
V2_TLV_TEXT_AUTH = 3
V2_TLV_MD5_AUTH = 4
V2_GROUP_STATE_LEN = 40
MD5_TLV_LEN = 28  # TLV body length (type and length bytes not counted)
MD5_ALGORITHM = 1
MD5_KEY_MAX = 64  # IOS accepts key strings of up to 64 characters
V1_MD5_LEN = 20 + 2 + MD5_TLV_LEN

_V1 = struct.Struct("!BBBBBBBB8s4s")
_V2_GROUP = struct.Struct("!BBBBBBH6sIII16s")  # type, len, then the 40-byte body
_MD5_TLV = struct.Struct("!BBBBH4sI16s")  # type, len, algorithm, padding, flags, sender IP, key ID, digest
_DIGEST_AT = _MD5_TLV.size - 16  # offset of the digest inside the TLV


class PacketError(ValueError):
    """Anything that is not a well-formed HSRP packet we understand."""


class Opcode(enum.IntEnum):
    HELLO = 0
    COUP = 1
    RESIGN = 2


class State(enum.IntEnum):
    """RFC 2281 state values (the HSRPv1 wire values)."""

    INITIAL = 0
    LEARN = 1
    LISTEN = 2
    SPEAK = 4
    STANDBY = 8
    ACTIVE = 16


_STATE_TO_V2 = {
    State.INITIAL: 1,
    State.LEARN: 2,
    State.LISTEN: 3,
    State.SPEAK: 4,
    State.STANDBY: 5,
    State.ACTIVE: 6,
}
_V2_TO_STATE = {v: k for k, v in _STATE_TO_V2.items()}
_V2_TO_STATE[0] = State.INITIAL  # "Disabled"


@dataclass(frozen=True)
class Md5Auth:
    """The MD5 Authentication TLV; ``digest`` is all zero until :func:`sign` fills it in."""

    sender_ip: str
    key_id: int = 0
    digest: bytes = bytes(16)
    algorithm: int = MD5_ALGORITHM
    flags: int = 0


@dataclass(frozen=True)
class HsrpPacket:
    """One decoded HSRP message, version independent (timers always in ms).

    ``md5`` is set when the packet carries an MD5 Authentication TLV.
    ``signed`` holds, for a decoded MD5 packet, the received bytes with the
    digest zeroed: the digest covers the bytes as sent, which a re-encode of
    the decoded fields need not reproduce (reserved bytes, extra TLVs).
    """

    version: int
    opcode: Opcode
    state: State
    group: int
    priority: int
    hellotime_ms: int
    holdtime_ms: int
    virtual_ip: str
    auth: str = DEFAULT_AUTH
    identifier: bytes = b"\0" * 6
    md5: Md5Auth | None = None
    signed: bytes = field(default=b"", compare=False, repr=False)


def multicast_group(version: int) -> str:
    """Destination address for a given HSRP version."""
    if version == 1:
        return HSRP_V1_GROUP
    if version == 2:
        return HSRP_V2_GROUP
    raise ValueError(f"unknown HSRP version {version}")


def v1_virtual_mac(group: int) -> str:
    """0000.0c07.acXX - the HSRPv1 virtual MAC (RFC 2281 section 5.3)."""
    if not 0 <= group <= 255:
        raise ValueError(f"HSRPv1 group {group} out of range 0-255")
    return f"00:00:0c:07:ac:{group:02x}"


def v2_virtual_mac(group: int) -> str:
    """0000.0c9f.fXXX - the HSRPv2 virtual MAC."""
    if not 0 <= group <= 4095:
        raise ValueError(f"HSRPv2 group {group} out of range 0-4095")
    return f"00:00:0c:9f:f{group >> 8:01x}:{group & 0xFF:02x}"


def virtual_mac(version: int, group: int) -> str:
    return v1_virtual_mac(group) if version == 1 else v2_virtual_mac(group)


def _auth_bytes(auth: str) -> bytes:
    try:
        raw = auth.encode("latin-1")
    except UnicodeEncodeError as e:
        raise PacketError(f"authentication string {auth!r} is not 8-bit text") from e
    if len(raw) > AUTH_LEN:
        raise PacketError(f"authentication string {auth!r} longer than {AUTH_LEN} bytes")
    return raw.ljust(AUTH_LEN, b"\0")


def _auth_str(raw: bytes) -> str:
    # Text is NUL padded; stop at the first NUL like IOS and Wireshark do.
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _v1_timer(ms: int) -> int:
    if ms % 1000 == 0 and 0 <= ms // 1000 <= 255:
        return ms // 1000
    return 0  # not representable in v1: IOS sends 0 too


def _ipv4(ip: str) -> bytes:
    try:
        return ipaddress.IPv4Address(ip).packed
    except ValueError as e:
        raise PacketError(f"virtual IP {ip!r} is not an IPv4 address") from e


def _check_range(name: str, value: int, hi: int) -> None:
    if not isinstance(value, int) or not 0 <= value <= hi:
        raise PacketError(f"{name} {value!r} out of range 0-{hi}")


def _md5_tlv(md5: Md5Auth) -> bytes:
    if md5.algorithm != MD5_ALGORITHM:
        raise PacketError(f"MD5 TLV algorithm {md5.algorithm!r} is not {MD5_ALGORITHM} (MD5)")
    _check_range("MD5 flags", md5.flags, 0xFFFF)
    _check_range("MD5 key ID", md5.key_id, 0xFFFFFFFF)
    if not isinstance(md5.digest, bytes) or len(md5.digest) != 16:
        raise PacketError("MD5 digest must be 16 bytes")
    try:
        sender = ipaddress.IPv4Address(md5.sender_ip).packed
    except ValueError as e:
        raise PacketError(f"MD5 sender IP {md5.sender_ip!r} is not an IPv4 address") from e
    return _MD5_TLV.pack(V2_TLV_MD5_AUTH, MD5_TLV_LEN, md5.algorithm, 0, md5.flags, sender, md5.key_id, md5.digest)


def _key_bytes(key: str) -> bytes:
    try:
        raw = key.encode("latin-1")
    except UnicodeEncodeError as e:
        raise PacketError("MD5 key string is not 8-bit text") from e
    if not 1 <= len(raw) <= MD5_KEY_MAX:
        raise PacketError(f"MD5 key string must be 1-{MD5_KEY_MAX} characters")
    return raw


def md5_digest(key: str, data: bytes) -> bytes:
    """RFC 1828 keyed MD5 over *data* (the packet with a zero digest), as IOS signs HSRP."""
    k = _key_bytes(key)
    keyfill = b"\x80" + bytes((55 - len(k)) % 64) + struct.pack("<Q", 8 * len(k))
    return hashlib.md5(k + keyfill + data + k, usedforsecurity=False).digest()


def _zero_digest(pkt: HsrpPacket) -> bytes:
    assert pkt.md5 is not None
    return encode(replace(pkt, md5=replace(pkt.md5, digest=bytes(16))))


def sign(pkt: HsrpPacket, key: str) -> HsrpPacket:
    """*pkt* with its MD5 TLV digest computed under *key* (``pkt.md5`` must be set)."""
    if pkt.md5 is None:
        raise PacketError("cannot sign a packet without an MD5 authentication TLV")
    return replace(pkt, md5=replace(pkt.md5, digest=md5_digest(key, _zero_digest(pkt))))


def verify(pkt: HsrpPacket, key: str) -> bool:
    """True if *pkt* carries an MD5 TLV whose digest is right for *key* (constant time)."""
    if pkt.md5 is None:
        return False
    try:
        zeroed = replace(pkt, md5=replace(pkt.md5, digest=bytes(16)), signed=b"")
        if pkt.signed:
            # The fields judged must be the ones signed (no replace() after decode).
            if decode(pkt.signed) != zeroed:
                return False
            data = pkt.signed
        else:
            data = encode(zeroed)
        want = md5_digest(key, data)
    except PacketError:
        return False
    return hmac.compare_digest(want, pkt.md5.digest)


def encode(pkt: HsrpPacket) -> bytes:
    """Serialise *pkt*; raises PacketError if a field cannot be represented.

    An MD5 TLV is written with the digest it holds: sign first (:func:`sign`).
    """
    try:
        opcode = Opcode(pkt.opcode)
        state = State(pkt.state)
    except ValueError as e:
        raise PacketError(str(e)) from e
    auth = _auth_bytes(pkt.auth)
    vip = _ipv4(pkt.virtual_ip)
    md5 = _md5_tlv(pkt.md5) if pkt.md5 is not None else b""
    _check_range("hellotime_ms", pkt.hellotime_ms, 0xFFFFFFFF)
    _check_range("holdtime_ms", pkt.holdtime_ms, 0xFFFFFFFF)
    if pkt.version == 1:
        _check_range("group", pkt.group, 255)
        _check_range("priority", pkt.priority, 255)
        return (
            _V1.pack(
                0,
                opcode,
                state,
                _v1_timer(pkt.hellotime_ms),
                _v1_timer(pkt.holdtime_ms),
                pkt.priority,
                pkt.group,
                0,
                auth,
                vip,
            )
            + md5
        )
    if pkt.version == 2:
        _check_range("group", pkt.group, 4095)
        _check_range("priority", pkt.priority, 0xFFFFFFFF)
        if len(pkt.identifier) != 6:
            raise PacketError("identifier must be 6 bytes (a MAC address)")
        out = _V2_GROUP.pack(
            V2_TLV_GROUP_STATE,
            V2_GROUP_STATE_LEN,
            2,
            opcode,
            _STATE_TO_V2[state],
            4,
            pkt.group,
            bytes(pkt.identifier),
            pkt.priority,
            pkt.hellotime_ms,
            pkt.holdtime_ms,
            vip.ljust(16, b"\0"),
        )
        if pkt.auth:
            out += bytes((V2_TLV_TEXT_AUTH, AUTH_LEN)) + auth
        return out + md5
    raise PacketError(f"unknown HSRP version {pkt.version!r}")


def _decode_md5(data: bytes, off: int) -> tuple[Md5Auth, bytes]:
    """The MD5 TLV at *off*, and *data* with its digest zeroed (what the digest covers)."""
    _type, tlv_len, algo, _pad, flags, sender, key_id, digest = _MD5_TLV.unpack_from(data, off)
    if tlv_len != MD5_TLV_LEN:
        raise PacketError(f"HSRP MD5 TLV length {tlv_len} != {MD5_TLV_LEN}")
    if algo != MD5_ALGORITHM:
        raise PacketError(f"HSRP MD5 TLV algorithm {algo} is not {MD5_ALGORITHM} (MD5)")
    at = off + _DIGEST_AT
    signed = data[:at] + bytes(16) + data[at + 16 :]
    return Md5Auth(str(ipaddress.IPv4Address(sender)), key_id, bytes(digest), algo, flags), signed


def _decode_v1(data: bytes) -> HsrpPacket:
    if len(data) < V1_LEN:
        raise PacketError(f"HSRPv1 packet truncated: {len(data)} < {V1_LEN} bytes")
    # Only a 50-byte v1 packet may carry more: the MD5 TLV.  Other trailing bytes are junk.
    md5: Md5Auth | None = None
    signed = b""
    if len(data) == V1_MD5_LEN and data[V1_LEN] == V2_TLV_MD5_AUTH:
        md5, signed = _decode_md5(data, V1_LEN)
    elif len(data) != V1_LEN:
        raise PacketError(f"HSRPv1 packet has {len(data) - V1_LEN} unexpected trailing bytes")
    version, opcode, state, hello, hold, prio, group, _rsvd, auth, vip = _V1.unpack(data[:V1_LEN])
    if version != 0:
        raise PacketError(f"HSRPv1 version field {version} != 0")
    try:
        op = Opcode(opcode)
    except ValueError as e:
        raise PacketError(f"unknown HSRP opcode {opcode}") from e
    try:
        st = State(state)
    except ValueError as e:
        raise PacketError(f"unknown HSRPv1 state {state}") from e
    return HsrpPacket(
        version=1,
        opcode=op,
        state=st,
        group=group,
        priority=prio,
        hellotime_ms=hello * 1000,
        holdtime_ms=hold * 1000,
        virtual_ip=str(ipaddress.IPv4Address(vip)),
        auth=_auth_str(auth),
        md5=md5,
        signed=signed,
    )


def _decode_v2(data: bytes) -> HsrpPacket:
    group_state: tuple | None = None
    auth = ""
    md5: Md5Auth | None = None
    signed = b""
    off = 0
    while off < len(data):
        if len(data) - off < 2:
            raise PacketError("HSRPv2 TLV header truncated")
        tlv_type, tlv_len = data[off], data[off + 1]
        body = data[off + 2 : off + 2 + tlv_len]
        if len(body) != tlv_len:
            raise PacketError(f"HSRPv2 TLV type {tlv_type} truncated")
        if tlv_type == V2_TLV_GROUP_STATE:
            if tlv_len != V2_GROUP_STATE_LEN:
                raise PacketError(f"HSRPv2 group state TLV length {tlv_len} != 40")
            if group_state is not None:
                raise PacketError("HSRPv2 packet has more than one group state TLV")
            group_state = _V2_GROUP.unpack(data[off : off + 2 + tlv_len])[2:]
        elif tlv_type == V2_TLV_TEXT_AUTH:
            if tlv_len != AUTH_LEN:
                raise PacketError(f"HSRPv2 text auth TLV length {tlv_len} != 8")
            auth = _auth_str(body)
        elif tlv_type == V2_TLV_INTERFACE_STATE:
            if tlv_len != 4:
                raise PacketError(f"HSRPv2 interface state TLV length {tlv_len} != 4")
        elif tlv_type == V2_TLV_MD5_AUTH:
            if tlv_len != MD5_TLV_LEN:
                raise PacketError(f"HSRPv2 MD5 TLV length {tlv_len} != {MD5_TLV_LEN}")
            if md5 is not None:
                raise PacketError("HSRPv2 packet has more than one MD5 TLV")
            md5, signed = _decode_md5(data, off)
        else:
            raise PacketError(f"unknown HSRPv2 TLV type {tlv_type}")
        off += 2 + tlv_len
    if group_state is None:
        raise PacketError("HSRPv2 packet without a group state TLV")
    version, opcode, state, ipver, group, ident, prio, hello, hold, addr = group_state
    if version != 2:
        raise PacketError(f"HSRPv2 group state version {version} != 2")
    if ipver != 4:
        raise PacketError(f"HSRPv2 IP version {ipver} not supported (IPv4 only)")
    if group > 4095:
        raise PacketError(f"HSRPv2 group {group} out of range 0-4095")
    try:
        op = Opcode(opcode)
    except ValueError as e:
        raise PacketError(f"unknown HSRP opcode {opcode}") from e
    if state not in _V2_TO_STATE:
        raise PacketError(f"unknown HSRPv2 state {state}")
    return HsrpPacket(
        version=2,
        opcode=op,
        state=_V2_TO_STATE[state],
        group=group,
        priority=prio,
        hellotime_ms=hello,
        holdtime_ms=hold,
        virtual_ip=str(ipaddress.IPv4Address(addr[:4])),
        auth=auth,
        identifier=bytes(ident),
        md5=md5,
        signed=signed,
    )


def decode(data: bytes) -> HsrpPacket:
    """Parse one UDP payload; raises PacketError (and only that) on bad input.

    The version is recognised from the first byte: 0 is the HSRPv1 version
    field, 1 is the HSRPv2 group state TLV type (v2 packets start with it).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PacketError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise PacketError("empty packet")
    if data[0] == 0:
        return _decode_v1(data)
    if data[0] in (V2_TLV_GROUP_STATE, V2_TLV_TEXT_AUTH, V2_TLV_INTERFACE_STATE, V2_TLV_MD5_AUTH):
        return _decode_v2(data)
    raise PacketError(f"unrecognised HSRP version/TLV byte {data[0]}")

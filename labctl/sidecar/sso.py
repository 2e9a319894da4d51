"""The authenticated sidecar-to-sidecar SSO channel on the sync network (stdlib only).

Each sidecar sends its redundancy report (`SsoPolicy` builds it) every SA poll; the standby is HOT only
when it holds every SA the Active reports (see `policy.derive_state`). With replay-state sync the
Active also sends `{"replay": [...]}` messages, its ESP sequence table (see `replay`), on this channel.
The redundancy states themselves live in `contract.Redundancy` (re-exported here for older imports).

Wire format: one UDP datagram `hmac-sha256-hex \\n json`, the JSON an object carrying the report plus
`boot` (the sender's random per-boot id), `seq` (per boot, increasing), `time`, and `peer_boot` (the
receiver's boot id as the sender last heard it).

Replays. A receiver remembers the newest (boot, seq) it heard, so a message is never accepted twice
within one receiver boot, and a superseded sender boot stays rejected. Memory alone fails across a
*receiver* restart (a captured, validly signed message would be new to it), so a message is delivered only
if its `peer_boot` is the receiver's *current* boot id: a per-boot epoch handshake. A fresh random id
cannot appear in anything captured before the boot, so no replay survives a restart, and no clock has to
agree between the nodes. The cost is one exchange after a restart: the first report each side receives
names the other's previous boot (or none) and is only used to learn the sender's boot id (counted as
`unconfirmed`, not as a rejection); both sides report every 0.4 s, so the handshake takes at most one
report interval, and the restarted node sends first (its first SA poll).

Malformed input. A validly signed message that is not an object, lacks a field, has a field of the wrong
type or an absurd number is one counted rejection with a logged reason, never an exception.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import hmac
import json
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labctl.sidecar.contract import SSO_PORT, Redundancy
from labctl.sidecar.replay import wire_problem

__all__ = ["LOG_INTERVAL", "SSO_PORT", "Channel", "Redundancy", "malformed"]

LOG_INTERVAL = 1.0  # seconds between two rejection log lines (a flood is summarised, not echoed)
MAX_SEQ = 2**63 - 1
MAX_ID = 64  # longest boot id accepted (ours are 16 hex digits)
REJECTIONS = ("foreign", "forged", "malformed", "replayed")  # each counts in `rejected`
_REPORT_STRINGS = ("node", "state", "role")
_REPORT_LISTS = ("ike", "child", "carrying")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID


def malformed(message: Any) -> str | None:
    """Why a decoded, authentic message cannot be used (None: it can)."""
    if not isinstance(message, dict):
        return f"not a JSON object but {type(message).__name__}"
    if not _is_id(message.get("boot")):
        return "boot missing or not a short string"
    seq = message.get("seq")
    if not _is_int(seq) or not 0 < seq <= MAX_SEQ:
        return "seq missing or not an integer in 1..2^63-1"
    sent = message.get("time")
    if isinstance(sent, bool) or not isinstance(sent, int | float) or not math.isfinite(sent):
        return "time missing or not a finite number"
    if message.get("peer_boot") is not None and not _is_id(message["peer_boot"]):
        return "peer_boot not a short string"
    for key in _REPORT_STRINGS:
        if key in message and not isinstance(message[key], str):
            return f"{key} not a string"
    if "state" in message and message["state"] not in {s.label for s in Redundancy}:
        return f"unknown state {message['state'][:40]!r}"
    for key in _REPORT_LISTS:
        if key in message and not (isinstance(message[key], list) and all(isinstance(v, str) for v in message[key])):
            return f"{key} not a list of strings"
    if "replay" in message:  # the Active's ESP sequence table (replay-state sync), a message of its own
        return wire_problem(message["replay"])
    return None


@dataclass
class Channel:
    """UDP datagrams `hmac-sha256-hex \\n json` between the two sidecars; anything else is rejected."""

    local_ip: str
    peer_ip: str
    port: int
    key: bytes
    log: Callable[[str], None] | None = None  # one line per rejection, at most every LOG_INTERVAL
    boot: str = field(default_factory=lambda: os.urandom(8).hex())
    seq: int = 0
    rejected: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*REJECTIONS, "unconfirmed"), 0))
    heard_boot: str | None = None  # the peer's newest boot id (echoed back as `peer_boot`)
    heard_seq: int = 0
    retired: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=16))
    sock: socket.socket | None = None
    _last_log: float | None = None
    _suppressed: int = 0

    def open(self) -> socket.socket:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.local_ip, self.port))
        self.sock.setblocking(False)
        return self.sock

    def seal(self, payload: dict[str, Any]) -> bytes:
        self.seq += 1
        body = json.dumps({**payload, "boot": self.boot, "seq": self.seq, "time": time.time(),
                           "peer_boot": self.heard_boot}).encode()
        return hmac.new(self.key, body, hashlib.sha256).hexdigest().encode() + b"\n" + body

    def send(self, payload: dict[str, Any]) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):  # sync link down: the peer simply stops hearing us
                self.sock.sendto(self.seal(payload), (self.peer_ip, self.port))

    def open_message(self, data: bytes, source: str, now: float | None = None) -> dict[str, Any] | None:
        """Verify and decode one datagram; None (and counted) when foreign, forged, malformed, replayed
        or not yet bound to this boot (`now`: monotonic seconds, for rate-limiting the log)."""
        now = time.monotonic() if now is None else now
        if source != self.peer_ip:
            return self._reject("foreign", f"from {source}, not the peer {self.peer_ip}", now)
        mac, _, body = data.partition(b"\n")
        expected = hmac.new(self.key, body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(mac, expected):
            return self._reject("forged", "bad HMAC (wrong key or altered)", now)
        try:
            message = json.loads(body)
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError; deep nesting recurses
            return self._reject("malformed", f"not JSON ({type(e).__name__})", now)
        reason = malformed(message)
        if reason is not None:
            return self._reject("malformed", reason, now)
        boot, seq = message["boot"], message["seq"]
        if boot in self.retired or (boot == self.heard_boot and seq <= self.heard_seq):
            return self._reject("replayed", f"boot {boot[:16]} seq {seq} already seen", now)
        if boot != self.heard_boot:  # the peer restarted: its previous boot may never speak again
            if self.heard_boot is not None:
                self.retired.append(self.heard_boot)
            self.heard_boot = boot
        self.heard_seq = seq
        if message.get("peer_boot") != self.boot:
            self.counts["unconfirmed"] += 1  # sent before the peer heard this boot: learn its id only
            return None
        return message

    def _reject(self, reason: str, detail: str, now: float) -> None:
        self.rejected += 1
        self.counts[reason] += 1
        if self.log is None:
            return
        if self._last_log is not None and now - self._last_log < LOG_INTERVAL:
            self._suppressed += 1
            return
        more = f" (+{self._suppressed} more rejected since the last line)" if self._suppressed else ""
        self.log(f"rejected SSO message: {reason}: {detail}{more}")
        self._last_log, self._suppressed = now, 0

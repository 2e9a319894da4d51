"""SSO redundancy: the states IOS shows in `show redundancy states`, and the authenticated
sidecar-to-sidecar channel on the sync network that carries them (stdlib only).

The HSRP role decides ACTIVE vs STANDBY; a standby is HOT only when every IKE and CHILD SA the
active reports is present here (synced by strongSwan's ha plugin), otherwise COLD.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any


class Redundancy(enum.Enum):
    """IOS RF states with their numbers (`my state = 13 -ACTIVE`)."""

    DISABLED = (1, "DISABLED")
    INITIALIZATION = (2, "INITIALIZATION")
    STANDBY_COLD = (4, "STANDBY COLD")
    STANDBY_HOT = (8, "STANDBY HOT")
    ACTIVE = (13, "ACTIVE")

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def label(self) -> str:
        return self.value[1]

    @classmethod
    def from_label(cls, label: str) -> Redundancy:
        return next((s for s in cls if s.label == label), cls.DISABLED)


def _installed(sa: dict[str, Any]) -> bool:
    return any(c.get("state", "INSTALLED") == "INSTALLED" for c in sa["child_sas"])


def carrying_keys(ike_sas: list[dict[str, Any]]) -> set[str]:
    """IKE SAs (SPI pairs) that hold at least one installed CHILD_SA."""
    return {f"{sa['initiator_spi']}_{sa['responder_spi']}" for sa in ike_sas if _installed(sa)}


def sa_keys(ike_sas: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """Identity of SAs for comparing nodes: IKE SPI pairs and CHILD SPI pairs."""
    ike = {f"{sa['initiator_spi']}_{sa['responder_spi']}" for sa in ike_sas}
    # IKEv1 keeps a rekeyed CHILD_SA (REKEYED) until it expires; the standby only needs the installed ones
    child = {f"{c['spi_in']}_{c['spi_out']}" for sa in ike_sas for c in sa["child_sas"]
             if c.get("state", "INSTALLED") == "INSTALLED"}
    return ike, child


def derive_state(
    role: str, stateful: bool, charon_up: bool, mine: list[dict[str, Any]], peer: dict[str, Any] | None
) -> Redundancy:
    """This node's redundancy state from its HSRP role, its SAs and the active peer's report."""
    if role == "active":
        return Redundancy.ACTIVE
    if role != "standby" or not charon_up:
        return Redundancy.INITIALIZATION
    if not stateful or peer is None or peer.get("state") != Redundancy.ACTIVE.label:
        return Redundancy.STANDBY_COLD
    # HOT = every IKE SA of the active is held here, with a CHILD_SA wherever the active has one. CHILD SPIs
    # need not match: the takeover rekeys every CHILD_SA (sequence continuity), and the ha plugin's
    # re-pushes can leave stale extra copies here that a takeover only rekeys or lets expire.
    my_ike, my_carrying = sa_keys(mine)[0], carrying_keys(mine)
    peer_ike, peer_carrying = set(peer.get("ike", [])), set(peer.get("carrying", peer.get("ike", [])))
    return Redundancy.STANDBY_HOT if peer_ike <= my_ike and peer_carrying <= my_carrying else Redundancy.STANDBY_COLD


@dataclass
class Channel:
    """UDP datagrams `hmac-sha256-hex \\n json` between the two sidecars; anything else is rejected."""

    local_ip: str
    peer_ip: str
    port: int
    key: bytes
    boot: str = field(default_factory=lambda: os.urandom(6).hex())
    seq: int = 0
    rejected: int = 0
    last_seq: dict[str, int] = field(default_factory=dict)
    sock: socket.socket | None = None

    def open(self) -> socket.socket:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.local_ip, self.port))
        self.sock.setblocking(False)
        return self.sock

    def seal(self, payload: dict[str, Any]) -> bytes:
        self.seq += 1
        body = json.dumps({**payload, "boot": self.boot, "seq": self.seq, "time": time.time()}).encode()
        return hmac.new(self.key, body, hashlib.sha256).hexdigest().encode() + b"\n" + body

    def send(self, payload: dict[str, Any]) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):  # sync link down: the peer simply stops hearing us
                self.sock.sendto(self.seal(payload), (self.peer_ip, self.port))

    def open_message(self, data: bytes, source: str) -> dict[str, Any] | None:
        """Verify and decode one datagram; None (and counted) when forged, replayed or foreign."""
        mac, _, body = data.partition(b"\n")
        expected = hmac.new(self.key, body, hashlib.sha256).hexdigest().encode()
        if source != self.peer_ip or not hmac.compare_digest(mac, expected):
            self.rejected += 1
            return None
        try:
            message = json.loads(body)
        except ValueError:
            self.rejected += 1
            return None
        boot, seq = str(message.get("boot")), int(message.get("seq", 0))
        if seq <= self.last_seq.get(boot, 0):
            self.rejected += 1
            return None
        self.last_seq[boot] = seq
        return message

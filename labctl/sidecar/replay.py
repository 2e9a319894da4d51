"""ESP replay-state sync between the two gateways, as IOS `redundancy replay-interval` does (stdlib only).

Why: the ha plugin syncs every CHILD_SA (keys, SPIs) but not its ESP sequence state, so a new Active
would start its outbound SAs at sequence number 1 and the peer would drop everything as replays. labctl's
node image carries libipsec with a small patch (labctl/images/node/strongswan-replay.patch) that reads and
raises that state over the UNIX socket :data:`SOCKET` (`get`; `set SPI DST SEQNO`). This module is the
pure part: parsing the socket's answers, deciding when the Active forwards its table (:class:`Sender`:
when a counter moved by its interval, an SA came or went, or every :data:`REFRESH` seconds for a standby
that just (re)started) and what the standby raises (:class:`Store`). The sidecar wires it.

Semantics (the guide's): the standby keeps the last table it heard; every SA it holds below its target is
raised at once (sets never lower a state, so repeating them is harmless), so the takeover finds the SAs
already continued. Targets: outbound = last synced + the outbound interval (at most one interval of
packets can have been sent since the last sync, provided no SA sends more than that per :data:`POLL`);
inbound = the last synced window top (anything the peer sends from then on is above it).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SOCKET = "/var/run/charon.replay"  # served by the patched kernel-libipsec plugin inside charon
POLL = 0.1  # seconds between two reads of charon's sequence state
REFRESH = 1.0  # seconds after which the Active re-sends its table even if nothing crossed an interval
TIMEOUT = 1.0  # seconds a socket request may take
MAX_SEQ = 2**32 - 1  # ESP sequence numbers are 32 bit (no ESN with libipsec)
MAX_ENTRIES = 1500  # SAs in one table: what one UDP datagram holds (a bigger table is not split: a known limit)
STATUS_ENTRIES = 64  # synced SAs listed in the status file


class ReplayUnavailable(Exception):
    """charon's replay socket is missing or did not answer (no patched libipsec, charon restarting)."""


@dataclass(frozen=True)
class SaSeq:
    """The sequence state of one libipsec SA: outbound the last number sent, inbound the window top."""

    spi: str  # 8 hex digits, as swanctl prints CHILD SPIs
    dst: str
    inbound: bool
    seq: int

    @property
    def key(self) -> tuple[str, str]:
        return self.spi, self.dst

    def wire(self) -> list[str | int]:
        return [self.spi, self.dst, "in" if self.inbound else "out", self.seq]


def parse_get(text: str) -> list[SaSeq]:
    """The lines of a `get` answer (`SPI DST in|out SEQNO`, then `end`); malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[2] not in ("in", "out") or not parts[3].isdigit():
            continue
        with contextlib.suppress(ValueError):
            int(parts[0], 16)
            out.append(SaSeq(parts[0].lower(), parts[1], parts[2] == "in", int(parts[3])))
    return out


def from_wire(entries: Iterable[list]) -> list[SaSeq]:
    """A table as the SSO channel carries it (validated by :func:`wire_problem`)."""
    return [SaSeq(str(spi), str(dst), direction == "in", int(seq)) for spi, dst, direction, seq in entries]


def wire_problem(value: object) -> str | None:
    """Why a received `replay` table cannot be used (None: it can)."""
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        return f"replay not a list of at most {MAX_ENTRIES} entries"
    for entry in value:
        if not (isinstance(entry, list) and len(entry) == 4):
            return "replay entry not [spi, dst, in|out, seq]"
        spi, dst, direction, seq = entry
        if not (isinstance(spi, str) and len(spi) == 8 and all(c in "0123456789abcdef" for c in spi)):
            return "replay spi not 8 lower-case hex digits"
        if not (isinstance(dst, str) and 0 < len(dst) <= 45 and " " not in dst):
            return "replay dst not an address"
        if direction not in ("in", "out"):
            return "replay direction not in|out"
        if not (isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= MAX_SEQ):
            return "replay seq not an integer in 0..2^32-1"
    return None


@dataclass(frozen=True)
class Intervals:
    """`redundancy replay-interval inbound N outbound M` (packets)."""

    inbound: int
    outbound: int

    def of(self, sa: SaSeq) -> int:
        return self.inbound if sa.inbound else self.outbound


class Sender:
    """The Active's side: which tables to forward, given a snapshot of its SAs every :data:`POLL`."""

    def __init__(self, intervals: Intervals) -> None:
        self.intervals = intervals
        self.sent: dict[tuple[str, str], int] = {}  # key -> seq as last forwarded
        self.last_table: list[SaSeq] = []  # the table as last forwarded (`show crypto ipsec sa`)
        self.last_send: float | None = None
        self.tables_sent = 0

    def reset(self) -> None:
        """Not Active any more: the next Active period starts with a full table."""
        self.sent, self.last_table, self.last_send = {}, [], None

    def observe(self, sas: list[SaSeq], now: float) -> list[SaSeq] | None:
        """The whole table to forward now, or None."""
        current = {sa.key: sa for sa in sas[:MAX_ENTRIES]}  # one datagram: SAs past it stay unsynced (`rekey`)
        moved = any(sa.key not in self.sent or sa.seq < self.sent[sa.key]
                    or sa.seq - self.sent[sa.key] >= self.intervals.of(sa) for sa in current.values())
        gone = bool(set(self.sent) - set(current))
        stale = self.last_send is None or now - self.last_send >= REFRESH
        if not (moved or gone or stale):
            return None
        self.sent = {key: sa.seq for key, sa in current.items()}
        self.last_table = list(current.values())
        self.last_send = now
        self.tables_sent += 1
        return self.last_table

    def summary(self) -> list[list[str | int]]:
        """The table as last forwarded, its first :data:`STATUS_ENTRIES` SAs (the Active's status file)."""
        return [sa.wire() for sa in sorted(self.last_table, key=lambda s: s.key)[:STATUS_ENTRIES]]


def continues_at(sa: SaSeq, outbound_interval: int) -> int:
    """What the synced state of `sa` continues at: outbound one interval ahead, inbound the window top."""
    return sa.seq if sa.inbound else min(MAX_SEQ, sa.seq + outbound_interval)


class Store:
    """The standby's side: the Active's last table, and what to raise locally to continue it."""

    def __init__(self, intervals: Intervals) -> None:
        self.intervals = intervals
        self.table: dict[tuple[str, str], SaSeq] = {}
        self.received: float | None = None
        self.tables_received = 0
        self.raised = 0  # set commands issued

    def on_table(self, sas: list[SaSeq], now: float) -> None:
        self.table = {sa.key: sa for sa in sas}
        self.received = now
        self.tables_received += 1

    def target(self, sa: SaSeq) -> int:
        return continues_at(sa, self.intervals.outbound)

    def raises(self, local: list[SaSeq]) -> list[tuple[SaSeq, int]]:
        """(local SA, value) for every local SA below the target of its synced twin (same SPI, same dst)."""
        out = []
        for sa in local:
            synced = self.table.get(sa.key)
            if synced is not None and synced.inbound == sa.inbound and sa.seq < self.target(synced):
                out.append((sa, self.target(synced)))
        self.raised += len(out)
        return out

    def ready(self, local: list[SaSeq], since: float) -> bool:
        """Whether a takeover here would continue the Active's sequence state: a table heard since `since`
        (this charon's start: an older table may be an interval or more behind) and every SA in it held
        locally (a standby that takes over before would restart those SAs at sequence number 1)."""
        return self.received is not None and self.received >= since and set(self.table) <= {sa.key for sa in local}

    def summary(self) -> Mapping[str, object]:
        """For the status file (`show crypto ha`), rewritten every sidecar tick: the table's first
        :data:`STATUS_ENTRIES` SAs only."""
        table = sorted(self.table.values(), key=lambda s: s.key)[:STATUS_ENTRIES]
        return {"sas": len(self.table), "tables_received": self.tables_received, "raised": self.raised,
                "table": [sa.wire() for sa in table]}


# ---------------------------------------------------------------------------------------------- the socket
def request(lines: list[str], path: str = SOCKET, timeout: float = TIMEOUT) -> str:
    """Send request lines to charon's replay socket; its whole answer (the server answers line by line and
    closes after our end of input)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall("".join(f"{line}\n" for line in lines).encode())
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as e:
        raise ReplayUnavailable(f"{path}: {e.strerror or e}") from None
    return b"".join(chunks).decode(errors="replace")


def get(path: str = SOCKET) -> list[SaSeq]:
    answer = request(["get"], path)
    if not answer.rstrip().endswith("end"):
        raise ReplayUnavailable(f"{path}: incomplete answer to get")
    return parse_get(answer)


def set_many(raises: list[tuple[SaSeq, int]], path: str = SOCKET) -> int:
    """Raise each SA to its value; returns how many charon confirmed."""
    if not raises:
        return 0
    answer = request([f"set {sa.spi} {sa.dst} {value}" for sa, value in raises], path)
    return answer.split().count("ok")

"""Sequenced UDP traffic probe agent: runs inside a lab host (stdlib only).

One agent per end host: it sends to the other host and receives what the other host sends, so two
agents measure both directions. Each datagram carries the run id, a sequence number and the sender's
CLOCK_MONOTONIC send time (the clock is shared by every container of this kernel). Gaps are measured
from receiver-side arrival times and from the holes in the sequence numbers (in send times), never from
ping and never against the controller's clock.

    python3 -m labctl.agent.probe --run R --peer 10.2.0.10 --rate 1000 --duration 30 --out /run/labctl/probe-R.json

The agent writes a small progress file every 100 ms (`OUT.progress`) so a controller can see traffic
resume while the run goes on, and stops early when `OUT.stop` appears.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time
from array import array
from dataclasses import asdict, dataclass, field
from typing import Any

PORT = 47800
OUTAGE_RUN_MS = 100.0  # a run of lost packets this long (send times) is an outage, shorter ones scattered loss
HEADER = struct.Struct("!8sQd")  # run id, sequence number, sender monotonic send time
PAYLOAD_SIZE = 64
MAX_BATCH = 64  # packets sent in one go when the pacer is late; beyond that the schedule slips
MAX_HOLES = 24  # loss runs a report lists (the largest ones)
GRACE = 0.5  # seconds the receiver keeps listening after its own sender stopped (in-flight packets)


@dataclass
class DirectionStats:
    """What one receiver saw of one sender's stream."""

    received: int = 0  # unique sequence numbers
    duplicated: int = 0
    reordered: int = 0  # arrivals below the highest sequence number already seen
    max_seq: int = -1
    missing: int = 0  # holes below max_seq (lost unless they are still in flight)
    first_arrival: float | None = None  # monotonic
    last_arrival: float | None = None
    longest_gap_ms: float = 0.0  # longest time between consecutive arrivals
    gap_start: float | None = None  # monotonic arrival time of the packet before the gap
    gap_end: float | None = None
    gap_from_seq: int | None = None
    gap_to_seq: int | None = None
    mean_latency_ms: float | None = None
    # in the sender's send times (same CLOCK_MONOTONIC as the arrivals: one clock domain, the agents'):
    # the longest run of sequence numbers never received, bounded by the packets received around it
    hole_ms: float = 0.0  # send time of the first packet after the hole - of the last one before it
    hole_from_seq: int | None = None  # last received before the hole
    hole_to_seq: int | None = None  # first received after it
    hole_start: float | None = None  # send time of hole_from_seq
    missing_before_hole: int = 0  # holes below hole_from_seq (every hole when there is no interior one)
    missing_after_hole: int = 0  # holes between hole_to_seq and max_seq
    # of those, the ones in later outages (runs of at least OUTAGE_RUN_MS of send time): a second, shorter
    # blackout (a preempt back, a rekey) is an outage, not the scattered loss of a degraded session
    missing_after_in_outages: int = 0
    first_seq: int | None = None  # lowest sequence number received, and its send time
    first_seq_sent: float | None = None
    last_seq_sent: float | None = None  # send time of max_seq
    # every run of lost sequence numbers as [send time before it, send time after it, packets lost], the
    # MAX_HOLES largest in time order: where the loss fell, to set beside the gateways' events
    holes: list[list[float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(seqs: list[int] | array, arrivals: list[float] | array,
              send_times: list[float] | array | None = None) -> DirectionStats:
    """Statistics of one direction from (sequence, arrival time) pairs in arrival order."""
    stats = DirectionStats()
    seen: set[int] = set()
    previous: float | None = None
    previous_seq: int | None = None
    latency_sum, latency_n = 0.0, 0
    for index, (seq, arrival) in enumerate(zip(seqs, arrivals, strict=True)):
        if seq in seen:
            stats.duplicated += 1
            continue
        seen.add(seq)
        if seq < stats.max_seq:
            stats.reordered += 1
        stats.max_seq = max(stats.max_seq, seq)
        if previous is not None and (arrival - previous) * 1000.0 > stats.longest_gap_ms:
            stats.longest_gap_ms = (arrival - previous) * 1000.0
            stats.gap_start, stats.gap_end = previous, arrival
            stats.gap_from_seq, stats.gap_to_seq = previous_seq, seq
        if stats.first_arrival is None:
            stats.first_arrival = arrival
        previous, previous_seq = arrival, seq
        if send_times is not None:
            latency_sum += arrival - send_times[index]
            latency_n += 1
    stats.received = len(seen)
    stats.last_arrival = previous
    stats.missing = stats.max_seq + 1 - stats.received
    stats.longest_gap_ms = round(stats.longest_gap_ms, 3)
    if latency_n:
        stats.mean_latency_ms = round(latency_sum / latency_n * 1000.0, 3)
    if send_times is not None:
        sequence_holes(stats, seqs, send_times)
    return stats


def sequence_holes(stats: DirectionStats, seqs: list[int] | array, send_times: list[float] | array) -> None:
    """The longest hole in the sequence numbers, measured in send times: packets sent before a fault that
    arrive late cannot shorten it (an arrival gap can), and no receiver clock is involved."""
    sent_at: dict[int, float] = {}
    for seq, when in zip(seqs, send_times, strict=True):
        sent_at.setdefault(seq, when)
    if not sent_at:
        return
    order = sorted(sent_at)
    stats.first_seq, stats.first_seq_sent = order[0], sent_at[order[0]]
    stats.last_seq_sent = sent_at[order[-1]]
    best: tuple[float, int, int] | None = None  # (ms, index before the hole, index after)
    holes: list[list[float]] = []
    for index in range(1, len(order)):
        before, after = order[index - 1], order[index]
        if after > before + 1:
            ms = (sent_at[after] - sent_at[before]) * 1000.0
            holes.append([sent_at[before], sent_at[after], after - before - 1])
            if best is None or ms > best[0]:
                best = (ms, index - 1, index)
    stats.holes = sorted(sorted(holes, key=lambda h: -h[2])[:MAX_HOLES])
    if best is None:
        stats.missing_before_hole = stats.missing
        return
    ms, low, high = best
    stats.hole_ms = round(ms, 3)
    stats.hole_from_seq, stats.hole_to_seq = order[low], order[high]
    stats.hole_start = sent_at[order[low]]
    stats.missing_before_hole = order[low] - low  # seqs 0..from-1, of which `low` were received
    stats.missing_after_hole = (stats.max_seq - order[high]) - (len(order) - 1 - high)
    for index in range(high + 1, len(order)):
        before, after = order[index - 1], order[index]
        if after > before + 1 and (sent_at[after] - sent_at[before]) * 1000.0 >= OUTAGE_RUN_MS:
            stats.missing_after_in_outages += after - before - 1


class Probe:
    """Sender + receiver of one host; results as JSON."""

    def __init__(self, run: str, peer: str, port: int, rate: float, duration: float, out: str | None,
                 start_at: float | None) -> None:
        self.run_id = run.encode()[:8].ljust(8, b"\0")
        self.run, self.peer, self.port, self.rate, self.duration = run, peer, port, rate, duration
        self.out, self.start_at = out, start_at
        self.stop_file = f"{out}.stop" if out else None
        self.stopping = threading.Event()
        self.sent = 0
        self.send_errors = 0
        self.first_send: float | None = None
        self.last_send: float | None = None
        self.seqs: array = array("q")
        self.arrivals: array = array("d")
        self.send_times: array = array("d")
        self.foreign = 0  # datagrams of other runs (ignored)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("0.0.0.0", port))
        self.sock.settimeout(0.1)

    # ---------------------------------------------------------------- receiving
    def receive(self, until: threading.Event) -> None:
        buffer = bytearray(2048)
        view = memoryview(buffer)
        monotonic = time.monotonic
        while not until.is_set():
            try:
                size = self.sock.recv_into(buffer)
            except TimeoutError:
                continue
            except OSError:
                continue  # ICMP errors reported on the socket (peer not listening yet)
            now = monotonic()
            if size < HEADER.size:
                continue
            run_id, seq, sent_at = HEADER.unpack_from(view)
            if run_id != self.run_id:
                self.foreign += 1
                continue
            self.seqs.append(seq)
            self.arrivals.append(now)
            self.send_times.append(sent_at)

    # ---------------------------------------------------------------- sending
    def send(self) -> None:
        """Time-based pacing: every wake-up sends all packets due by now (batched), then sleeps."""
        payload = bytearray(PAYLOAD_SIZE)
        target = (self.peer, self.port)
        interval = 1.0 / self.rate
        start = time.monotonic()
        self.first_send = start
        end = start + self.duration
        seq = 0
        next_check = start
        sendto, pack_into, monotonic = self.sock.sendto, HEADER.pack_into, time.monotonic
        while True:
            now = monotonic()
            if now >= end or self.stopping.is_set():
                break
            if now >= next_check:
                next_check = now + 0.05
                if self.stop_file and stop_due(self.stop_file):
                    break
            due = int((now - start) * self.rate) + 1
            if due - seq > MAX_BATCH:  # we were descheduled: do not burst, let the schedule slip
                start = now - seq * interval
                due = seq + 1
            while seq < due:
                pack_into(payload, 0, self.run_id, seq, monotonic())
                try:
                    sendto(payload, target)
                except OSError:
                    self.send_errors += 1  # no route / unreachable: still a packet the path lost
                seq += 1
            self.last_send = monotonic()
            delay = start + seq * interval - monotonic()
            if delay > 0:
                time.sleep(delay)
        self.sent = seq

    # ---------------------------------------------------------------- run
    def progress(self) -> dict[str, Any]:
        return {"run": self.run, "received": len(self.seqs),
                "last_arrival": self.arrivals[-1] if self.arrivals else None,
                "last_sent_at": self.send_times[-1] if self.send_times else None, "now": time.monotonic()}

    def write_progress(self, done: threading.Event) -> None:
        while not done.wait(0.1):
            if self.out:
                write_json(f"{self.out}.progress", self.progress())

    def execute(self) -> dict[str, Any]:
        if self.start_at is not None:  # both agents start at the same wall-clock instant
            time.sleep(max(0.0, self.start_at - time.time()))
        receiving = threading.Event()
        receiver = threading.Thread(target=self.receive, args=(receiving,), daemon=True)
        done = threading.Event()
        reporter = threading.Thread(target=self.write_progress, args=(done,), daemon=True)
        wall0, mono0 = time.time(), time.monotonic()
        receiver.start()
        reporter.start()
        self.send()
        time.sleep(GRACE)
        receiving.set()
        receiver.join()
        done.set()
        stats = summarize(self.seqs, self.arrivals, self.send_times)
        result = {
            "run": self.run,
            "host": socket.gethostname(),
            "peer": self.peer,
            "rate": self.rate,
            "sent": self.sent,
            "send_errors": self.send_errors,
            "first_send": self.first_send,
            "last_send": self.last_send,
            "foreign": self.foreign,
            "wall_offset": wall0 - mono0,  # wall clock = monotonic + wall_offset
            "received": stats.to_dict(),
        }
        if self.out:
            write_json(self.out, result)
        return result


def stop_due(path: str) -> bool:
    """The stop file exists and its instant (wall clock, when it holds one) has come. Both agents get the
    same instant, so neither keeps sending into a receiver that already stopped (a false tail gap)."""
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError:
        return False
    try:
        return time.time() >= float(text)
    except ValueError:
        return True


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labctl.agent.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run id (up to 8 characters), shared by both agents")
    parser.add_argument("--peer", required=True, help="address of the other host's agent")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--rate", type=float, default=1000.0, help="packets per second to send")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to send (unless stopped)")
    parser.add_argument("--start-at", type=float, help="wall-clock time to start at")
    parser.add_argument("--out", help="write the result JSON here (and OUT.progress while running)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    result = Probe(args.run, args.peer, args.port, args.rate, args.duration, args.out, args.start_at).execute()
    if not args.out:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

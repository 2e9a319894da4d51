"""The traffic probe as the controller drives it: one agent in each end host, both directions at once.

The agents (`labctl/agent/probe.py`, inside the host containers) do the packet work; this module starts
them (through `labctl.nodes.host`), watches their progress files and turns their two reports into one
result per direction (a stream is sent by one agent and received by the other).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from labctl.agent.probe import PORT
from labctl.errors import LabctlError
from labctl.lab import RunningLab
from labctl.model.helpers import host_address, inside_and_remote_hosts
from labctl.nodes import host as agent

DEFAULT_RATE = 1000.0
START_DELAY = 0.6  # seconds between launching the agents and their common start instant
STOP_DELAY = 0.4  # seconds between asking both agents to stop and their common stop instant
# ...plus this many exec times (measured with the lab's clock): both agents must have their instant before it
# comes, also when every exec crosses an SSH connection (a late agent loses the other's first/last packets)
START_EXECS, STOP_EXECS = 4, 2


@dataclass
class DirectionResult:
    """One direction of the probe: what was sent, what arrived, the longest silence, where the loss fell."""

    name: str  # e.g. "inside1->remote1"
    sent: int
    received: int
    lost: int
    duplicated: int
    reordered: int
    longest_gap_ms: float  # the outage: the longer of seq_gap_ms and arrival_gap_ms
    gap_start: float | None  # wall-clock time the gap started (last packet through before it)
    gap_start_mono: float | None
    send_errors: int = 0
    mean_latency_ms: float | None = None
    seq_gap_ms: float | None = None  # sequence numbers sent and never received, in send times (None: old agent)
    arrival_gap_ms: float | None = None  # the receiver's longest silence between arrivals
    lost_before: int = 0  # lost before the outage window (a lossy lab before the fault)
    lost_in_outage: int = 0  # lost inside the outage window
    lost_after: int = 0  # lost after it: a steady loss once traffic flows again
    sent_after: int = 0  # sent after the outage window (the base of the post-outage loss rate)
    # where the loss fell: the largest runs of lost packets, {"at": wall time (controller clock) of the last
    # packet through before the run, "ms": send-time span of the run, "lost": packets}, in time order
    loss_runs: list[dict[str, float]] = field(default_factory=list)

    @property
    def after_loss_percent(self) -> float:
        return 100.0 * self.lost_after / self.sent_after if self.sent_after else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SeqOutage:
    """The longest run of sequence numbers sent and never received, bounded by the packets around it
    (the sender's clock), and how the stream's loss falls before, inside and after it."""

    ms: float
    start: float | None  # sender monotonic send time where it starts
    before: int
    inside: int
    after: int
    sent_after: int


def sequence_outage(sender: dict[str, Any], got: dict[str, Any]) -> SeqOutage | None:
    """Pure: the outage from the sender's sequence numbers and send times (None for an agent that does not
    report its holes). The tail (nothing through until the sender stopped) counts like a hole in the middle;
    the head (nothing through since the start: a receiver that started late) is lost before the outage,
    never the outage: the fault waits until every direction carries traffic (`failover.baseline`), so the
    head ends before it (a two-engine run took an 859 ms head for the outage and judged the takeover's
    718 ms hole as steady loss after it)."""
    if "first_seq" not in got:
        return None
    sent = int(sender["sent"])
    first_send, last_send = sender.get("first_send"), sender.get("last_send")
    if int(got["received"]) == 0:
        ms = (last_send - first_send) * 1000.0 if first_send is not None and last_send is not None else 0.0
        return SeqOutage(ms, first_send, 0, sent, 0, 0)
    if got.get("first_seq") is None:
        return None  # received, but without send times
    max_seq, missing = int(got["max_seq"]), int(got["missing"])
    tail = max(0, sent - 1 - max_seq)
    candidates = []
    if got.get("hole_to_seq") is not None:
        low, high = int(got["hole_from_seq"]), int(got["hole_to_seq"])
        candidates.append(SeqOutage(float(got["hole_ms"]), got.get("hole_start"), int(got["missing_before_hole"]),
                                    high - low - 1, int(got["missing_after_hole"])
                                    - int(got.get("missing_after_in_outages", 0)) + tail, sent - 1 - high))
    if tail and last_send is not None:
        candidates.append(SeqOutage((last_send - float(got["last_seq_sent"])) * 1000.0, got.get("last_seq_sent"),
                                    missing, tail, 0, 0))
    return max(candidates, key=lambda c: c.ms) if candidates else SeqOutage(0.0, None, missing, 0, tail, sent)


def arrival_gap(sender: dict[str, Any], got: dict[str, Any]) -> tuple[float, float | None]:
    """(ms, start in the receiver's clock) of the longest silence between arrivals. A silence that lasts
    until the sender stopped counts from the last arrival to the sender's last send, so an outage at the
    end of a run is not hidden."""
    gap_ms, gap_start = float(got["longest_gap_ms"]), got.get("gap_start")
    last_arrival, last_send = got.get("last_arrival"), sender.get("last_send")
    first_send = sender.get("first_send")
    if last_arrival is None and last_send is not None and first_send is not None:
        return (last_send - first_send) * 1000.0, first_send  # nothing arrived at all
    if last_arrival is not None and last_send is not None and got["max_seq"] + 1 < sender["sent"]:
        tail_ms = (last_send - last_arrival) * 1000.0
        if tail_ms > gap_ms:
            return tail_ms, last_arrival
    return gap_ms, gap_start


def direction(name: str, sender: dict[str, Any], receiver: dict[str, Any]) -> DirectionResult:
    """Join the sender's report and the receiver's statistics of that sender's stream (pure).

    The outage is the longer of two silences measured in the agents' clock (one CLOCK_MONOTONIC, the
    kernel's): the sequence numbers sent and never received (in send times, so packets sent before the
    fault that arrive late cannot shorten it) and the receiver's silence between arrivals (so packets
    delayed rather than lost still count)."""
    got = receiver["received"]
    arrival_ms, arrival_start = arrival_gap(sender, got)
    seq = sequence_outage(sender, got)
    received = int(got["received"])
    lost = max(0, int(sender["sent"]) - received)
    if seq is not None and seq.ms > arrival_ms:
        gap_ms, gap_start, offset = seq.ms, seq.start, float(sender.get("wall_offset") or 0.0)
    else:
        gap_ms, gap_start, offset = arrival_ms, arrival_start, float(receiver.get("wall_offset") or 0.0)
    split = seq or SeqOutage(0.0, None, 0, lost, 0, 0)  # an older agent: no split, loss not judged
    send_offset = float(sender.get("wall_offset") or 0.0)
    runs = [{"at": round(start + send_offset, 3), "ms": round((end - start) * 1000.0, 1), "lost": int(count)}
            for start, end, count in got.get("holes", [])]
    return DirectionResult(
        name=name,
        sent=int(sender["sent"]),
        received=received,
        lost=lost,
        duplicated=int(got["duplicated"]),
        reordered=int(got["reordered"]),
        longest_gap_ms=round(gap_ms, 1),
        gap_start=round(gap_start + offset, 3) if gap_start is not None else None,
        gap_start_mono=gap_start,
        send_errors=int(sender.get("send_errors", 0)),
        mean_latency_ms=got.get("mean_latency_ms"),
        seq_gap_ms=round(seq.ms, 1) if seq is not None else None,
        arrival_gap_ms=round(arrival_ms, 1),
        lost_before=split.before,
        lost_in_outage=split.inside,
        lost_after=split.after,
        sent_after=split.sent_after,
        loss_runs=runs,
    )


@dataclass
class ProbeResult:
    rate: float
    duration_s: float
    directions: list[DirectionResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rate": self.rate, "duration_s": round(self.duration_s, 3),
                "directions": [d.to_dict() for d in self.directions]}


class TrafficProbe:
    """A running probe between the lab's first inside host and first remote host."""

    def __init__(self, lab: RunningLab, rate: float = DEFAULT_RATE, max_duration: float = 120.0, port: int = PORT,
                 endpoints: tuple[tuple[str, str], tuple[str, str]] | None = None) -> None:
        """`endpoints` ((node, address it sends to), (node, address it sends to)) replaces the default pair
        (e.g. an inside host and an Easy VPN client's virtual IP)."""
        topo = lab.topo
        inside, remote = (endpoints[0][0], endpoints[1][0]) if endpoints else inside_and_remote_hosts(topo)
        if not inside or not remote:
            raise LabctlError(f"lab {topo.name} needs a host in {topo.crypto.local_subnets} and one in "
                              f"{topo.crypto.remote_subnets} to probe the tunnel")
        if rate <= 0:
            raise LabctlError("--rate must be positive")
        self.lab, self.rate, self.port = lab, rate, port
        self.max_duration = max_duration
        self.hosts = dict(endpoints) if endpoints else {inside: host_address(topo, remote),
                                                        remote: host_address(topo, inside)}
        self.run = secrets.token_hex(4)
        self.started_at: float | None = None  # wall clock (the controller's)
        self.stopped = False
        self.clock = agent.LabClock()  # the agents' clocks relative to ours, read at start()

    def start(self) -> None:
        """Launch both agents so they start sending at the same instant (told in the lab's wall clock)."""
        self.clock = agent.lab_clock(self.lab.node(next(iter(self.hosts))))
        self.started_at = time.time() + START_DELAY + START_EXECS * self.clock.exec_s
        for host, peer in self.hosts.items():
            agent.start_agent(self.lab.node(host), self.run, peer, self.port, self.rate, self.max_duration,
                              self.clock.to_lab_wall(self.started_at))
        time.sleep(max(0.0, self.started_at - time.time()))

    def progress(self) -> dict[str, dict[str, Any] | None]:
        """Per receiving host: packets received so far and the monotonic time of the last one."""
        return {host: agent.agent_progress(self.lab.node(host), self.run) for host in self.hosts}

    def flowing(self, since: float, fresh: float = 0.3, receivers: list[str] | None = None) -> bool:
        """Both receivers (or the named ones) got packets sent after the controller's monotonic time `since`,
        the latest within `fresh` seconds. The send time matters: packets queued before a fault (a busy
        userspace ESP path) can still arrive after it without anything having converged. `since` is turned
        into the lab's clock once; the comparison is between lab timestamps only (a remote engine's
        CLOCK_MONOTONIC has nothing to do with ours). The conversion errs early by up to the clock read's exec
        time (`LabClock`), so that is added: else the last packets before a fault took effect, sent within that
        error of `since`, passed for the traffic back (seen: a stateless charon crash "converged" at 0.4 s)."""
        return progress_flowing(self.progress(), self.clock.to_lab_mono(since) + self.clock.exec_s, fresh, receivers)

    def stop(self, timeout: float = 10.0) -> ProbeResult:
        """Ask both agents to stop sending at the same instant and collect their reports."""
        stop_at = self.clock.to_lab_wall(time.time() + STOP_DELAY + STOP_EXECS * self.clock.exec_s)
        for host in self.hosts:
            agent.stop_agent(self.lab.node(host), self.run, stop_at)
        self.stopped = True
        reports: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(reports) < len(self.hosts) and time.monotonic() < deadline:
            for host in self.hosts:
                if host not in reports:
                    report = agent.agent_report(self.lab.node(host), self.run)
                    if report is not None:
                        reports[host] = report
            if len(reports) < len(self.hosts):
                time.sleep(0.2)
        missing = [h for h in self.hosts if h not in reports]
        if missing:
            raise LabctlError(f"probe agent on {', '.join(missing)} did not report (run {self.run})")
        for host in self.hosts:
            agent.remove_results(self.lab.node(host), self.run)
        inside, remote = list(self.hosts)
        for report in reports.values():  # gap starts in the controller's wall clock, like the fault instant
            if report.get("wall_offset") is not None:
                report["wall_offset"] = self.clock.to_controller_wall(float(report["wall_offset"]))
        return join_reports(self.rate, inside, remote, reports[inside], reports[remote])


def progress_flowing(progress: dict[str, dict[str, Any] | None], since: float, fresh: float,
                     receivers: list[str] | None = None) -> bool:
    """Pure core of `TrafficProbe.flowing`, from the agents' progress files (all in the agents' clock)."""
    for host, info in progress.items():
        if receivers is not None and host not in receivers:
            continue
        if not info or info.get("last_arrival") is None:
            return False
        sent = info.get("last_sent_at", info["last_arrival"])
        if sent < since or info["last_arrival"] < since or info["now"] - info["last_arrival"] > fresh:
            return False
    return True


def join_reports(rate: float, inside: str, remote: str, inside_report: dict[str, Any],
                 remote_report: dict[str, Any]) -> ProbeResult:
    """Both agents' reports -> one result per direction (pure)."""
    duration = max(0.0, (inside_report.get("last_send") or 0) - (inside_report.get("first_send") or 0))
    return ProbeResult(rate, duration, [
        direction(f"{inside}->{remote}", inside_report, remote_report),
        direction(f"{remote}->{inside}", remote_report, inside_report),
    ])


def run_probe(lab: RunningLab, rate: float = DEFAULT_RATE, duration: float = 5.0) -> ProbeResult:
    """`labctl probe`: a fixed-length run, both directions."""
    if duration <= 0:
        raise LabctlError("--duration must be positive")
    probe = TrafficProbe(lab, rate, max_duration=duration)
    probe.start()
    time.sleep(duration)
    return probe.stop(timeout=duration + 10)

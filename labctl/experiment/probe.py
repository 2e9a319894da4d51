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
from labctl.lab.endpoints import host_address, inside_and_remote_hosts
from labctl.nodes import host as agent

DEFAULT_RATE = 1000.0
START_DELAY = 0.6  # seconds between launching the agents and their common start instant
STOP_DELAY = 0.4  # seconds between asking both agents to stop and their common stop instant


@dataclass
class DirectionResult:
    """One direction of the probe: what was sent, what arrived, the longest silence."""

    name: str  # e.g. "inside1->remote1"
    sent: int
    received: int
    lost: int
    duplicated: int
    reordered: int
    longest_gap_ms: float
    gap_start: float | None  # wall-clock time the gap started (last arrival before it)
    gap_start_mono: float | None
    send_errors: int = 0
    mean_latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def direction(name: str, sender: dict[str, Any], receiver: dict[str, Any]) -> DirectionResult:
    """Join the sender's report and the receiver's statistics of that sender's stream.

    A silence that lasts until the sender stopped (nothing arrived after the fault) counts as a gap from
    the last arrival to the sender's last send, so an outage at the end of a run is not hidden.
    """
    got = receiver["received"]
    gap_ms, gap_start = float(got["longest_gap_ms"]), got.get("gap_start")
    last_arrival, last_send = got.get("last_arrival"), sender.get("last_send")
    first_send = sender.get("first_send")
    if last_arrival is None and last_send is not None and first_send is not None:
        gap_ms, gap_start = (last_send - first_send) * 1000.0, first_send  # nothing arrived at all
    elif last_arrival is not None and last_send is not None and got["max_seq"] + 1 < sender["sent"]:
        tail_ms = (last_send - last_arrival) * 1000.0
        if tail_ms > gap_ms:
            gap_ms, gap_start = tail_ms, last_arrival
    offset = float(receiver.get("wall_offset") or 0.0)
    received = int(got["received"])
    return DirectionResult(
        name=name,
        sent=int(sender["sent"]),
        received=received,
        lost=max(0, int(sender["sent"]) - received),
        duplicated=int(got["duplicated"]),
        reordered=int(got["reordered"]),
        longest_gap_ms=round(gap_ms, 1),
        gap_start=round(gap_start + offset, 3) if gap_start is not None else None,
        gap_start_mono=gap_start,
        send_errors=int(sender.get("send_errors", 0)),
        mean_latency_ms=got.get("mean_latency_ms"),
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
        self.started_at: float | None = None  # wall clock
        self.stopped = False

    def start(self) -> None:
        """Launch both agents so they start sending at the same instant."""
        self.started_at = time.time() + START_DELAY
        for host, peer in self.hosts.items():
            agent.start_agent(self.lab.node(host), self.run, peer, self.port, self.rate, self.max_duration,
                              self.started_at)
        time.sleep(max(0.0, self.started_at - time.time()))

    def progress(self) -> dict[str, dict[str, Any] | None]:
        """Per receiving host: packets received so far and the monotonic time of the last one."""
        return {host: agent.agent_progress(self.lab.node(host), self.run) for host in self.hosts}

    def flowing(self, since: float, fresh: float = 0.3, receivers: list[str] | None = None) -> bool:
        """Both receivers (or the named ones) got packets sent after monotonic time `since`, the latest
        within `fresh` seconds. The send time matters: packets queued before a fault (a busy userspace ESP
        path) can still arrive after it without anything having converged."""
        return progress_flowing(self.progress(), since, fresh, receivers)

    def stop(self, timeout: float = 10.0) -> ProbeResult:
        """Ask both agents to stop sending at the same instant and collect their reports."""
        stop_at = time.time() + STOP_DELAY
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

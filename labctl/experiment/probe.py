"""The traffic probe as the controller drives it: one agent in each end host, both directions at once.

The agents (`labctl/agent/probe.py`, inside the host containers) do the packet work; this module starts
them through `docker exec`, watches their progress files and turns their two reports into one result
per direction (a stream is sent by one agent and received by the other).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import docker

from labctl.agent.probe import PORT
from labctl.errors import LabctlError
from labctl.model.topology import Topology
from labctl.orchestrate import host_address, inside_and_remote_hosts
from labctl.runtime.docker import lab as runtime

DEFAULT_RATE = 1000.0
RESULT_DIR = "/run/labctl"
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

    def __init__(self, client: docker.DockerClient, topo: Topology, rate: float = DEFAULT_RATE,
                 max_duration: float = 120.0, port: int = PORT,
                 endpoints: tuple[tuple[str, str], tuple[str, str]] | None = None) -> None:
        """`endpoints` ((node, address it sends to), (node, address it sends to)) replaces the default pair
        (e.g. an inside host and an Easy VPN client's virtual IP)."""
        inside, remote = (endpoints[0][0], endpoints[1][0]) if endpoints else inside_and_remote_hosts(topo)
        if not inside or not remote:
            raise LabctlError(f"lab {topo.name} needs a host in {topo.crypto.local_subnets} and one in "
                              f"{topo.crypto.remote_subnets} to probe the tunnel")
        if rate <= 0:
            raise LabctlError("--rate must be positive")
        self.client, self.lab, self.rate, self.port = client, topo.name, rate, port
        self.max_duration = max_duration
        self.hosts = dict(endpoints) if endpoints else {inside: host_address(topo, remote),
                                                        remote: host_address(topo, inside)}
        self.run = secrets.token_hex(4)
        self.started_at: float | None = None  # wall clock
        self.stopped = False

    def path(self, suffix: str = "") -> str:
        return f"{RESULT_DIR}/probe-{self.run}.json{suffix}"

    def start(self) -> None:
        """Launch both agents so they start sending at the same instant."""
        self.started_at = time.time() + START_DELAY
        for host, peer in self.hosts.items():
            runtime.exec_in(self.client, self.lab, host, ["mkdir", "-p", RESULT_DIR])
            runtime.exec_detached(self.client, self.lab, host, [
                "python3", "-m", "labctl.agent.probe", "--run", self.run, "--peer", peer, "--port", str(self.port),
                "--rate", str(self.rate), "--duration", str(self.max_duration), "--start-at",
                f"{self.started_at:.6f}", "--out", self.path()])
        time.sleep(max(0.0, self.started_at - time.time()))

    def progress(self) -> dict[str, dict[str, Any] | None]:
        """Per receiving host: packets received so far and the monotonic time of the last one."""
        out: dict[str, dict[str, Any] | None] = {}
        for host in self.hosts:
            code, text = runtime.exec_in(self.client, self.lab, host, ["cat", self.path(".progress")])
            try:
                out[host] = json.loads(text) if code == 0 else None
            except ValueError:
                out[host] = None
        return out

    def flowing(self, since: float, fresh: float = 0.3, receivers: list[str] | None = None) -> bool:
        """Both receivers (or the named ones) got packets sent after monotonic time `since`, the latest
        within `fresh` seconds. The send time matters: packets queued before a fault (a busy userspace ESP
        path) can still arrive after it without anything having converged."""
        for host, info in self.progress().items():
            if receivers is not None and host not in receivers:
                continue
            if not info or info.get("last_arrival") is None:
                return False
            sent = info.get("last_sent_at", info["last_arrival"])
            if sent < since or info["last_arrival"] < since or info["now"] - info["last_arrival"] > fresh:
                return False
        return True

    def stop(self, timeout: float = 10.0) -> ProbeResult:
        """Ask both agents to stop sending at the same instant and collect their reports."""
        stop_at = time.time() + STOP_DELAY
        for host in self.hosts:
            runtime.exec_in(self.client, self.lab, host, ["sh", "-c", f"echo {stop_at:.3f} > {self.path('.stop')}"])
        self.stopped = True
        reports: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(reports) < len(self.hosts) and time.monotonic() < deadline:
            for host in self.hosts:
                if host in reports:
                    continue
                code, text = runtime.exec_in(self.client, self.lab, host, ["cat", self.path()])
                if code == 0:
                    with contextlib.suppress(ValueError):
                        reports[host] = json.loads(text)
            if len(reports) < len(self.hosts):
                time.sleep(0.2)
        missing = [h for h in self.hosts if h not in reports]
        if missing:
            raise LabctlError(f"probe agent on {', '.join(missing)} did not report (run {self.run})")
        for host in self.hosts:
            runtime.exec_in(self.client, self.lab, host, ["sh", "-c", f"rm -f {self.path()}*"])
        inside, remote = list(self.hosts)
        duration = max(0.0, (reports[inside].get("last_send") or 0) - (reports[inside].get("first_send") or 0))
        return ProbeResult(self.rate, duration, [
            direction(f"{inside}->{remote}", reports[inside], reports[remote]),
            direction(f"{remote}->{inside}", reports[remote], reports[inside]),
        ])


def run_probe(client: docker.DockerClient, topo: Topology, rate: float = DEFAULT_RATE,
              duration: float = 5.0) -> ProbeResult:
    """`labctl probe`: a fixed-length run, both directions."""
    if duration <= 0:
        raise LabctlError("--duration must be positive")
    probe = TrafficProbe(client, topo, rate, max_duration=duration)
    probe.start()
    time.sleep(duration)
    return probe.stop(timeout=duration + 10)

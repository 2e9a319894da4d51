"""Events around a fault for the report's timeline: HSRP/redundancy changes from the gateways' sidecar
output (Docker log timestamps) and SA events from the remote peer's charon log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import docker

from labctl.controller.verdict import PEER_LOG
from labctl.model.topology import Topology
from labctl.runtime.docker import lab as runtime

MAX_EVENTS = 60
MARGIN = 1.0  # seconds of events kept before the probe started / after it ended

SIDECAR_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z \d\d:\d\d:\d\d (hsrp|role|redundancy|ha): (.*)$")
CHARON_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) \d+\[\w+\] (?:<[^>]*> )?(.*)$")
# (pattern, short label) for peer log lines worth a marker
SA_EVENTS = (
    (re.compile(r"initiating IKE_SA|initiating (Main|Aggressive) Mode"), "initiating IKE SA"),
    (re.compile(r"IKE_SA \S+ established"), "IKE SA established"),
    (re.compile(r"CHILD_SA \S+ established"), "CHILD SA established"),
    (re.compile(r"closing CHILD_SA"), "CHILD SA closed"),
    (re.compile(r"deleting IKE_SA|IKE_SA deleted"), "IKE SA deleted"),
    (re.compile(r"sending DPD request"), "DPD request"),
    (re.compile(r"giving up after \d+ retransmits"), "retransmits: gave up"),
    (re.compile(r"sequence number verification failed"), "ESP replay drop"),
)


def _docker_time(stamp: str) -> float:
    head, _, frac = stamp.partition(".")
    value = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return value + (float(f"0.{frac}") if frac else 0.0)


def sidecar_events(node: str, text: str, start: float, end: float) -> list[dict[str, Any]]:
    """HSRP state changes, role, redundancy state and ha segment changes of one gateway."""
    events = []
    for line in text.splitlines():
        match = SIDECAR_LINE.match(line.strip())
        if not match:
            continue
        when = _docker_time(match.group(1))
        kind, detail = match.group(2), match.group(3)
        if start <= when <= end:
            label = f"{kind} {detail}" if kind != "hsrp" else re.sub(r"^\S+ ", "", detail)
            events.append({"time": round(when, 3), "node": node, "lane": "hsrp", "kind": kind,
                           "text": re.sub(r"\s*\(.*\)$", "", label)[:80], "detail": detail})
    return events


def charon_events(node: str, text: str, start: float, end: float) -> list[dict[str, Any]]:
    """SA events from a charon log with `%T` + milliseconds times (UTC in the containers); repeated
    replay drops collapse into one marker with a count."""
    midnight = datetime.fromtimestamp(start - MARGIN, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    events: list[dict[str, Any]] = []
    for line in text.splitlines():
        match = CHARON_LINE.match(line)
        if not match:
            continue
        offset = timedelta(hours=int(match.group(1)), minutes=int(match.group(2)), seconds=float(match.group(3)))
        when = (midnight + offset).timestamp()
        if when < start - 12 * 3600:
            when += 86400  # the run crossed midnight
        if not start <= when <= end:
            continue
        message = match.group(4)
        for pattern, label in SA_EVENTS:
            if pattern.search(message):
                last = events[-1] if events else None
                if last and last["text"].startswith(label) and label in ("ESP replay drop", "DPD request"):
                    last["count"] = last.get("count", 1) + 1
                    last["text"] = f"{label} x{last['count']}"
                    break
                events.append({"time": round(when, 3), "node": node, "lane": "sa", "kind": "sa", "text": label,
                               "detail": message[:200]})
                break
    return events


def collect(client: docker.DockerClient, topo: Topology, timeline: dict[str, Any]) -> list[dict[str, Any]]:
    """Every event of the lab between probe start and end (plus a margin), time-ordered."""
    if not timeline.get("probe_start"):
        return []
    start = float(timeline["probe_start"]) - MARGIN
    end = float(timeline.get("probe_end") or timeline["probe_start"]) + MARGIN
    events: list[dict[str, Any]] = []
    for node in topo.ha.nodes:
        events += sidecar_events(node, runtime.node_logs(client, topo.name, node, start - 1, end + 1), start, end)
    for peer in topo.peers:
        code, text = runtime.exec_in(client, topo.name, peer, ["cat", PEER_LOG])
        if code == 0:
            events += charon_events(peer, text, start, end)
    events.sort(key=lambda e: e["time"])
    return events[:MAX_EVENTS]

"""Events around a fault, parsed from text (pure): HSRP/role/redundancy/ha changes from a gateway's sidecar
output (Docker log timestamps in front of the sidecar's own event line, `labctl.sidecar.contract`) and SA
events from a charon log. The failover procedure and the matrix timeline read the text; this only parses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from labctl.sidecar.contract import EVENT_ROLE, EVENT_TIMELINE_KINDS, ROLE_ACTIVE, parse_event

MAX_EVENTS = 60
MARGIN = 1.0  # seconds of events kept before the probe started / after it ended

DOCKER_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z (.*)$")
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

# what a charon log says happened between two instants, as counts (IKE level 1): the peer's and clients' log
LOG_PATTERNS = {
    "new_ike_sa": re.compile(r"IKE_SA_INIT|initiating (Main|Aggressive) Mode|ID_PROT request|AGGRESSIVE request"),
    "child_rekey": re.compile(r"CREATE_CHILD_SA (request|response)|QUICK_MODE (request|response)"),
    "replay_drops": re.compile(r"sequence number verification failed|replay", re.IGNORECASE),
    "dpd": re.compile(r"sending DPD request|DPD"),
    "retransmit_give_up": re.compile(r"giving up after \d+ retransmits"),
}


def count_log_events(text: str) -> dict[str, int]:
    return {name: len(pattern.findall(text)) for name, pattern in LOG_PATTERNS.items()}


def _docker_time(stamp: str) -> float:
    head, _, frac = stamp.partition(".")
    value = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return value + (float(f"0.{frac}") if frac else 0.0)


def sidecar_events(node: str, text: str, start: float, end: float) -> list[dict[str, Any]]:
    """HSRP state changes, role, redundancy state and ha segment changes of one gateway."""
    events = []
    for line in text.splitlines():
        stamped = DOCKER_STAMP.match(line.strip())
        event = parse_event(stamped.group(2)) if stamped else None
        if stamped is None or event is None or event.kind not in EVENT_TIMELINE_KINDS:
            continue
        when = _docker_time(stamped.group(1))
        kind, detail = event.kind, event.detail
        if start <= when <= end:
            label = f"{kind} {detail}" if kind != "hsrp" else re.sub(r"^\S+ ", "", detail)
            events.append({"time": round(when, 3), "node": node, "lane": "hsrp", "kind": kind,
                           "text": re.sub(r"\s*\(.*\)$", "", label)[:80], "detail": detail})
    return events


def became_active(events: list[dict[str, Any]]) -> bool:
    """Among a gateway's sidecar events, a move to the Active role (`role: <old> -> active`)."""
    return any(e["kind"] == EVENT_ROLE and e["detail"].endswith(f"-> {ROLE_ACTIVE}") for e in events)


def window(timeline: dict[str, Any]) -> tuple[float, float] | None:
    """The span a timeline covers (probe start to end, plus a margin); None before a probe ran."""
    if not timeline.get("probe_start"):
        return None
    start = float(timeline["probe_start"]) - MARGIN
    return start, float(timeline.get("probe_end") or timeline["probe_start"]) + MARGIN


def merge(*groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events of several nodes, time-ordered, at most MAX_EVENTS."""
    events = sorted((e for group in groups for e in group), key=lambda e: e["time"])
    return events[:MAX_EVENTS]


def timed_lines(text: str, start: float, end: float, line: re.Pattern[str] = CHARON_LINE) -> list[tuple[float, str]]:
    """(wall time, message) of each log line between `start` and `end` whose `line` pattern gives hours,
    minutes, seconds (UTC in the containers) and the message: charon's `%T` + milliseconds by default."""
    midnight = datetime.fromtimestamp(start - MARGIN, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lines = []
    for text_line in text.splitlines():
        match = line.match(text_line)
        if not match:
            continue
        offset = timedelta(hours=int(match.group(1)), minutes=int(match.group(2)), seconds=float(match.group(3)))
        when = (midnight + offset).timestamp()
        if when < start - 12 * 3600:
            when += 86400  # the run crossed midnight
        if start <= when <= end:
            lines.append((when, match.group(4)))
    return lines


def both_active(events: list[dict[str, Any]], longest: float) -> list[tuple[float, float]]:
    """The spans in which two gateways were Active at once, from their sidecars' role events: from the later
    of two `-> active` (a node without one in `events` was Active before them) until one of the two logged
    leaving it (a preempt: make before break). Only spans whose end was logged count (a killed node never
    logs leaving: no span), each at most `longest` seconds (HSRP settles two Actives within a hold time)."""
    spans = []
    active_since: dict[str, float] = {}  # node -> when it logged becoming Active
    for event in sorted((e for e in events if e["kind"] == EVENT_ROLE), key=lambda e: e["time"]):
        node, when = event["node"], event["time"]
        if event["detail"].endswith(f"-> {ROLE_ACTIVE}"):
            active_since[node] = when
        elif event["detail"].startswith(f"{ROLE_ACTIVE} ->"):
            since = active_since.pop(node, float("-inf"))  # no `-> active` logged: Active since before them
            if active_since:  # another node is Active as this one leaves: both were since the later start
                begin = max(since, *active_since.values())
                spans.append((begin, min(when, begin + longest)))
    return spans


def charon_events(node: str, text: str, start: float, end: float) -> list[dict[str, Any]]:
    """SA events from a charon log with `%T` + milliseconds times (UTC in the containers); repeated
    replay drops collapse into one marker with a count."""
    events: list[dict[str, Any]] = []
    for when, message in timed_lines(text, start, end):
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

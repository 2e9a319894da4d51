"""Replay drops while two gateways were Active. A preempt makes before it breaks: the old Active's last
packets can land after the new Active's first, which continue one replay interval ahead, and the far end (the
site-to-site peer's charon, a vpnc client) drops them as replays. Such drops are lost packets (the probe
counts them), not a break of ESP sequence continuity; any drop outside these moments still is one."""

from __future__ import annotations

import re
from typing import Any

from labctl.experiment import events
from labctl.lab import RunningLab

MARGIN = 0.1  # seconds after the old Active logged leaving in which its last packets may still land


def both_active_spans(lab: RunningLab, since: float) -> list[tuple[float, float]]:
    """When two gateways were Active at once since `since`, from their sidecars' role events (Docker's log
    stamps: the lab's clock, as the far ends' own log times)."""
    gateways = [e for node in lab.topo.ha.nodes
                for e in events.sidecar_events(node, lab.node(node).logs(since=since), since, float("inf"))]
    return events.both_active(gateways, lab.topo.ha.hsrp.hold / 1000)


def drops_within(lines: list[tuple[float, str]], drop: re.Pattern[str], spans: list[tuple[float, float]]) -> int:
    """How many of the timed log lines are replay drops (`drop`) inside a span (or `MARGIN` after it) (pure)."""
    return sum(1 for when, message in lines
               if drop.search(message) and any(begin <= when <= end + MARGIN for begin, end in spans))


def drops_while_both_active(lab: RunningLab, timeline: dict[str, Any], logs: dict[str, str], line: re.Pattern[str],
                            drop: re.Pattern[str]) -> dict[str, int]:
    """Per far end, its replay drops logged while two gateways were Active since the probe started (`logs`:
    its log text, each line's time read by `line`); none without a probe start. The gateways' logs are read
    once for all of them."""
    start = timeline.get("probe_start")
    if not start or not logs:
        return {}
    start -= events.MARGIN
    spans = both_active_spans(lab, start)
    return {name: drops_within(events.timed_lines(text, start, float("inf"), line), drop, spans)
            for name, text in logs.items()}


def split(counts: dict[str, int]) -> tuple[int, int]:
    """(replay drops that break ESP sequence continuity, drops while two gateways were Active) of one far
    end's log counts (`replay_drops`, `replay_drops_both_active`) (pure)."""
    drops = counts.get("replay_drops", 0)
    overlapping = min(drops, counts.get("replay_drops_both_active", 0))
    return drops - overlapping, overlapping

"""The events of a lab around one experiment, for the matrix report's timeline: read from the gateways'
sidecar output and the peers' charon logs, parsed by `events` (pure)."""

from __future__ import annotations

from typing import Any

from labctl.experiment import events
from labctl.lab import RunningLab
from labctl.nodes import charon


def collect(lab: RunningLab, timeline: dict[str, Any]) -> list[dict[str, Any]]:
    """Every event of the lab between probe start and end (plus a margin), time-ordered."""
    span = events.window(timeline)
    if span is None:
        return []
    start, end = span
    found = [events.sidecar_events(node, lab.node(node).logs(start - 1, end + 1), start, end)
             for node in lab.topo.ha.nodes]
    for peer in lab.topo.peers:
        text = charon.log_since(lab.node(peer), 0)
        if text:
            found.append(events.charon_events(peer, text, start, end))
    return events.merge(*found)

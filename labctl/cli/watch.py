"""`labctl watch LAB`: a live view that makes a failover visible as it happens."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import click

from labctl.cli.base import clean_errors, console, main


@main.command()
@click.argument("lab_or_topology")
@click.option("--probe", "probe_rate", type=float, default=None, metavar="PPS",
              help="Also run the traffic probe at PPS both ways and show the current and longest gap.")
@click.option("--interval", default=0.5, show_default=True, help="Seconds between refreshes.")
@clean_errors
def watch(lab_or_topology: str, probe_rate: float | None, interval: float) -> None:
    """Live view of a running lab: HSRP state per group, role and redundancy per gateway, SAs — run
    `labctl fail LAB node-kill` in another terminal and watch the failover happen. Ctrl-C ends it."""
    from rich.live import Live

    from labctl.experiment.probe import TrafficProbe
    from labctl.lab import lab_status, open_running
    from labctl.nodes import gateway
    from labctl.views.watch import frame, probe_line

    lab = open_running(lab_or_topology)
    events: dict[tuple[str, float], dict[str, Any]] = {}
    probe = TrafficProbe(lab, probe_rate, max_duration=24 * 3600) if probe_rate else None
    longest = 0.0

    def render() -> Any:
        nonlocal longest
        status = lab_status(lab.handle)
        for node in lab.topo.ha.nodes:
            for event in (gateway.sidecar_status(lab.node(node)) or {}).get("events", []):
                events[(node, event["time"])] = event | {"node": node}
        line, longest = probe_line(probe.progress() if probe else None, longest)
        return frame(status, line, list(events.values()))

    if probe:
        probe.start()
    try:
        with Live(render(), console=console, refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(render())
    except KeyboardInterrupt:
        pass
    finally:
        if probe is not None and not probe.stopped:
            with contextlib.suppress(Exception):  # the lab may be gone already: nothing to clean up then
                probe.stop()

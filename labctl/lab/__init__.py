"""The facade the CLI and the experiments call (after Kathara's manager): open a running lab by name or
topology, bring one up or down, wait until it is ready, read its status."""

from __future__ import annotations

from labctl.lab.lifecycle import UpResult, connect, resolve_lab, up
from labctl.lab.readiness import wait_ready
from labctl.lab.running import RunningLab, load, open_lab
from labctl.lab.status import lab_status
from labctl.runtime.docker.client import select as select_engine

__all__ = ["RunningLab", "UpResult", "connect", "lab_status", "load", "open_lab", "resolve_lab", "select_engine",
           "up", "wait_ready"]


def open_running(lab_or_topology: str) -> RunningLab:
    """A running lab by its name or the topology file it was started from."""
    return open_lab(connect().lab(resolve_lab(lab_or_topology)))

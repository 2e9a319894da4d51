"""End hosts: the probe agent (`labctl.agent.probe`) is started, read and cleaned up here."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from labctl.runtime import NodeHandle

RESULT_DIR = "/run/labctl"


def result_path(run: str, suffix: str = "") -> str:
    return f"{RESULT_DIR}/probe-{run}.json{suffix}"


def start_agent(node: NodeHandle, run: str, peer: str, port: int, rate: float, duration: float,
                start_at: float) -> None:
    node.exec(["mkdir", "-p", RESULT_DIR])
    node.exec_detached([
        "python3", "-m", "labctl.agent.probe", "--run", run, "--peer", peer, "--port", str(port),
        "--rate", str(rate), "--duration", str(duration), "--start-at", f"{start_at:.6f}",
        "--out", result_path(run)])


@dataclass(frozen=True)
class LabClock:
    """The lab's clocks relative to the controller's: lab time = controller time + offset. The agents stamp
    everything with the engine host's CLOCK_MONOTONIC (and wall clock), which on a remote engine is another
    machine's; the controller converts its instants once, with these, and then compares lab times only."""

    mono: float = 0.0  # lab CLOCK_MONOTONIC - controller time.monotonic()
    wall: float = 0.0  # lab wall clock - controller time.time()
    exec_s: float = 0.0  # how long one exec took (over SSH: tenths of a second), to plan common instants

    def to_lab_mono(self, controller_mono: float) -> float:
        return controller_mono + self.mono

    def to_lab_wall(self, controller_wall: float) -> float:
        return controller_wall + self.wall

    def to_controller_wall(self, lab_wall: float) -> float:
        return lab_wall - self.wall


CLOCK_SCRIPT = "import time; print(repr(time.monotonic()), repr(time.time()))"


def lab_clock(node: NodeHandle) -> LabClock:
    """Read the node's clocks once through exec. The reading happens before the exec returns, so taking
    the controller's time at the return errs by the return path only (milliseconds, even over SSH) and
    always towards an earlier lab instant."""
    mono_before = time.monotonic()
    code, out = node.exec(["python3", "-S", "-c", CLOCK_SCRIPT])
    mono_after, wall_after = time.monotonic(), time.time()
    try:
        lab_mono, lab_wall = (float(word) for word in out.split()[-2:])
    except ValueError:
        return LabClock()  # an odd node: fall back to one clock domain (the local engine's case)
    if code != 0:
        return LabClock()
    return LabClock(lab_mono - mono_after, lab_wall - wall_after, mono_after - mono_before)


def read_json(node: NodeHandle, path: str) -> dict[str, Any] | None:
    code, text = node.exec(["cat", path])
    if code != 0:
        return None
    with contextlib.suppress(ValueError):
        return json.loads(text)
    return None


def agent_progress(node: NodeHandle, run: str) -> dict[str, Any] | None:
    """Packets received so far and the agent's clock at the last one (None before the first write)."""
    return read_json(node, result_path(run, ".progress"))


def agent_report(node: NodeHandle, run: str) -> dict[str, Any] | None:
    return read_json(node, result_path(run))


def stop_agent(node: NodeHandle, run: str, stop_at: float) -> None:
    node.exec(["sh", "-c", f"echo {stop_at:.3f} > {result_path(run, '.stop')}"])


def remove_results(node: NodeHandle, run: str) -> None:
    node.exec(["sh", "-c", f"rm -f {result_path(run)}*"])


def ping(node: NodeHandle, target: str, wait: int = 1) -> bool:
    return node.exec(["ping", "-c1", f"-W{wait}", "-i0.2", target])[0] == 0

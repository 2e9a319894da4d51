"""End hosts: the probe agent (`labctl.agent.probe`) is started, read and cleaned up here."""

from __future__ import annotations

import contextlib
import json
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

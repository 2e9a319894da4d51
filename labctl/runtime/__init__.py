"""The runtime layer: the only code that talks to a container engine (today Docker, `runtime/docker`).

Everything above it holds handles of the shapes below and never imports `docker`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class NodeState:
    """What the engine says about one lab node."""

    name: str
    role: str
    container: str
    status: str
    addresses: dict[str, str]

    @property
    def running(self) -> bool:
        return self.status == "running"


class NodeHandle(Protocol):
    """One node of a lab: run commands in it, signal it, stop/start it, read its output."""

    lab: str
    name: str

    def exec(self, cmd: list[str] | str, timeout: float | None = 15.0) -> tuple[int, str]: ...
    def exec_detached(self, cmd: list[str]) -> None: ...
    def kill(self, signal: str = "SIGKILL") -> None: ...
    def stop(self, timeout: int = 10) -> None: ...
    def start(self) -> None: ...
    def exit_state(self) -> tuple[str, int]: ...
    def logs(self, since: float, until: float | None = None) -> str: ...
    def stream(self, cmd: list[str] | None = None, since: float | None = None,
               follow: bool = False) -> Iterator[bytes]: ...


class LabHandle(Protocol):
    """The engine's objects of one lab, found by label."""

    name: str

    def node(self, name: str) -> NodeHandle: ...
    def states(self) -> list[NodeState]: ...
    def labels(self) -> dict[str, str]: ...

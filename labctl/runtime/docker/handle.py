"""Docker-backed lab and node handles: the one place a container is looked up, exec'd into or signalled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import docker
from docker.errors import NotFound
from docker.models.containers import Container

from labctl.errors import LabctlError
from labctl.runtime import NodeState, labels
from labctl.runtime.spec import container_name, network_name


@dataclass(frozen=True)
class DockerNode:
    """A node by (lab, name); the container is looked up on each call, so a restarted node is found again."""

    client: docker.DockerClient
    lab: str
    name: str

    @property
    def container_name(self) -> str:
        return container_name(self.lab, self.name)

    def container(self) -> Container:
        try:
            return self.client.containers.get(self.container_name)
        except NotFound:
            raise LabctlError(f"lab {self.lab} has no node {self.name} (is the lab up?)") from None

    def exec(self, cmd: list[str] | str, timeout: float | None = 15.0) -> tuple[int, str]:
        """(exit code, combined output). A hung daemon (a stopped charon behind its vici socket) must not
        hang labctl: the command runs under coreutils `timeout` (exit code 124 when it expires)."""
        container = self.container()
        if container.status != "running":
            return 125, f"{self.name} is not running ({container.status})"
        if timeout is not None:
            argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
            cmd = ["timeout", "-k", "1", f"{timeout:g}", *argv]
        result = container.exec_run(cmd, demux=False)
        return result.exit_code, (result.output or b"").decode(errors="replace")

    def exec_detached(self, cmd: list[str]) -> None:
        """Start a command in the running node and return at once (probe agents)."""
        container = self.container()
        if container.status != "running":
            raise LabctlError(f"{self.name} is not running ({container.status})")
        container.exec_run(cmd, detach=True)

    def kill(self, signal: str = "SIGKILL") -> None:
        """A signal to PID 1 (SIGKILL: the node dies at once, like a power cut)."""
        self.container().kill(signal=signal)

    def stop(self, timeout: int = 10) -> None:
        """Graceful stop: SIGTERM to PID 1 (the sidecar resigns from HSRP), SIGKILL after `timeout`."""
        self.container().stop(timeout=timeout)

    def start(self) -> None:
        """Start a stopped/killed node again: same files, same static addresses, its init runs afresh."""
        container = self.container()
        if container.status != "running":
            container.start()

    def exit_state(self) -> tuple[str, int]:
        """(engine status, exit code of the last run)."""
        container = self.container()
        return container.status, int(container.attrs.get("State", {}).get("ExitCode", 0))

    def logs(self, since: float, until: float | None = None) -> str:
        """The container's output (the sidecar's event lines) between two wall-clock instants, each line
        prefixed with Docker's RFC 3339 timestamp; empty when the node is gone."""
        try:
            container = self.client.containers.get(self.container_name)
        except NotFound:
            return ""
        kwargs = {"until": int(until) + 1} if until is not None else {}
        return container.logs(timestamps=True, since=int(since), **kwargs).decode(errors="replace")

    def stream(self, cmd: list[str] | None = None, since: float | None = None, follow: bool = False,
               ) -> Iterator[bytes]:
        """Chunks of a command's output (`cmd`), or of the container's own output when `cmd` is None."""
        container = self.container()
        if cmd is None:
            kwargs = {"since": int(since)} if since is not None else {}
            yield from container.logs(stream=True, follow=follow, timestamps=True, **kwargs)
            return
        if container.status != "running":
            raise LabctlError(f"{self.name} is not running ({container.status})")
        result = container.exec_run(cmd, stream=True, demux=False)
        yield from result.output

    def run(self, cmd: list[str]) -> tuple[int, Iterator[bytes]]:
        """Start `cmd` (no timeout: the user asked for it) and stream its output; the exit code is read
        with `exit_code_of` once the stream ends."""
        container = self.container()
        if container.status != "running":
            raise LabctlError(f"{self.name} is not running ({container.status})")
        exec_id = self.client.api.exec_create(container.id, cmd)["Id"]
        return exec_id, self.client.api.exec_start(exec_id, stream=True)

    def exit_code_of(self, exec_id: str) -> int:
        return int(self.client.api.exec_inspect(exec_id).get("ExitCode") or 0)


@dataclass(frozen=True)
class DockerLab:
    """Every Docker object labelled for one lab."""

    client: docker.DockerClient
    name: str

    def node(self, name: str) -> DockerNode:
        return DockerNode(self.client, self.name, name)

    def containers(self) -> list[Container]:
        return [c for c in self.client.containers.list(all=True, filters=labels.lab_filter(self.name))
                if labels.HELPER not in c.labels]  # a firewall/capture helper is no node

    def states(self) -> list[NodeState]:
        """The lab's nodes as the engine sees them, HA gateways first."""
        states = []
        prefix = network_name(self.name, "")
        for container in self.containers():
            nets = container.attrs.get("NetworkSettings", {}).get("Networks", {})
            states.append(NodeState(
                container.labels.get(labels.NODE, container.name),
                container.labels.get(labels.ROLE, "?"),
                container.name,
                container.status,
                {name.removeprefix(prefix): info.get("IPAddress", "") for name, info in nets.items()},
            ))
        return sorted(states, key=lambda s: (s.role != "ha-gateway", s.role, s.name))

    def labels(self) -> dict[str, str]:
        """The labels `up` put on the lab (any container carries them all); empty when nothing runs."""
        containers = self.containers()
        return dict(containers[0].labels) if containers else {}

"""Connection to the Docker engine (local socket, tcp:// or ssh:// via DOCKER_HOST)."""

from __future__ import annotations

import functools

import docker
from docker.errors import DockerException

from labctl.errors import EnvironmentProblem


@functools.cache
def get_client() -> docker.DockerClient:
    """One client per process; a dead engine is a clean error, not a traceback."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        raise EnvironmentProblem(
            f"the Docker engine is not answering ({exc}); start it (e.g. `dockerd &`) or set DOCKER_HOST"
        ) from None
    return client

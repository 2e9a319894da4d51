"""Shared fixtures for container tests: a real Docker engine, the images, labs that always go down."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from labctl.lab import load, up
from labctl.runtime.docker import images
from labctl.runtime.docker.engine import DockerEngine

ROOT = Path(__file__).resolve().parents[2]


def topology_path() -> Path:
    """The topology under test: the shipped default unless LABCTL_TEST_TOPOLOGY points elsewhere."""
    return Path(os.environ.get("LABCTL_TEST_TOPOLOGY", ROOT / "topologies" / "dual-interface.yaml"))


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have a Docker engine: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    images.ensure_images(client)
    return client


LabFactory = Callable[..., str]


@pytest.fixture(scope="module")
def lab_factory(docker_client: docker.DockerClient) -> Iterator[LabFactory]:
    """`start(path=None, **up_kwargs)` brings a lab up (fresh) and registers it for teardown."""
    started: list[str] = []

    def start(path: Path | None = None, **kwargs: object) -> str:
        path = path or topology_path()
        name = load(path).name
        DockerEngine(docker_client).down(name)
        started.append(name)  # before `up`: a lab that never got ready is removed too
        result = up(path, engine=DockerEngine(docker_client), **kwargs)  # type: ignore[arg-type]
        return result.lab

    yield start
    for name in started:
        DockerEngine(docker_client).down(name)

"""`up` and `down` as a user sees them: validate, build images, render, start, wait until it works."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.lab.readiness import wait_ready
from labctl.lab.running import RunningLab, load
from labctl.model.loader import load_topology
from labctl.model.sabotage import SABOTAGES
from labctl.model.shipped import find_topology, is_topology_ref
from labctl.render import render_lab
from labctl.runtime import labels
from labctl.runtime.docker.engine import DockerEngine

Progress = Callable[[str], None]


def connect(url: str | None = None) -> DockerEngine:
    """The engine labctl talks to: `url`, else --engine / LABCTL_ENGINE / DOCKER_HOST / the Docker context."""
    return DockerEngine.connect(url)


def host_networks(engine: DockerEngine | None = None) -> list[str]:
    """Prefixes routed on the engine's host, except labctl's own bridges (so `up` stays idempotent;
    Docker itself refuses a pool that overlaps another lab). Asked of the engine, which may be remote."""
    return (engine or connect()).host_networks()


@dataclass
class UpResult:
    lab: str
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)


def up(
    path: str | Path,
    sabotage: tuple[str, ...] = (),
    timeout: float = 60.0,
    progress: Progress = lambda _m: None,
    engine: DockerEngine | None = None,
    overrides: dict[str, Any] | None = None,
    creating: AbstractContextManager[Any] | None = None,
) -> UpResult:
    """Bring a topology up and return only when the tunnel passes traffic (or raise naming the stage).

    `timeout` counts from the moment the images are there (building them can take minutes) and beyond the
    topology's own start delay (`standby delay reload`: the seeds wait 2 minutes
    for a first Active). `creating` is held while containers are created and started, the heavy part (the
    matrix keeps other cells' measurements out of it), not while the lab settles."""
    for name in sabotage:
        if name not in SABOTAGES:
            raise LabctlError(f"unknown sabotage {name!r}: choose from {', '.join(SABOTAGES)}")
    started = time.monotonic()
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    load(path, None, overrides)  # a broken topology is refused before any image is built
    engine = engine or connect()
    engine.check_privileges()
    engine.ensure_images(lambda kind, msg: progress(f"image {kind}: {msg}"))
    images_done = time.monotonic()  # the readiness timeout counts from here: a rebuild is no lab failing to start
    topo = load(path, engine.host_networks(), overrides)  # the engine host's routes (the helper needs the image)
    topology_file = str(find_topology(path).resolve())
    key = None
    if topo.ha.sync_key == "auto":  # per lab, never a shared default; a node re-created later gets the same
        key = engine.lab(topo.name).labels().get(labels.SSO_KEY) or secrets.token_hex(16)
    configs = render_lab(topo, topology_file, sabotage, libipsec=not engine.kernel_has_esp(), sso_key=key)
    with creating or contextlib.nullcontext():
        engine.up(topo, configs, topology_file, sabotage, progress, overrides,
                  {labels.SSO_KEY: key} if key else None)
    result = UpResult(topo.name, 0.0)
    result.stages["containers"] = time.monotonic() - started
    deadline = images_done + timeout + topo.first_active_ms / 1000.0
    wait_ready(RunningLab(topo, sabotage, engine.lab(topo.name)), deadline, progress, result.stages, started)
    result.seconds = time.monotonic() - started
    return result


def resolve_lab(lab_or_topology: str) -> str:
    """`down`/`status` accept a lab name or a topology file."""
    if is_topology_ref(lab_or_topology):
        return load_topology(find_topology(lab_or_topology)).name
    return lab_or_topology

"""`up` and `down` as a user sees them: validate, build images, render, start, wait until it works."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from netaddr import IPAddress, IPNetwork

from labctl import labels
from labctl.errors import LabctlError, ReadinessTimeout
from labctl.model.loader import load_topology
from labctl.model.topology import Topology
from labctl.render import SABOTAGES, render_lab
from labctl.runtime.docker import images
from labctl.runtime.docker import lab as runtime
from labctl.status import node_sas, sidecar_status

Progress = Callable[[str], None]


def host_networks() -> list[str]:
    """Prefixes routed on this host, except labctl's own bridges (so `up` stays idempotent;
    Docker itself refuses a pool that overlaps another lab)."""
    try:
        routes = json.loads(subprocess.run(["ip", "-j", "-4", "route"], capture_output=True, text=True).stdout)
    except (OSError, ValueError):
        return []
    return [
        r["dst"]
        for r in routes
        if r.get("dst") not in (None, "default") and not str(r.get("dev", "")).startswith(runtime.BRIDGE_PREFIX)
    ]


def load(path: str | Path, check_host: bool = True, overrides: dict[str, Any] | None = None) -> Topology:
    topo = load_topology(path, host_networks() if check_host else None)
    return topo.with_overrides(overrides) if overrides else topo


def load_running(client: docker.DockerClient, lab: str) -> tuple[Topology, tuple[str, ...]]:
    """The effective topology of a running lab (file + `up` overrides, from its labels) and its sabotage."""
    containers = runtime.lab_containers(client, lab)
    if not containers:
        raise LabctlError(f"no lab named {lab} is running (`labctl status` lists labs)")
    lab_labels = containers[0].labels
    overrides = json.loads(lab_labels.get(labels.OVERRIDES) or "{}")
    sabotage = tuple(s for s in lab_labels.get(labels.SABOTAGE, "").split(",") if s)
    return load(lab_labels[labels.TOPOLOGY], check_host=False, overrides=overrides), sabotage


def kernel_has_esp() -> bool:
    """Kernel ESP/XFRM present? Without it charon uses kernel-libipsec (userspace ESP over TUN)."""
    try:
        config = Path(f"/boot/config-{subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()}")
        if config.exists():
            return "CONFIG_INET_ESP=y" in config.read_text() or "CONFIG_INET_ESP=m" in config.read_text()
        return Path("/proc/net/xfrm_stat").exists() and Path("/sys/module/esp4").exists()
    except OSError:
        return False


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
    client: docker.DockerClient | None = None,
    overrides: dict[str, Any] | None = None,
) -> UpResult:
    """Bring a topology up and return only when the tunnel passes traffic (or raise naming the stage)."""
    for name in sabotage:
        if name not in SABOTAGES:
            raise LabctlError(f"unknown sabotage {name!r}: choose from {', '.join(SABOTAGES)}")
    started = time.monotonic()
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    topo = load(path, overrides=overrides)
    client = client or runtime_client()
    images.ensure_images(client, progress=lambda kind, msg: progress(f"image {kind}: {msg}"))
    configs = render_lab(topo, str(Path(path).resolve()), sabotage, libipsec=not kernel_has_esp())
    runtime.up(client, topo, configs, str(Path(path).resolve()), sabotage, progress, overrides)
    result = UpResult(topo.name, 0.0)
    result.stages["containers"] = time.monotonic() - started
    wait_ready(client, topo, started + timeout, progress, result.stages, started)
    result.seconds = time.monotonic() - started
    return result


def runtime_client() -> docker.DockerClient:
    from labctl.runtime.docker.client import get_client

    return get_client()


def inside_and_remote_hosts(topo: Topology) -> tuple[str | None, str | None]:
    """First host behind the HA pair and first host behind the remote peer (probe endpoints)."""

    def host_in(subnets: list) -> str | None:
        for name, host in topo.hosts.items():
            ip = IPAddress(str(next(iter(host.addresses.values()))))
            if any(ip in IPNetwork(str(s)) for s in subnets):
                return name
        return None

    return host_in(topo.crypto.local_subnets), host_in(topo.crypto.remote_subnets)


def host_address(topo: Topology, host: str) -> str:
    return str(next(iter(topo.hosts[host].addresses.values())))


def active_gateway(client: docker.DockerClient, topo: Topology) -> str | None:
    for node in topo.ha.nodes:
        status = sidecar_status(client, topo.name, node)
        if status and status.get("role") == "active":
            return node
    return None


def gateway_log_tails(client: docker.DockerClient, topo: Topology, lines: int = 8) -> str:
    """The gateways' last sidecar events, for a readiness timeout to say what the HA pair was doing."""
    out = []
    for node in topo.ha.nodes:
        try:
            text = runtime.node_logs(client, topo.name, node, since=time.time() - 120)
        except docker.errors.DockerException:
            continue
        events = [line.split(" ", 1)[-1] for line in text.splitlines()
                  if any(f" {kind}: " in line for kind in ("hsrp", "role", "redundancy", "sso", "charon", "ha"))]
        out += [f"\n  {node}: {event}" for event in events[-lines:]]
    return "".join(out)


def wait_ready(
    client: docker.DockerClient,
    topo: Topology,
    deadline: float,
    progress: Progress,
    stages: dict[str, float],
    started: float,
) -> None:
    """Readiness in stages; a timeout names the stage that never completed."""
    lab = topo.name
    strong_nodes = [*topo.ha.nodes, *topo.peers]
    inside, remote = inside_and_remote_hosts(topo)

    def until(stage: str, check: Callable[[], bool], interval: float = 0.05) -> None:
        progress(f"waiting: {stage}")
        while not check():
            if time.monotonic() > deadline:
                waited = time.monotonic() - started
                raise ReadinessTimeout(f"lab {lab} did not get ready: {stage} (after {waited:.1f}s)"
                                       + gateway_log_tails(client, topo))
            time.sleep(interval)
        stages[stage] = time.monotonic() - started
        progress(f"ready: {stage} ({stages[stage]:.2f}s)")

    until("charon answering on " + ", ".join(strong_nodes),
          lambda: all(runtime.exec_in(client, lab, n, ["swanctl", "--stats"], timeout=3)[0] == 0 for n in strong_nodes))
    until("an HSRP Active gateway", lambda: active_gateway(client, topo) is not None)
    if topo.easyvpn:
        from labctl.easyvpn import wait_clients

        wait_clients(client, topo, until)
    if inside and remote:
        target = host_address(topo, remote)
        until(f"ping {inside} -> {remote} ({target}) through the tunnel",
              lambda: runtime.exec_in(client, lab, inside, ["ping", "-c1", "-W1", "-i0.2", target])[0] == 0,
              interval=0.0)

    def ike_up() -> bool:
        active = active_gateway(client, topo)
        nodes = [*topo.peers, active] if active else []
        return bool(nodes) and all(
            any(sa["state"] == "ESTABLISHED" and sa["child_sas"] for sa in node_sas(client, lab, n)) for n in nodes
        )

    until("IKE SA established on the peer and the active gateway", ike_up)
    if topo.redundancy == "stateful":
        def standby_hot() -> bool:
            statuses = [sidecar_status(client, lab, n) or {} for n in topo.ha.nodes]
            if not any(s.get("ha_plugin") for s in statuses):
                return True  # `--sabotage no-sync`: nothing is synced, nothing to wait for
            return any(s.get("redundancy") == "STANDBY HOT" for s in statuses)

        until("standby gateway STANDBY HOT (IKE/IPsec state synced)", standby_hot)


def resolve_lab(client: docker.DockerClient, lab_or_topology: str) -> str:
    """`down`/`status` accept a lab name or a topology file."""
    path = Path(lab_or_topology)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_topology(path).name
    return lab_or_topology

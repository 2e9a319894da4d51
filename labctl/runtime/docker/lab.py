"""Create and remove a lab's Docker objects; everything is labelled and found again by label."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.models.networks import Network
from netaddr import IPNetwork

from labctl.errors import LabctlError
from labctl.model.topology import Topology
from labctl.runtime import NodeState, labels
from labctl.runtime.docker import firewall, helper
from labctl.runtime.docker.client import engine_scope
from labctl.runtime.docker.handle import DockerLab
from labctl.runtime.spec import (
    CAPABILITIES,
    CPU_SHARES,
    DEVICES,
    IMAGE_KIND_FOR_ROLE,
    RUN_TMPFS,
    SYSCTLS,
    NodeConfig,
    bridge_name,
    container_name,
    file_mode,
    network_name,
)

Progress = Callable[[str], None]

def _tar(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), file_mode(path), time.time()
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ensure_network(client: docker.DockerClient, topo: Topology, name: str) -> Network:
    """An internal bridge per lab network, gateway moved to .254 so VIPs can use low addresses."""
    existing = client.networks.list(filters={"label": [f"{labels.LAB}={topo.name}", f"{labels.NETWORK}={name}"]})
    if existing:
        return existing[0]
    subnet = IPNetwork(str(topo.networks[name].subnet))
    ipam = docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=str(subnet), gateway=str(subnet.broadcast - 1))]
    )
    try:
        return client.networks.create(
            network_name(topo.name, name),
            driver="bridge",
            internal=True,
            ipam=ipam,
            options={"com.docker.network.bridge.name": bridge_name(topo.name, name, engine_scope(client))},
            labels={labels.LAB: topo.name, labels.NETWORK: name},
        )
    except APIError as exc:
        hint = ""
        if "overlaps" in str(exc.explanation):
            users = [n.name for n in client.networks.list()
                     if any(IPNetwork(c["Subnet"]) == subnet or subnet in IPNetwork(c["Subnet"])
                            or IPNetwork(c["Subnet"]) in subnet
                            for c in ((n.attrs.get("IPAM") or {}).get("Config") or []) if c.get("Subnet"))]
            if users:
                hint = (f" — {subnet} is used by {', '.join(users)} (a labctl network left after `down` holds a "
                        "stale endpoint on Docker 20.10: restarting dockerd releases it)")
        raise LabctlError(f"cannot create network {name} ({subnet}) for lab {topo.name}: {exc.explanation}"
                          f"{hint}") from None


def create_node(
    client: docker.DockerClient,
    topo: Topology,
    config: NodeConfig,
    networks: dict[str, Network],
    topology_file: str,
    sabotage: tuple[str, ...] = (),
    overrides: dict[str, object] | None = None,
    extra_labels: dict[str, str] | None = None,
    images: dict[str, str] | None = None,
) -> Container:
    """Create, configure and start one node (from images[kind], the checkout's content-tagged image); an
    existing running node of the same lab is kept."""
    name = container_name(topo.name, config.name)
    try:
        container = client.containers.get(name)
        if container.labels.get(labels.LAB) != topo.name:
            raise LabctlError(f"container {name} exists but is not part of lab {topo.name}; remove it first")
        if container.status == "running":
            return container
        container.remove(force=True)
    except NotFound:
        pass
    addresses = {net: str(ip) for net, ip in topo.addresses_of(config.name).items()}
    first, *rest = addresses.items()
    endpoint = client.api.create_endpoint_config(ipv4_address=first[1])
    kind = IMAGE_KIND_FOR_ROLE[config.role]
    container_id = client.api.create_container(
        (images or {}).get(kind) or f"labctl/{kind}:latest",
        command=config.command,
        name=name,
        hostname=config.name,
        labels={
            labels.LAB: topo.name,
            labels.NODE: config.name,
            labels.ROLE: config.role,
            labels.TOPOLOGY: topology_file,
            labels.SABOTAGE: ",".join(sabotage),
            labels.OVERRIDES: json.dumps(overrides or {}, sort_keys=True),
            labels.EFFECTIVE_TOPOLOGY: topo.model_dump_json(),
            **(extra_labels or {}),
        },
        networking_config=client.api.create_networking_config({networks[first[0]].name: endpoint}),
        host_config=client.api.create_host_config(
            cap_add=[*CAPABILITIES, *config.capabilities],
            devices=list(DEVICES),
            sysctls=dict(SYSCTLS),
            network_mode=networks[first[0]].name,
            init=False,
            cpu_shares=CPU_SHARES.get(config.role),
            tmpfs=RUN_TMPFS.get(config.role),
        ),
    )["Id"]
    for network, address in rest:
        client.api.connect_container_to_network(container_id, networks[network].id, ipv4_address=address)
    client.api.put_archive(container_id, "/", _tar(config.files))
    client.api.start(container_id)
    return client.containers.get(container_id)


def up(
    client: docker.DockerClient,
    topo: Topology,
    configs: dict[str, NodeConfig],
    topology_file: str,
    sabotage: tuple[str, ...] = (),
    progress: Progress = lambda _msg: None,
    overrides: dict[str, object] | None = None,
    extra_labels: dict[str, str] | None = None,
    images: dict[str, str] | None = None,
) -> None:
    """Networks, firewall rules, then all containers in parallel (idempotent)."""
    networks = {name: ensure_network(client, topo, name) for name in topo.networks}
    progress(f"{len(networks)} networks ready")
    bridges = [bridge_name(topo.name, name, engine_scope(client)) for name in topo.networks]
    if firewall.allow_bridges(client, topo.name, bridges):
        progress("firewall rules on the engine's host ready")
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {
            node: pool.submit(create_node, client, topo, config, networks, topology_file, sabotage, overrides,
                              extra_labels, images)
            for node, config in configs.items()
        }
        for node, future in futures.items():
            future.result()
            progress(f"node {node} started")


def lab_containers(client: docker.DockerClient, lab: str | None = None) -> list[Container]:
    return client.containers.list(all=True, filters=labels.lab_filter(lab))


def node_states(client: docker.DockerClient, lab: str) -> list[NodeState]:
    return DockerLab(client, lab).states()


def list_labs(client: docker.DockerClient) -> dict[str, dict[str, object]]:
    """Every lab that has a container or network on this engine: its topology file and node count."""
    labs: dict[str, dict[str, object]] = {}
    for container in lab_containers(client):
        if labels.HELPER in container.labels:
            continue
        lab = container.labels[labels.LAB]
        info = labs.setdefault(lab, {"topology": container.labels.get(labels.TOPOLOGY, ""), "nodes": 0})
        info["nodes"] = int(info["nodes"]) + 1  # type: ignore[call-overload]
    for network in client.networks.list(filters=labels.lab_filter()):
        labs.setdefault(network.attrs["Labels"][labels.LAB], {"topology": "", "nodes": 0})
    return labs


def down(client: docker.DockerClient, lab: str, progress: Progress = lambda _msg: None) -> dict[str, int]:
    """Remove everything labelled for `lab`: containers, networks, host firewall rules."""
    containers = [c for c in lab_containers(client, lab) if labels.HELPER not in c.labels]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda c: _remove_container(c), containers))
    progress(f"{len(containers)} containers removed")
    networks = client.networks.list(filters=labels.lab_filter(lab))
    stuck = [network.name for network in networks if not _remove_network(network)]
    progress(f"{len(networks) - len(stuck)} networks removed")
    if stuck:  # Docker 20.10 can keep a stale endpoint of a removed container: harmless, `up` reuses the network
        progress(f"left in place (Docker still counts an endpoint of a removed container): {', '.join(stuck)}")
    rules = firewall.remove_lab_rules(client, lab)
    helper.remove_helpers(client, lab)
    return {"containers": len(containers), "networks": len(networks) - len(stuck), "firewall_rules": rules,
            "networks_left": len(stuck)}


def _remove_network(network: Network, attempts: int = 30) -> bool:
    """Docker can hold a just-removed container's endpoint for a moment ("has active endpoints"): retry briefly;
    False if it never lets go."""
    for attempt in range(attempts):
        try:
            network.remove()
            return True
        except NotFound:
            return True
        except APIError as exc:
            if "active endpoints" not in str(exc):
                raise
            if attempt < attempts - 1:
                time.sleep(0.1)
    return False


def _remove_container(container: Container) -> None:
    with contextlib.suppress(NotFound):
        container.remove(force=True)

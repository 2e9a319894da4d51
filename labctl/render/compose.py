"""`labctl render TOPOLOGY --compose`: the lab as one docker-compose file, for people without labctl.

Same containers (names, labels, addresses, capabilities, sysctls), same internal networks (names, bridge
names, labels, gateway on .254) as `labctl up`, so `labctl status/failover/down LAB` work on a compose lab.
Each node's rendered files are written by its entrypoint from here-documents, so the one file is all
compose needs. ESP always runs in userspace (kernel-libipsec): it works on every kernel.

Docker drops routed traffic on internal bridges (see runtime/docker/firewall.py). A `firewall` service on
the host network inserts the same per-bridge DOCKER-USER ACCEPT rules `labctl up` adds (tagged with the lab
label: `labctl down` removes them too) and deletes them when it is stopped (`docker-compose down`). The
rules only let a lab bridge forward to itself: nothing is published, nothing leaves the lab.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from netaddr import IPNetwork

from labctl.model.helpers import host_address, inside_and_remote_hosts
from labctl.model.topology import Topology
from labctl.render import render_lab
from labctl.runtime import labels
from labctl.runtime.spec import (
    CAPABILITIES,
    CPU_SHARES,
    DEVICES,
    IMAGE_FOR_ROLE,
    RUN_TMPFS,
    SYSCTLS,
    bridge_name,
    container_name,
    file_mode,
    network_name,
)
from labctl.runtime.spec import (
    FIREWALL_CHAIN as CHAIN,
)

HEREDOC = "LABCTL_EOF"
# The compose file is committed and shared: it carries no secret. The PSK and the SSO key come from the
# environment (`.env` beside it, written by `make demo-env`, not committed); compose refuses to start without.
SECRETS = {"LABCTLPSKFROMENVIRONMENT": "LABCTL_PSK", "LABCTLSSOKEYFROMENVIRONMENT": "LABCTL_SSO_KEY"}
PSK_SENTINEL, SSO_SENTINEL = SECRETS


def _escape(text: str) -> str:
    """Compose interpolates `$VAR`; `$$` is a literal dollar."""
    return text.replace("$", "$$")


def _write_files_script(files: dict[str, str], command: list[str]) -> str:
    lines = ["set -e"]
    for path, text in files.items():
        if HEREDOC in text:
            raise ValueError(f"{path} contains the here-document marker {HEREDOC}")
        directory = path.rsplit("/", 1)[0] or "/"
        mode = f"{file_mode(path):o}"
        lines += [f"mkdir -p {directory}", f"cat > {path} <<'{HEREDOC}'", text.rstrip("\n"), HEREDOC,
                  f"chmod {mode} {path}"]
    lines.append("exec " + " ".join(command))
    return "\n".join(lines) + "\n"


def firewall_script(lab: str, bridges: list[str]) -> str:
    """Insert the lab's DOCKER-USER rules on the host, remove them on stop (idempotent both ways)."""
    rule = f'DOCKER-USER -i "$$br" -o "$$br" -m comment --comment {labels.LAB}={lab} -j ACCEPT'
    return "\n".join([
        "set -u",
        "ipt=iptables",
        f"$$ipt -w -S {CHAIN} >/dev/null 2>&1 || ipt=iptables-legacy  # the host's backend",
        f"bridges='{' '.join(bridges)}'",
        "for br in $$bridges; do",
        f"  $$ipt -w -C {rule} 2>/dev/null || $$ipt -w -I {rule}",
        "done",
        f'echo "lab {lab}: routed traffic allowed within bridges $$bridges ($$ipt)"',
        "cleanup() {",
        "  for br in $$bridges; do",
        f"    while $$ipt -w -D {rule} 2>/dev/null; do :; done",
        "  done",
        f'  echo "lab {lab}: firewall rules removed"; exit 0',
        "}",
        "trap cleanup TERM INT",
        "while :; do sleep 3600 & wait $$!; done",
    ]) + "\n"


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_compose(topo: Topology, topology_label: str, sabotage: tuple[str, ...] = ()) -> str:
    """The compose file text for `topo`; `topology_label` is what `labctl.topology` records (a path)."""
    lab = topo.name
    if topo.crypto.psk:
        topo = topo.model_copy(update={"crypto": topo.crypto.model_copy(update={"psk": PSK_SENTINEL})})
    configs = render_lab(topo, topology_label, sabotage, libipsec=True, sso_key=SSO_SENTINEL)
    networks: dict[str, Any] = {}
    for name, net in topo.networks.items():
        subnet = IPNetwork(str(net.subnet))
        networks[name] = {
            "name": network_name(lab, name),
            "driver": "bridge",
            "internal": True,
            "driver_opts": {"com.docker.network.bridge.name": bridge_name(lab, name)},
            "labels": {labels.LAB: lab, labels.NETWORK: name},
            "ipam": {"config": [{"subnet": str(subnet), "gateway": str(subnet.broadcast - 1)}]},
        }
    services: dict[str, Any] = {
        "firewall": {
            "image": IMAGE_FOR_ROLE["ha-gateway"],
            "container_name": container_name(lab, "firewall"),
            "network_mode": "host",
            "cap_add": list(CAPABILITIES),
            "labels": {labels.LAB: lab, labels.NODE: "firewall", labels.ROLE: "firewall",
                       labels.TOPOLOGY: topology_label, labels.SABOTAGE: ",".join(sabotage),
                       labels.OVERRIDES: json.dumps({})},
            "stop_grace_period": "5s",
            "entrypoint": ["/bin/sh", "-c", firewall_script(lab, [bridge_name(lab, n) for n in topo.networks])],
        }
    }
    for node, config in configs.items():
        services[node] = {
            "image": IMAGE_FOR_ROLE[config.role],
            "container_name": container_name(lab, node),
            "hostname": node,
            "depends_on": ["firewall"],
            "labels": {labels.LAB: lab, labels.NODE: node, labels.ROLE: config.role,
                       labels.TOPOLOGY: topology_label, labels.SABOTAGE: ",".join(sabotage),
                       labels.OVERRIDES: json.dumps({})},
            "cap_add": list(CAPABILITIES),
            "devices": [d.removesuffix(":rwm") for d in DEVICES],
            "sysctls": dict(SYSCTLS),
            "stop_grace_period": "3s",
            "networks": {net: {"ipv4_address": str(ip)} for net, ip in topo.addresses_of(node).items()},
            "entrypoint": ["/bin/sh", "-c", _escape(_write_files_script(config.files, config.command))],
        }
        if config.role in CPU_SHARES:
            services[node]["cpu_shares"] = CPU_SHARES[config.role]
        if config.role in RUN_TMPFS:
            services[node]["tmpfs"] = [f"{path}:{options}" for path, options in RUN_TMPFS[config.role].items()]
    header = (f"# Lab {lab}: {topo.description or 'labctl lab'}\n"
              f"# Generated by `labctl render {topology_label} --compose` -- do not edit, re-generate.\n"
              "# Needs the images labctl/node and labctl/host: `make images` (or `labctl images build`) once.\n"
              "# Secrets (PSK, SSO key) come from .env beside this file: `make demo-env` writes one (not committed).\n"
              "# Start: docker-compose up -d   (or: docker compose up -d)   Stop and remove: docker-compose down\n"
              f"# Look: docker exec {container_name(lab, next(iter(topo.hosts), 'host'))} ping "
              f"{_remote_host_address(topo)}   (or `labctl status {lab}` / `labctl watch {lab}`)\n"
              "# The `firewall` service adds (and on stop removes) one DOCKER-USER rule per lab bridge so routed\n"
              "# lab traffic can cross Docker's internal networks; nothing is published, nothing leaves the lab.\n")
    body = yaml.dump({"version": "2.4", "services": services, "networks": networks}, Dumper=_Dumper,
                     sort_keys=False, width=1000, default_flow_style=False)
    for sentinel, variable in SECRETS.items():
        body = body.replace(sentinel, f"${{{variable}:?set {variable} (make demo-env writes .env)}}")
    return header + body


def _remote_host_address(topo: Topology) -> str:
    _, remote = inside_and_remote_hosts(topo)
    return host_address(topo, remote) if remote else "REMOTE"

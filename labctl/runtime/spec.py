"""How a lab node is realised as a container, defined once: names, images, capabilities, sysctls.

Pure (no Docker import): the Docker runtime and the compose renderer both build from these, so `up` and
`docker-compose up` make the same containers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

IMAGE_KIND_FOR_ROLE = {"ha-gateway": "node", "peer": "node", "host": "host", "client": "node", "radius": "node",
                       "router": "node", "vpnc": "host"}  # vpnc: an Easy VPN client running vpnc (host image)
# the moving tags (docker-compose files); `up` runs the content-tagged image of its own checkout instead
IMAGE_FOR_ROLE = {role: f"labctl/{kind}:latest" for role, kind in IMAGE_KIND_FOR_ROLE.items()}
# Easy VPN clients stand for remote machines but share this host's CPU: a small CPU weight lets the lab's
# routers (HSRP hellos every 200 ms) win when a hundred clients negotiate at once. Others keep Docker's 1024.
CPU_SHARES = {"client": 16, "vpnc": 16}
# A gateway is the node faults kill and restart: its /run in RAM, as a router's is, so each start begins empty.
# On the container's overlay a restarted node found sockets of its previous life it could not remove
# (`NotADirectoryError` unlinking /var/run/charon.vici): charon then failed to bind vici and never loaded its
# configuration (`charon answering` timed out after a node kill, seen in CI and under load here).
RUN_TMPFS = {"ha-gateway": {"/run": "mode=0755"}}
CAPABILITIES = ("NET_ADMIN", "NET_RAW")  # every node routes, captures or moves addresses
DEVICES = ("/dev/net/tun:/dev/net/tun:rwm",)  # kernel-libipsec's userspace ESP needs a TUN device
SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    # a node holding a host's address for a host-to-host crypto ACL (`host_sources`) still has to route that
    # host's packets and answer its ARP: both carry a source address that is also local here
    "net.ipv4.conf.all.accept_local": "1",
    "net.ipv6.conf.all.disable_ipv6": "1",
}
BRIDGE_PREFIX = "lc"
FIREWALL_CHAIN = "DOCKER-USER"  # the host chain where per-bridge ACCEPT rules go (Docker evaluates it first)


@dataclass
class NodeConfig:
    """Everything one container needs: its files (path inside the container -> text) and command."""

    name: str
    role: str
    files: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)  # beyond NET_ADMIN/NET_RAW (FRR needs SYS_ADMIN)


# files that hold a PSK, a password or the SSO key are readable by their owner only (the daemons run as root;
# FreeRADIUS's init script hands its two to the freerad group)
SECRET_FILES = ("swanctl.conf", "strongswan.conf", "sidecar.json", "clients.conf", "authorize", "easyvpn.conf")
# a vpnc client: where its restart loop keeps vpnc's output (and its own start/exit lines), vpnc's pid, its tun
VPNC_LOG = "/var/log/vpnc.log"
VPNC_PID = "/run/labctl-vpnc.pid"
VPNC_IFNAME = "tun0"
VPNC_GO = "/run/labctl-vpnc-go"  # the loop's first start waits for this file (`up` creates it once the pair is HOT)


def file_mode(path: str) -> int:
    if path.endswith(".sh"):
        return 0o755
    return 0o600 if path.rsplit("/", 1)[-1] in SECRET_FILES else 0o644


def container_name(lab: str, node: str) -> str:
    return f"labctl-{lab}-{node}"


def network_name(lab: str, network: str) -> str:
    return f"labctl-{lab}-{network}"


def bridge_name(lab: str, network: str, scope: str = "") -> str:
    """Linux bridge names are limited to 15 characters: a stable hash keeps them unique per lab. `scope`: the
    engine's (`engine_scope`): two engines on one host (a second dockerd) running the same lab must not join
    each other's bridges (the compose demo, on the local engine only, goes without)."""
    key = f"{lab}/{network}" + (f"@{scope}" if scope else "")
    return BRIDGE_PREFIX + hashlib.sha1(key.encode()).hexdigest()[:11]

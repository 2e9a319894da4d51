"""Render a topology into the files each node runs with (Jinja2 templates in `templates/`).

The output is plain text an engineer can read: `labctl render TOPOLOGY --out DIR` writes exactly what
`labctl up` puts into the containers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from netaddr import IPNetwork

from labctl.model.topology import Topology

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
SABOTAGES = ("no-sync", "no-rekey", "no-rri")


@dataclass
class NodeConfig:
    """Everything one container needs: its files (path inside the container -> text) and command."""

    name: str
    role: str
    files: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_lab(
    topo: Topology, topology_file: str = "", sabotage: tuple[str, ...] = (), libipsec: bool = True
) -> dict[str, NodeConfig]:
    """Render every node of the lab; `libipsec` selects userspace ESP (kernel without ESP)."""
    env = _environment()
    common = {"lab": topo.name, "topology_file": topology_file, "crypto": topo.crypto, "sabotage": sabotage}
    crypto_if = topo.crypto_interface
    vip = str(crypto_if.virtual_ip)
    nodes: dict[str, NodeConfig] = {}

    ha = topo.ha
    names = list(ha.nodes)
    for name, spec in ha.nodes.items():
        other = ha.nodes[names[1 - names.index(name)]]
        sync = {"local": str(spec.addresses[ha.sync_network]), "remote": str(other.addresses[ha.sync_network])}
        stateful = topo.redundancy == "stateful" and "no-sync" not in sabotage
        groups = [
            {
                "network": i.network,
                "group": i.group,
                "virtual_ip": str(i.virtual_ip),
                "local_ip": str(spec.addresses[i.network]),
                "prefixlen": IPNetwork(str(topo.networks[i.network].subnet)).prefixlen,
                "track": dict(i.track),
                "crypto": i is crypto_if,
            }
            for i in ha.interfaces
        ]
        ctx = common | {"node": name, "role": "ha-gateway", "ha": ha, "priority": spec.priority,
                        "groups": groups, "sync": sync, "redundancy": topo.redundancy}
        strongswan_ctx = ctx | {
            "libipsec": libipsec,
            "easyvpn": False,
            "ha": {"local": sync["local"], "remote": sync["remote"], "pools": []} if stateful else None,
        }
        peer_address = str(next(iter(topo.peers.values())).addresses[crypto_if.network]) if topo.peers else "%any"
        nodes[name] = NodeConfig(
            name,
            "ha-gateway",
            {
                "/etc/strongswan.conf": env.get_template("strongswan.conf.j2").render(strongswan_ctx),
                "/etc/swanctl/swanctl.conf": env.get_template("swanctl-gateway.conf.j2").render(
                    ctx | {"vip": vip, "peer_address": peer_address}
                ),
                "/etc/labctl/sidecar.json": env.get_template("sidecar.json.j2").render(ctx),
                "/etc/labctl/init.sh": env.get_template("init-gateway.sh.j2").render(ctx),
            },
            ["/bin/sh", "/etc/labctl/init.sh"],
        )

    for name, peer in topo.peers.items():
        ctx = common | {"node": name, "role": "peer", "vip": vip,
                        "local_address": str(peer.addresses[crypto_if.network])}
        nodes[name] = NodeConfig(
            name,
            "peer",
            {
                "/etc/strongswan.conf": env.get_template("strongswan.conf.j2").render(
                    ctx | {"libipsec": libipsec, "easyvpn": False, "ha": None}
                ),
                "/etc/swanctl/swanctl.conf": env.get_template("swanctl-peer.conf.j2").render(ctx),
                "/etc/labctl/init.sh": env.get_template("init-peer.sh.j2").render(ctx),
            },
            ["/bin/sh", "/etc/labctl/init.sh"],
        )

    for name, host in topo.hosts.items():
        ctx = common | {"node": name, "role": "host", "gateway": str(host.gateway)}
        nodes[name] = NodeConfig(
            name,
            "host",
            {"/etc/labctl/init.sh": env.get_template("init-host.sh.j2").render(ctx)},
            ["/bin/sh", "/etc/labctl/init.sh"],
        )
    return nodes


def write_rendered(nodes: dict[str, NodeConfig], out_dir: Path) -> list[Path]:
    """Write each node's files under OUT/<node>/<path inside the container>."""
    written = []
    for node in nodes.values():
        for container_path, text in node.files.items():
            target = out_dir / node.name / container_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(target)
    return written

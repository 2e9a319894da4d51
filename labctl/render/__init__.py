"""Render a topology into the files each node runs with (Jinja2 templates in `render/templates/`).

The output is plain text an engineer can read: `labctl render TOPOLOGY --out DIR` writes exactly what
`labctl up` puts into the containers.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from netaddr import IPNetwork

# charon's retransmission schedule, defined once in the model (validate checks the peers' DPD against it):
# rendered into strongswan.conf, used by the stateless outage budget
from labctl.model.dpd import CHARON_RETRANSMIT, ikev1_dpd_timeout_s
from labctl.model.sabotage import SABOTAGE_TABLE, SABOTAGES, gateway_switches, switches
from labctl.model.topology import Topology
from labctl.render.sidecar import sidecar_config
from labctl.runtime.spec import VPNC_GO, VPNC_IFNAME, VPNC_LOG, VPNC_PID, NodeConfig, file_mode

__all__ = ["CHARON_RETRANSMIT", "SABOTAGES", "NodeConfig", "render_lab", "write_rendered"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"  # package data: a wheel renders too
# What Cisco-protocol Easy VPN clients offer (vpnc: AES/3DES x SHA-1/MD5, DH group 2 by default, 5 or 14 with
# --dh), accepted by the Easy VPN conn beside the topology's proposals; Quick Mode without PFS, and with it only
# when the topology's vpnc clients use PFS (`clients.vpnc_pfs`): a DH group in any ESP proposal makes the
# server's own Quick Modes (the takeover rekey) demand PFS, which the strongSwan clients refuse. And the CHILD_SA
# hard lifetime of a server that never rekeys (the client does, long before).
CISCO_IKE = ["aes256-aes192-aes128-3des-sha1-md5-modp1024-modp1536-modp2048"]
CISCO_ESP = ["aes256-aes192-aes128-3des-sha1-md5"]
CISCO_ESP_PFS = ["aes256-aes192-aes128-3des-sha1-md5-modp1024-modp1536-modp2048"]
CISCO_CHILD_LIFE = "24h"


def _cisco_proposals(topo: Topology) -> dict[str, object]:
    pfs = bool(topo.easyvpn and topo.easyvpn.clients.vpnc and topo.easyvpn.clients.vpnc_pfs)
    return {"ike": CISCO_IKE, "esp": CISCO_ESP + (CISCO_ESP_PFS if pfs else []), "child_life": CISCO_CHILD_LIFE}

VPNC_CONF = "/etc/vpnc/easyvpn.conf"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_lab(
    topo: Topology, topology_file: str = "", sabotage: tuple[str, ...] = (), libipsec: bool = True,
    sso_key: str | None = None,
) -> dict[str, NodeConfig]:
    """Render every node of the lab; `libipsec` selects userspace ESP (kernel without ESP); `sso_key` is the
    lab's random SSO key when `up` made one (topology `sync_key: auto`)."""
    env = _environment()
    common = {"lab": topo.name, "topology_file": topology_file, "crypto": topo.crypto, "sabotage": sabotage,
              "retransmit": CHARON_RETRANSMIT, "ikev1_dpd_timeout_s": ikev1_dpd_timeout_s}
    crypto_if = topo.crypto_interface
    vip = str(crypto_if.virtual_ip)
    nodes: dict[str, NodeConfig] = {}

    ha = topo.ha
    names = list(ha.nodes)
    for name, spec in ha.nodes.items():
        other = ha.nodes[names[1 - names.index(name)]]
        sync = {"local": str(spec.addresses[ha.sync_network]), "remote": str(other.addresses[ha.sync_network])}
        on = switches(topo.redundancy, ha.rri, sabotage)
        stateful = on.state_sync
        # replay-state sync continues the same CHILD_SAs: a restarted node is resynced from the cached
        # CHILD_ADD messages (strongswan-ha-resync.patch), not by rekeying them
        resync_rekey = not (on.sequence_continuity and ha.sequence_continuity == "replay-sync")
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
                        "groups": groups, "sync": sync, "redundancy": topo.redundancy,
                        "easyvpn": topo.easyvpn, "radius": _radius_context(topo)}
        ctx |= {"routes": ha.routes, "ospf": bool(ha.ospf), "tunnel_sources": [str(a) for a in ha.tunnel_sources],
                "host_sources": [str(a) for a in ha.host_sources]}
        ez_pools = [{"name": topo.easyvpn.pool.name, "subnet": str(topo.easyvpn.pool.subnet)}] if topo.easyvpn else []
        strongswan_ctx = ctx | {
            "libipsec": libipsec,
            "easyvpn": bool(topo.easyvpn),
            "ha": {"local": sync["local"], "remote": sync["remote"], "pools": ez_pools,
                   "resync_rekey": resync_rekey} if stateful else None,
        }
        peer_address = topo.peer_ike_address(next(iter(topo.peers))) if topo.peers else "%any"
        nodes[name] = NodeConfig(
            name,
            "ha-gateway",
            {
                "/etc/strongswan.conf": env.get_template("strongswan.conf.j2").render(strongswan_ctx),
                "/etc/swanctl/swanctl.conf": env.get_template("swanctl-gateway.conf.j2").render(
                    ctx | {"vip": vip, "peer_address": peer_address, "site": bool(topo.peers) or not topo.easyvpn,
                           "ha_pools": stateful, "split_include": _split_include(topo),
                           "cisco_proposals": _cisco_proposals(topo)}
                ),
                "/etc/labctl/sidecar.json": sidecar_config(topo, name, topology_file, sabotage, sso_key).to_json(),
                "/etc/labctl/init.sh": env.get_template("init-gateway.sh.j2").render(
                    ctx | {"takeover_sabotage": _takeover_sabotage(topo, name, sabotage, vip)}),
            },
            ["/bin/sh", "/etc/labctl/init.sh"],
        )
        if ha.ospf:
            rri = [str(s) for s in topo.crypto.remote_subnets] if ha.ospf.redistribute_rri and ha.rri else []
            _add_frr(env, nodes[name], common, topo, dict(spec.addresses), [ha.ospf.network], ha.ospf.area,
                     ha.ospf.timers, rri, gateway=True)

    for name, peer in topo.peers.items():
        ctx = common | {"node": name, "role": "peer", "vip": vip, "routes": peer.routes,
                        "local_address": topo.peer_ike_address(name),
                        "tunnel_sources": [str(a) for a in peer.tunnel_sources],
                        "host_sources": [str(a) for a in peer.host_sources]}
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

    if topo.easyvpn:
        nodes |= _render_easyvpn_nodes(env, topo, common, vip, libipsec)

    for name, router in topo.routers.items():
        ctx = common | {"node": name, "role": "router", "routes": router.routes, "ospf": bool(router.ospf)}
        nodes[name] = NodeConfig(
            name, "router", {"/etc/labctl/init.sh": env.get_template("init-router.sh.j2").render(ctx)},
            ["/bin/sh", "/etc/labctl/init.sh"],
        )
        if router.ospf:
            _add_frr(env, nodes[name], common, topo, dict(router.addresses), router.ospf.networks, router.ospf.area,
                     router.ospf.timers, [], gateway=False)

    for name, host in topo.hosts.items():
        ctx = common | {"node": name, "role": "host", "gateway": str(host.gateway)}
        nodes[name] = NodeConfig(
            name,
            "host",
            {"/etc/labctl/init.sh": env.get_template("init-host.sh.j2").render(ctx)},
            ["/bin/sh", "/etc/labctl/init.sh"],
        )
    return nodes


def _add_frr(
    env: jinja2.Environment,
    node: NodeConfig,
    common: dict[str, object],
    topo: Topology,
    addresses: dict[str, object],
    networks: list[str],
    area: int,
    timers: object,
    rri_prefixes: list[str],
    gateway: bool,
) -> None:
    """FRR (zebra + ospfd) on a node: /etc/labctl/frr.conf.in, the start script, and the capability FRR needs."""
    interfaces = [
        {
            "network": network,
            "address": str(addresses[network]),
            "subnet": str(IPNetwork(str(topo.networks[network].subnet)).cidr),
            # a gateway can die at any moment: it must never be the DR of the LAN
            "priority": 0 if gateway else None,
            "priority_why": "a gateway may die at any moment: never the DR, the inside router stays DR",
        }
        for network in networks
    ]
    ctx = common | {"node": node.name, "role": node.role, "interfaces": interfaces, "area": area,
                    "timers": timers, "rri_prefixes": rri_prefixes, "router_id": interfaces[0]["address"]}
    node.files["/etc/labctl/frr.conf.in"] = env.get_template("frr.conf.j2").render(ctx)
    node.files["/etc/labctl/frr.sh"] = env.get_template("frr.sh.j2").render(ctx)
    node.capabilities.append("SYS_ADMIN")


def _takeover_sabotage(topo: Topology, node: str, sabotage: tuple[str, ...], vip: str) -> dict[str, object] | None:
    """The nftables part of `lossy-takeover` / `mute-ike` on this gateway, None when it has none."""
    on = gateway_switches(topo, node, sabotage)
    if not (on.esp_loss_percent or on.mute_ike):
        return None
    names = [n for n, active in (("lossy-takeover", on.esp_loss_percent), ("mute-ike", on.mute_ike)) if active]
    return {"names": names, "table": SABOTAGE_TABLE, "vip": vip, "esp_loss_percent": on.esp_loss_percent,
            "mute_ike": on.mute_ike}


def _split_include(topo: Topology) -> list[str]:
    ez = topo.easyvpn
    return [str(n) for n in (ez.split_include if ez and ez.split_include else topo.crypto.local_subnets)]


def _radius_context(topo: Topology) -> dict[str, object] | None:
    """The RADIUS server as the gateways use it (XAuth backend `radius` only)."""
    ez = topo.easyvpn
    if not ez or ez.xauth != "radius" or not ez.radius:
        return None
    return {"address": str(next(iter(ez.radius.addresses.values()))), "secret": ez.radius.secret,
            "nas_ip": str(ez.radius.nas_ip), "auth_port": ez.radius.auth_port, "acct_port": ez.radius.acct_port,
            "accounting": ez.radius.accounting}


def _render_easyvpn_nodes(
    env: jinja2.Environment, topo: Topology, common: dict[str, object], vip: str, libipsec: bool
) -> dict[str, NodeConfig]:
    """Easy VPN client containers and the FreeRADIUS server."""
    ez = topo.easyvpn
    assert ez is not None
    nodes: dict[str, NodeConfig] = {}
    for name in ez.client_names():
        ctx = common | {"node": name, "role": "client", "vip": vip, "easyvpn": ez, "login": ez.client_login(name),
                        "local_address": ez.client_address(name), "split_include": _split_include(topo)}
        if ez.client_kind(name) == "vpnc":
            ctx |= {"role": "vpnc", "vpnc_conf": VPNC_CONF, "vpnc_log": VPNC_LOG, "vpnc_pid": VPNC_PID,
                    "vpnc_ifname": VPNC_IFNAME, "vpnc_go": VPNC_GO, "dpd_idle": max(10, ez.dpd // 1000)}
            nodes[name] = NodeConfig(name, "vpnc", {
                VPNC_CONF: env.get_template("vpnc.conf.j2").render(ctx),
                "/etc/labctl/init.sh": env.get_template("init-vpnc.sh.j2").render(ctx),
            }, ["/bin/sh", "/etc/labctl/init.sh"])
            continue
        nodes[name] = NodeConfig(name, "client", {
            "/etc/strongswan.conf": env.get_template("strongswan.conf.j2").render(
                ctx | {"libipsec": libipsec, "easyvpn": True, "ha": None, "radius": None}),
            "/etc/swanctl/swanctl.conf": env.get_template("swanctl-client.conf.j2").render(ctx),
            "/etc/labctl/init.sh": env.get_template("init-client.sh.j2").render(ctx),
        }, ["/bin/sh", "/etc/labctl/init.sh"])
    radius = _radius_context(topo)
    if radius and ez.radius:
        network = next(iter(ez.radius.addresses))
        gateway = next((str(i.virtual_ip) for i in topo.ha.interfaces if i.network == network), None)
        ctx = common | {"node": "radius", "role": "radius", "radius": radius, "easyvpn": ez, "gateway_vip": gateway}
        nodes["radius"] = NodeConfig("radius", "radius", {
            "/etc/freeradius/3.0/clients.conf": env.get_template("radius-clients.conf.j2").render(ctx),
            "/etc/freeradius/3.0/mods-config/files/authorize": env.get_template("radius-users.j2").render(ctx),
            "/etc/freeradius/3.0/sites-available/labctl": env.get_template("radius-site.j2").render(ctx),
            "/etc/labctl/init.sh": env.get_template("init-radius.sh.j2").render(ctx),
        }, ["/bin/sh", "/etc/labctl/init.sh"])
    return nodes


def write_rendered(nodes: dict[str, NodeConfig], out_dir: Path) -> list[Path]:
    """Write each node's files under OUT/<node>/<path inside the container>."""
    written = []
    for node in nodes.values():
        for container_path, text in node.files.items():
            target = out_dir / node.name / container_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(file_mode(container_path))  # secrets 0600, as inside the container
            written.append(target)
    return written

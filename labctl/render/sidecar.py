"""The sidecar's config, built as the typed `SidecarConfig` the sidecar itself reads (no JSON template)."""

from __future__ import annotations

import hashlib

from netaddr import IPNetwork

from labctl.model.sabotage import gateway_switches
from labctl.model.topology import Topology
from labctl.sidecar.config import (
    GroupSettings,
    HsrpSettings,
    ReplayInterval,
    RriSettings,
    SidecarConfig,
    SsoSettings,
)


def rendered_sso_key(topo: Topology) -> str:
    """The key `labctl render` writes when the topology says `auto` (`up` makes a random one instead):
    stable per lab so rendered files can be compared, and never used by a running lab."""
    return "render-" + hashlib.sha256(f"labctl-render:{topo.name}".encode()).hexdigest()[:24]


def sso_key(topo: Topology, chosen: str | None = None) -> str:
    if chosen:
        return chosen
    return rendered_sso_key(topo) if topo.ha.sync_key == "auto" else topo.ha.sync_key


def sidecar_config(topo: Topology, node: str, topology_file: str = "",
                   sabotage: tuple[str, ...] = (), key: str | None = None) -> SidecarConfig:
    """One gateway's HSRP groups, SSO channel, redundancy switches and RRI routes; `key` is the lab's SSO
    key when `up` made one."""
    ha = topo.ha
    spec = ha.nodes[node]
    other = next(n for name, n in ha.nodes.items() if name != node)
    on = gateway_switches(topo, node, sabotage)
    crypto_if = topo.crypto_interface
    timers = ha.hsrp
    return SidecarConfig(
        lab=topo.name,
        node=node,
        redundancy=topo.redundancy,
        group_name=ha.group_name,
        priority=spec.priority,
        hsrp=HsrpSettings(version=timers.version, hello_ms=timers.hello, hold_ms=timers.hold,
                          preempt=timers.preempt, preempt_delay_ms=timers.preempt_delay,
                          reload_delay_ms=timers.reload_delay, auth=timers.auth,
                          auth_md5_key=timers.auth_md5, minimum_delay_ms=timers.delay_minimum),
        groups=[GroupSettings(network=i.network, group=i.group, virtual_ip=str(i.virtual_ip),
                              local_ip=str(spec.addresses[i.network]),
                              prefixlen=IPNetwork(str(topo.networks[i.network].subnet)).prefixlen,
                              track=dict(i.track), crypto=i is crypto_if)
                for i in ha.interfaces],
        sso=SsoSettings(local_ip=str(spec.addresses[ha.sync_network]),
                        peer_ip=str(other.addresses[ha.sync_network]), key=sso_key(topo, key)),
        ha_plugin=on.state_sync,
        sequence_continuity=ha.sequence_continuity if on.sequence_continuity else "off",
        replay_interval=ReplayInterval(inbound=ha.replay_interval.inbound, outbound=ha.replay_interval.outbound),
        rri=RriSettings(enabled=on.rri, routes=[str(s) for s in topo.crypto.remote_subnets],
                        remote_peer=topo.easyvpn is not None),
        takeover_delay_ms=on.takeover_delay_ms,
        comment=f"labctl HSRP/SSO sidecar config for {node} in lab {topo.name}; rendered from {topology_file}",
    )

"""`show running-config`: a node's effective configuration in IOS form (pure).

Input is plain data (no model import: views are pure): the running lab's effective topology as
`Topology.model_dump(mode="json")` under `live["topology"]`, the node's live interfaces (`ip -o addr/link`)
and, on a gateway, the live sidecar status. Each IOS line stands for something the lab really runs; a line
IOS would print that labctl has no counterpart for is left out, and labctl's own remarks are `!` comments.

Like IOS, values at their IOS default are not printed (`standby 1 priority 100`, `timers 3 10`, the
text authentication string `cisco`, a track decrement of 10), so the output reads like the seed's sample
configurations (Ha-R1/Ha-R2).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

Live = dict[str, Any]

IOS_HSRP_PRIORITY = 100
IOS_HSRP_HELLO_MS, IOS_HSRP_HOLD_MS = 3000, 10000
IOS_HSRP_AUTH = "cisco"
IOS_TRACK_DECREMENT = 10
IOS_OSPF_HELLO_MS, IOS_OSPF_DEAD_MS = 10_000, 40_000

# strongSwan proposal keywords -> IOS words
_DH_GROUPS = {"modp768": 1, "modp1024": 2, "modp1536": 5, "modp2048": 14, "modp3072": 15, "modp4096": 16,
              "modp6144": 17, "modp8192": 18, "modp1024s160": 22, "modp2048s224": 23, "modp2048s256": 24,
              "ecp256": 19, "ecp384": 20, "ecp521": 21, "curve25519": 31, "x25519": 31, "curve448": 32}
_IKE_HASH = {"md5": "md5", "sha1": "sha", "sha": "sha", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}
_ESP_INTEG = {"md5": "esp-md5-hmac", "sha1": "esp-sha-hmac", "sha": "esp-sha-hmac", "sha256": "esp-sha256-hmac",
              "sha384": "esp-sha384-hmac", "sha512": "esp-sha512-hmac"}
_AES = re.compile(r"^aes(128|192|256)?$")
_AES_GCM = re.compile(r"^aes(128|192|256)?gcm(8|12|16|64|96|128)?$")


def ms(value: Any) -> int:
    """A dumped duration (`"200ms"`) or a plain number of milliseconds -> int milliseconds."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    return int(float(text[:-2])) if text.endswith("ms") else int(float(text) * 1000)


def netmask(subnet: str) -> tuple[str, str, str]:
    """'10.1.0.0/24' -> ('10.1.0.0', '255.255.255.0', '0.0.0.255')"""
    network = ipaddress.ip_network(subnet, strict=False)
    return str(network.network_address), str(network.netmask), str(network.hostmask)


def _acl_side(subnet: str) -> str:
    address, _mask, wildcard = netmask(subnet)
    return f"host {address}" if wildcard == "0.0.0.0" else f"{address} {wildcard}"


# ---------------------------------------------------------------------------------------------- proposals
def isakmp_policy(proposal: str) -> list[str]:
    """'aes256-sha256-modp2048' -> the body lines of a `crypto isakmp policy` (unknown words kept as a note)."""
    lines, unknown = [], []
    for word in proposal.split("-"):
        aes, gcm = _AES.match(word), _AES_GCM.match(word)
        if gcm:
            lines.append(f" encr aes-gcm {gcm.group(1) or 128}")
        elif aes:
            lines.append(f" encr aes {aes.group(1)}" if aes.group(1) and aes.group(1) != "128" else " encr aes")
        elif word == "3des":
            lines.append(" encr 3des")
        elif word == "des":
            lines.append(" encr des")
        elif word in _IKE_HASH:
            lines.append(f" hash {_IKE_HASH[word]}")
        elif word.startswith("prf"):
            continue  # IOS derives the PRF from the hash (IKEv1)
        elif word in _DH_GROUPS:
            lines.append(f" group {_DH_GROUPS[word]}")
        else:
            unknown.append(word)
    if unknown:
        lines.append(f" ! labctl: no IOS word for {', '.join(unknown)} (strongSwan proposal {proposal})")
    return lines


def transform_set(proposal: str) -> tuple[list[str], int | None]:
    """'aes256-sha256[-modp2048]' -> (IOS transform words, PFS DH group or None)."""
    words, pfs = [], None
    for word in proposal.split("-"):
        aes, gcm = _AES.match(word), _AES_GCM.match(word)
        if gcm:
            words.append(f"esp-gcm {gcm.group(1) or 128}")
        elif aes:
            words.append(f"esp-aes {aes.group(1)}" if aes.group(1) and aes.group(1) != "128" else "esp-aes")
        elif word in ("3des", "des", "null"):
            words.append(f"esp-{word}")
        elif word in _ESP_INTEG:
            words.append(_ESP_INTEG[word])
        elif word in _DH_GROUPS:
            pfs = _DH_GROUPS[word]
        elif word in ("esn", "noesn"):
            continue
        else:
            words.append(f"esp-{word}")
    return words, pfs


# ---------------------------------------------------------------------------------------------- interfaces
def interface_of(live: Live, network: str, address: str | None) -> str:
    """The node's interface on `network`: the one holding `address` live, else the sidecar's HSRP group's."""
    for name, info in (live.get("interfaces") or {}).items():
        if address and any(a.split("/")[0] == address for a in info.get("addresses", [])):
            return name
    for group in (live.get("sidecar") or {}).get("hsrp", []):
        if group.get("network") == network:
            return str(group["interface"])
    return network


def _standby_lines(topo: dict[str, Any], node: str, group: dict[str, Any], ifname_of: dict[str, str]) -> list[str]:
    ha, hsrp = topo["ha"], topo["ha"]["hsrp"]
    n = group["group"]
    lines = [f" standby {n} ip {group['virtual_ip']}"]
    hello, hold = ms(hsrp["hello"]), ms(hsrp["hold"])
    if (hello, hold) != (IOS_HSRP_HELLO_MS, IOS_HSRP_HOLD_MS):
        if hello % 1000 == 0 and hold % 1000 == 0:
            lines.append(f" standby {n} timers {hello // 1000} {hold // 1000}")
        else:
            lines.append(f" standby {n} timers msec {hello} msec {hold}")
    priority = ha["nodes"][node]["priority"]
    if priority != IOS_HSRP_PRIORITY:
        lines.append(f" standby {n} priority {priority}")
    if hsrp["preempt"]:
        delay = ms(hsrp.get("preempt_delay") or 0)
        lines.append(f" standby {n} preempt" + (f" delay minimum {delay // 1000}" if delay else ""))
    if hsrp.get("auth_md5"):
        lines.append(f" standby {n} authentication md5 key-string {hsrp['auth_md5']}")
    elif hsrp.get("auth") and hsrp["auth"] != IOS_HSRP_AUTH:
        lines.append(f" standby {n} authentication {hsrp['auth']}")
    lines.append(f" standby {n} name {ha['group_name']}")
    for network, decrement in group.get("track", {}).items():
        tracked = ifname_of.get(network, network)
        lines.append(f" standby {n} track {tracked}" + (f" decrement {decrement}"
                                                        if decrement != IOS_TRACK_DECREMENT else ""))
    return lines


def _delay_line(hsrp: dict[str, Any]) -> str | None:
    minimum = hsrp.get("delay_minimum")
    reload_ms = ms(hsrp.get("reload_delay") or 0)
    if minimum is not None:
        return f" standby delay minimum {ms(minimum) // 1000} reload {reload_ms // 1000}"
    if reload_ms:
        return f" standby delay reload {reload_ms // 1000}"
    return None


def _ospf_interface_lines(timers: dict[str, Any]) -> list[str]:
    hello, dead = ms(timers["hello"]), ms(timers["dead"])
    if dead == 1000:
        return [f" ip ospf dead-interval minimal hello-multiplier {1000 // hello}"]
    lines = []
    if hello != IOS_OSPF_HELLO_MS:
        lines.append(f" ip ospf hello-interval {hello // 1000}")
    if dead != IOS_OSPF_DEAD_MS:
        lines.append(f" ip ospf dead-interval {dead // 1000}")
    return lines


# ---------------------------------------------------------------------------------------------- crypto
def _crypto_lines(topo: dict[str, Any], peer_address: str | None, local_subnets: list[str],
                  remote_subnets: list[str], rri: bool, ha_name: str | None) -> list[str]:
    crypto = topo["crypto"]
    lines: list[str] = []
    for i, proposal in enumerate(crypto["ike_proposals"], start=1):
        lines += [f"crypto isakmp policy {i}", *isakmp_policy(proposal), " authentication pre-share"]
    if crypto["ike_version"] == 2:
        lines.append("! labctl: IKEv2 (swanctl `version = 2`); the policy above is its IKE proposal")
    if crypto.get("psk") and peer_address:
        lines.append(f"crypto isakmp key {crypto['psk']} address {peer_address}")
    dpd = ms(crypto["dpd"])
    if dpd:
        lines.append(f"crypto isakmp keepalive {max(1, dpd // 1000)}")
        lines.append("! labctl: strongSwan DPD (dpd_delay), sent when the SA is idle")
    lines.append("!")
    names = []
    pfs_groups = set()
    for i, proposal in enumerate(crypto["esp_proposals"], start=1):
        words, pfs = transform_set(proposal)
        if pfs:
            pfs_groups.add(pfs)
        names.append(f"ts{i}")
        lines += [f"crypto ipsec transform-set ts{i} {' '.join(words)}", " mode tunnel"]
    lines.append("!")
    if ha_name:
        replay = topo["ha"]["replay_interval"]
        lines.append(f"crypto map site redundancy replay-interval inbound {replay['inbound']} "
                     f"outbound {replay['outbound']}")
    lines.append("crypto map site 10 ipsec-isakmp")
    if peer_address:
        lines.append(f" set peer {peer_address}")
    lines.append(f" set transform-set {' '.join(names)}")
    for group in sorted(pfs_groups):
        lines.append(f" set pfs group{group}")
    lines.append(" match address site")
    if rri:
        lines.append(" reverse-route")
    lines += ["!", "ip access-list extended site"]
    lines += [f" permit ip {_acl_side(loc)} {_acl_side(rem)}" for loc in local_subnets for rem in remote_subnets]
    return lines


def _route_lines(routes: list[dict[str, Any]]) -> list[str]:
    return [f"ip route {netmask(r['to'])[0]} {netmask(r['to'])[1]} {r['via']}" for r in routes]


# ---------------------------------------------------------------------------------------------- the views
def _header(live: Live) -> list[str]:
    return ["Building configuration...", "", "!", f"! labctl: {live['node']} of lab {live['topology']['name']}, "
            "from the running lab's effective topology and the node's live interfaces", "!",
            f"hostname {live['node']}", "!"]


def _gateway(live: Live) -> list[str]:
    topo, node = live["topology"], live["node"]
    ha, hsrp = topo["ha"], topo["ha"]["hsrp"]
    me = ha["nodes"][node]
    other = next((n for n in ha["nodes"] if n != node), None)
    side = live.get("sidecar") or {}
    stateful = topo["redundancy"] == "stateful"
    ifname_of = {net: interface_of(live, net, addr) for net, addr in me["addresses"].items()}
    lines = _header(live)
    lines += ["redundancy inter-device", f" scheme standby {ha['group_name']}"]
    sync_net = ha["sync_network"]
    if side and not side.get("sync_encrypted"):
        shared = any(i["network"] == sync_net for i in ha["interfaces"])
        where = f"on the {sync_net} LAN, which its hosts can see" if shared else "on the isolated sync network"
        lines.append(f" ! labctl: no `security ipsec`: the SA sync runs in cleartext {where}")
    lines.append("!")
    local_ip, peer_ip = me["addresses"].get(sync_net), ha["nodes"][other]["addresses"].get(sync_net) if other else None
    channel = side.get("sso_channel") or {}
    local_ip, peer_ip = channel.get("local_ip") or local_ip, channel.get("peer_ip") or peer_ip
    lines += ["ipc zone default", " association 1", "  no shutdown",
              "  ! labctl: UDP instead of SCTP: SSO channel port 4520, strongSwan ha plugin sync port 4510",
              f"  local-ip {local_ip}", f"  remote-ip {peer_ip}", "!"]
    peers = topo.get("peers") or {}
    crypto_if = next((i for i in ha["interfaces"] if i["crypto"]), ha["interfaces"][0])
    peer_address = None
    if peers:
        first = next(iter(peers.values()))["addresses"]
        peer_address = first.get(crypto_if["network"], next(iter(first.values())))
    if peers or not topo.get("easyvpn"):
        lines += _crypto_lines(topo, peer_address, topo["crypto"]["local_subnets"],
                               topo["crypto"]["remote_subnets"], ha["rri"], ha["group_name"])
        lines.append("!")
    if topo.get("easyvpn"):
        ez = topo["easyvpn"]
        lines += [f"crypto isakmp client configuration group {ez['group']}", f" key {ez['group_psk']}",
                  f" pool {ez['pool']['name']}", "!", "crypto dynamic-map to-remote-client 10",
                  " set transform-set ts1", " reverse-route remote-peer", "!",
                  f"! labctl: XAuth {ez['xauth']}, IKEv1 aggressive mode (swanctl connection ezvpn)", "!"]
    for group in ha["interfaces"]:
        network = group["network"]
        lines += [f"interface {ifname_of.get(network, network)}", f" description labctl network {network}"]
        address = me["addresses"].get(network)
        if address:
            mask = netmask(topo["networks"][network]["subnet"])[1]
            lines.append(f" ip address {address} {mask}")
        lines.append(" no ip unreachables")  # init-gateway.sh.j2: the gateway never sends port unreachable
        if ha.get("ospf") and ha["ospf"]["network"] == network:
            lines += _ospf_interface_lines(ha["ospf"]["timers"])
        if hsrp["version"] == 2:
            lines.append(" standby version 2")
        lines += _standby_lines(topo, node, group, ifname_of)
        delay = _delay_line(hsrp)
        if delay:
            lines.append(delay)
        if group is crypto_if:
            map_name = "site" if (peers or not topo.get("easyvpn")) else "to-remote-client"
            lines.append(f" crypto map {map_name} redundancy {ha['group_name']}" + (" stateful" if stateful else ""))
        lines.append("!")
    hsrp_networks = {g["network"] for g in ha["interfaces"]}
    for network, address in me["addresses"].items():
        if network in hsrp_networks:
            continue
        mask = netmask(topo["networks"][network]["subnet"])[1]
        lines += [f"interface {ifname_of.get(network, network)}", f" description labctl network {network}"
                  + (" (sync: SSO channel + ha plugin)" if network == sync_net else ""),
                  f" ip address {address} {mask}", "!"]
    for i, source in enumerate(ha.get("tunnel_sources") or []):
        lines += [f"interface Loopback{i}", f" ip address {source} 255.255.255.255",
                  " ! labctl: tunnel source inside the local traffic selector (kernel-libipsec)", "!"]
    lines += _route_lines(ha.get("routes") or [])
    if ha.get("ospf"):
        ospf = ha["ospf"]
        subnet = topo["networks"][ospf["network"]]["subnet"]
        address, _mask, wildcard = netmask(subnet)
        lines += ["!", "router ospf 1", f" network {address} {wildcard} area {ospf['area']}"]
        if ospf["redistribute_rri"]:
            lines += [" redistribute static subnets",
                      " ! labctl: FRR `redistribute kernel` of the RRI routes (kernel proto 77), metric-type 2"]
    return [*lines, "!", "end"]


def _peer(live: Live) -> list[str]:
    topo, node = live["topology"], live["node"]
    me = topo["peers"][node]
    ha = topo["ha"]
    crypto_if = next((i for i in ha["interfaces"] if i["crypto"]), ha["interfaces"][0])
    ike_network = crypto_if["network"] if crypto_if["network"] in me["addresses"] else next(iter(me["addresses"]))
    lines = _header(live)
    lines += _crypto_lines(topo, crypto_if["virtual_ip"], topo["crypto"]["remote_subnets"],
                           topo["crypto"]["local_subnets"], False, None)
    lines.append("!")
    for network, address in me["addresses"].items():
        mask = netmask(topo["networks"][network]["subnet"])[1]
        lines += [f"interface {interface_of(live, network, address)}", f" description labctl network {network}",
                  f" ip address {address} {mask}"]
        if network == ike_network:
            lines.append(" crypto map site")
        lines.append("!")
    lines += _route_lines(me.get("routes") or [])
    return [*lines, "!", "end"]


def running_config(live: Live, _which: str | None = None) -> tuple[dict[str, Any], str]:
    """(JSON data, IOS text) of `show running-config` for an HA gateway or a peer."""
    lines = _gateway(live) if live.get("role") == "ha-gateway" else _peer(live)
    body = "\n".join(lines[2:]) + "\n"  # IOS counts the bytes after the `Current configuration` line
    text = "\n".join([*lines[:2], f"Current configuration : {len(body.encode())} bytes", *lines[2:]]) + "\n"
    return {"node": live["node"], "lines": text.splitlines()}, text

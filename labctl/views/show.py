"""IOS-format `show` commands filled from live state (the operator view of a running lab).

The layouts imitate Cisco IOS (`show standby`, `show redundancy states`, `show crypto isakmp sa active`, ...)
so an operator who knows the reference routers reads labctl the same way; every value comes from the
daemons (swanctl, the sidecar status file, `ip`). Lines IOS prints that labctl has no data for are left
out rather than invented; labctl's own notes are IOS comment lines starting with `!`.

Pure functions (`render`, `status_rows`, the parsers) take data and return text; `collect` reads a node.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from labctl.errors import LabctlError
from labctl.sidecar import replay
from labctl.sidecar.contract import RRI_PROTO
from labctl.sidecar.replay import SaSeq
from labctl.sidecar.sso import Redundancy
from labctl.views.running_config import running_config

COMMANDS = (
    "standby",
    "standby brief",
    "redundancy",
    "redundancy inter-device",
    "redundancy states",
    "crypto isakmp sa",
    "crypto isakmp sa active",
    "crypto isakmp sa standby",
    "crypto ipsec sa",
    "crypto ipsec sa active",
    "crypto ipsec sa standby",
    "crypto session",
    "crypto session active",
    "crypto session standby",
    "crypto ha",
    "crypto isakmp sa detail",
    "crypto session detail",
    "running-config",
    "ip route",
    "track",
)
HA_ONLY = ("standby", "redundancy", "crypto ha", "track")  # need the HSRP/SSO sidecar of an HA gateway
HA_SYNC_PORT = 4510  # strongSwan ha plugin default (labctl does not change it)

Live = dict[str, Any]  # {"node", "role", "sas", "sidecar", "interfaces", "plugins", "routes", "topology"}
NEEDS_TOPOLOGY = ("running-config", "crypto isakmp sa detail", "crypto session detail")


# ---------------------------------------------------------------------------------------- parsing the command
def parse_command(words: list[str] | tuple[str, ...]) -> tuple[str, str | None]:
    """`['cry', 'isa', 'sa', 'act']` -> ('crypto isakmp sa', 'active'); IOS-style unique prefixes allowed."""
    candidates = [c.split() for c in COMMANDS]
    chosen: list[str] = []
    for i, typed in enumerate(w.lower() for w in words):
        options = sorted({c[i] for c in candidates if len(c) > i and c[i].startswith(typed)})
        if typed in options:
            word = typed
        elif len(options) == 1:
            word = options[0]
        else:
            said = " ".join([*chosen, typed])
            reason = f"ambiguous `{typed}` ({', '.join(options)})" if options else f"unknown word `{typed}`"
            raise LabctlError(f"show {said}: {reason}; labctl show knows:\n" + known_commands())
        chosen.append(word)
        candidates = [c for c in candidates if len(c) > i and c[i] == word]
    if not chosen or chosen not in candidates:
        raise LabctlError(f"show {' '.join(chosen)}: incomplete command; labctl show knows:\n" + known_commands())
    text = " ".join(chosen)
    if text == "redundancy inter-device":
        return "redundancy", None
    if chosen[-1] in ("active", "standby") and chosen[0] == "crypto":
        return " ".join(chosen[:-1]), chosen[-1]
    return text, None


def known_commands() -> str:
    return "\n".join(f"  {c}" for c in COMMANDS)


# ---------------------------------------------------------------------------------------- parsing node output
def interfaces_from_ip(text: str) -> dict[str, dict[str, Any]]:
    """`ip -o -4 addr show; ip -o link show` -> {ifname: {addresses, mtu, mac}}."""
    interfaces: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        addr = re.match(r"\d+:\s+(\S+)\s+inet\s+(\S+)", line)
        link = re.match(r"\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<[^>]*>\s+mtu\s+(\d+)", line)
        if addr:
            interfaces.setdefault(addr.group(1), {"addresses": [], "mtu": None, "mac": None})
            interfaces[addr.group(1)]["addresses"].append(addr.group(2))
        elif link:
            entry = interfaces.setdefault(link.group(1), {"addresses": [], "mtu": None, "mac": None})
            entry["mtu"] = int(link.group(2))
            mac = re.search(r"link/ether\s+(\S+)", line)
            entry["mac"] = mac.group(1) if mac else None
    return interfaces


def plugins_from_stats(text: str) -> list[str]:
    """The `loaded plugins:` line of `swanctl --stats`."""
    for line in text.splitlines():
        if line.startswith("loaded plugins:"):
            return line.split(":", 1)[1].split()
    return []


# ---------------------------------------------------------------------------------------- small IOS helpers
def ios_mac(mac: str | None) -> str:
    """02:42:0a:33:00:0b -> 0242.0a33.000b"""
    if not mac:
        return "unknown"
    digits = mac.replace(":", "").lower()
    return ".".join(digits[i : i + 4] for i in range(0, 12, 4))


def ios_spi(spi: str | None) -> str:
    """ae1f08b3 -> 0xAE1F08B3(2921269427)"""
    if not spi:
        return "0x0(0)"
    return f"0x{spi.upper()}({int(spi, 16)})"


def ike_cookies(sa: dict[str, Any]) -> str:
    """IKE SPI pair as IOS prints `ike_cookies`: four groups of 8 hex digits."""
    digits = (sa.get("initiator_spi") or "0" * 16) + (sa.get("responder_spi") or "0" * 16)
    return " ".join(digits[i : i + 8].upper() for i in range(0, 32, 8))


def hms(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


_PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "icmp6": 58, "sctp": 132}


def _split_ts(ts: str) -> tuple[str, str, str]:
    """'10.1.0.0/24[tcp/80]' -> ('10.1.0.0/24', 'tcp', '80')"""
    match = re.match(r"([^\[]+)(?:\[([^/\]]*)/?([^\]]*)\])?$", ts.strip())
    if not match:
        return ts, "", ""
    return match.group(1), match.group(2) or "", match.group(3) or ""


def ident(ts: str) -> str:
    """strongSwan traffic selector -> IOS `(addr/mask/prot/port)`."""
    net, proto, port = _split_ts(ts)
    try:
        network = ipaddress.ip_network(net, strict=False)
        addr = f"{network.network_address}/{network.netmask}"
    except ValueError:
        addr = net
    prot = _PROTOCOLS.get(proto.lower(), proto) if proto else 0
    return f"({addr}/{prot}/{port if port.isdigit() else 0})"


def flow_side(ts: str) -> str:
    """One side of an IOS `IPSEC FLOW` line: `host A` or `A/mask`."""
    net, _proto, _port = _split_ts(ts)
    try:
        network = ipaddress.ip_network(net, strict=False)
    except ValueError:
        return net
    if network.prefixlen == network.max_prefixlen:
        return f"host {network.network_address}"
    return f"{network.network_address}/{network.netmask}"


def transform(child: dict[str, Any]) -> str:
    """AES_CBC 256 + HMAC_SHA2_256_128 -> 'esp-256-aes esp-sha256-hmac' (IOS transform-set words)."""
    words = []
    encr, size = (child.get("encr_alg") or "").upper(), child.get("encr_keysize")
    if encr == "AES_CBC":
        words.append(f"esp-{size}-aes" if size and size != "128" else "esp-aes")
    elif encr.startswith("AES_GCM"):
        words.append(f"esp-gcm {size}" if size else "esp-gcm")
    elif encr == "3DES_CBC":
        words.append("esp-3des")
    elif encr:
        words.append(f"esp-{encr.lower()}")
    integ = {"HMAC_SHA1_96": "esp-sha-hmac", "HMAC_SHA2_256_128": "esp-sha256-hmac",
             "HMAC_SHA2_384_192": "esp-sha384-hmac", "HMAC_SHA2_512_256": "esp-sha512-hmac",
             "HMAC_MD5_96": "esp-md5-hmac"}
    if child.get("integ_alg"):
        words.append(integ.get(child["integ_alg"].upper(), f"esp-{child['integ_alg'].lower()}"))
    return " ".join(words) or "unknown"


# ---------------------------------------------------------------------------------------- SA states
IOS_IKE_STATE = {"ESTABLISHED": "QM_IDLE", "PASSIVE": "QM_IDLE", "REKEYING": "QM_IDLE", "CREATED": "MM_NO_STATE",
                 "CONNECTING": "MM_NO_STATE", "DELETING": "MM_NO_STATE", "DESTROYING": "MM_NO_STATE"}


def ike_status(sa: dict[str, Any]) -> str:
    """IOS status column: ESTABLISHED (drives traffic) -> ACTIVE, PASSIVE (ha-synced copy) -> STDBY."""
    return {"ESTABLISHED": "ACTIVE", "REKEYING": "ACTIVE", "PASSIVE": "STDBY"}.get(sa.get("state") or "",
                                                                                    sa.get("state") or "?")


def _selected(sas: list[dict[str, Any]], which: str | None) -> list[dict[str, Any]]:
    want = {"active": "ACTIVE", "standby": "STDBY"}.get(which or "")
    return [sa for sa in sas if want is None or ike_status(sa) == want]


def _interface_of(live: Live, ip: str | None) -> str:
    """Interface holding `ip`; on a standby the VIP is not configured yet, its HSRP group names the interface."""
    for name, info in (live.get("interfaces") or {}).items():
        if any(a.split("/")[0] == ip for a in info["addresses"]):
            return name
    for group in (live.get("sidecar") or {}).get("hsrp", []):
        if group["virtual_ip"] == ip:
            return group["interface"]
    return "unknown"


def _endpoints(sa: dict[str, Any]) -> tuple[str, str]:
    """(dst, src) as IOS prints an ISAKMP SA: dst is the responder."""
    local, remote = sa.get("local_host") or "", sa.get("remote_host") or ""
    return (remote, local) if sa.get("initiator") else (local, remote)


# ---------------------------------------------------------------------------------------- crypto views
def isakmp_sa(live: Live, which: str | None) -> tuple[list[dict[str, Any]], str]:
    rows = []
    for sa in _selected(live["sas"], which):
        dst, src = _endpoints(sa)
        rows.append({"dst": dst, "src": src, "state": IOS_IKE_STATE.get(sa.get("state") or "", sa.get("state")),
                     "conn_id": sa.get("uniqueid"), "slot": 0, "status": ike_status(sa),
                     "strongswan_state": sa.get("state"), "name": sa.get("name"), "ike_version": sa.get("version"),
                     "initiator_spi": sa.get("initiator_spi"), "responder_spi": sa.get("responder_spi")})
    lines = ["IPv4 Crypto ISAKMP SA", f"{'dst':<15} {'src':<15} {'state':<14} {'conn-id':>7} {'slot':>4} status"]
    lines += [f"{r['dst']:<15} {r['src']:<15} {r['state']:<14} {r['conn_id'] or '':>7} {r['slot']:>4} {r['status']}"
              for r in rows]
    return rows, "\n".join(lines) + "\n"


def _child_status(sa: dict[str, Any], child: dict[str, Any]) -> str:
    if sa.get("state") == "PASSIVE":
        return "STANDBY"
    if child.get("state") == "INSTALLED" and sa.get("state") in ("ESTABLISHED", "REKEYING"):
        return "ACTIVE"
    return child.get("state") or "?"


def ha_replay(side: dict[str, Any] | None, spi: str | None) -> dict[str, int] | None:
    """The replay state the HA pair synced for one ESP SA (IOS `redundancy replay-interval`): on the Active the
    sequence number it last forwarded (`sent`), on the standby the one it last heard (`received`) and where a
    takeover continues it (`continues_at`: outbound one interval ahead, inbound the window top). None when the
    SA is not in the status file's tables (no replay sync, or past its first entries)."""
    sync = (side or {}).get("replay_sync") or {}
    if not spi:
        return None
    key = spi.lower()
    for entry_spi, _dst, _direction, seq in sync.get("sent_table") or []:
        if entry_spi.lower() == key:
            return {"sent": seq}
    for entry_spi, dst, direction, seq in sync.get("table") or []:
        if entry_spi.lower() == key:
            outbound = ((side or {}).get("replay_interval") or {}).get("outbound", 0)
            return {"received": seq, "continues_at": replay.continues_at(SaSeq(entry_spi, dst, direction == "in", seq),
                                                                         outbound)}
    return None


def _ha_replay_line(state: dict[str, int] | None) -> list[str]:
    if state is None:
        return []
    if "sent" in state:
        return [f"        HA last replay sent: {state['sent']}"]
    return [f"        HA last replay received: {state['received']}, continues at {state['continues_at']}"]


def _esp_sa_lines(sa: dict[str, Any], child: dict[str, Any], spi: str | None, status: str,
                  replay_state: dict[str, int] | None) -> list[str]:
    settings = "Tunnel UDP-Encaps, " if child.get("encap") else "Tunnel, "
    return [
        f"      spi: {ios_spi(spi)}",
        f"        transform: {transform(child)} ,",
        f"        in use settings ={{{settings}}}",
        f"        conn id: {child.get('uniqueid')}, flow_id: {child.get('reqid')}, crypto map: {sa.get('name')}",
        f"        sa timing: remaining key lifetime (sec): ({child.get('life_time', 0)})",
        *_ha_replay_line(replay_state),
        f"        ike_cookies: {ike_cookies(sa)}",
        "        replay detection support: Y",
        f"        Status: {status}",
        "",
    ]


def ipsec_sa(live: Live, which: str | None) -> tuple[list[dict[str, Any]], str]:
    interfaces = live.get("interfaces") or {}
    tunnel_mtu = (interfaces.get("ipsec0") or {}).get("mtu")
    data, lines = [], []
    for sa in _selected(live["sas"], which):
        ifname = _interface_of(live, sa.get("local_host"))
        media_mtu = (interfaces.get(ifname) or {}).get("mtu")
        for child in sa["child_sas"]:
            status = _child_status(sa, child)
            replay_in, replay_out = (ha_replay(live.get("sidecar"), child.get(k)) for k in ("spi_in", "spi_out"))
            data.append({"interface": ifname, "crypto_map": sa.get("name"), "local_addr": sa.get("local_host"),
                         "current_peer": sa.get("remote_host"), "port": sa.get("remote_port"), "status": status,
                         "ike_sa": sa.get("name"), "ike_state": sa.get("state"), "path_mtu": tunnel_mtu or media_mtu,
                         "media_mtu": media_mtu, "transform": transform(child), "ike_cookies": ike_cookies(sa),
                         "ha_replay_in": replay_in, "ha_replay_out": replay_out, **child})
            lines += [f"interface: {ifname}",
                      f"    Crypto map tag: {sa.get('name')}, local addr {sa.get('local_host')}", "",
                      "   protected vrf: (none)"]
            for local_ts in child["local_ts"] or ["0.0.0.0/0"]:
                for remote_ts in child["remote_ts"] or ["0.0.0.0/0"]:
                    lines += [f"   local  ident (addr/mask/prot/port): {ident(local_ts)}",
                              f"   remote ident (addr/mask/prot/port): {ident(remote_ts)}"]
            out, inn = child["packets_out"], child["packets_in"]
            lines += [
                f"   current_peer {sa.get('remote_host')} port {sa.get('remote_port')}",
                "     PERMIT, flags={origin_is_acl,}",
                f"    #pkts encaps: {out}, #pkts encrypt: {out}, #pkts digest: {out}",
                f"    #pkts decaps: {inn}, #pkts decrypt: {inn}, #pkts verify: {inn}",
                "    #pkts compressed: 0, #pkts decompressed: 0",
                "    #pkts not compressed: 0, #pkts compr. failed: 0",
                "    #pkts not decompressed: 0, #pkts decompress failed: 0",
                f"    #bytes encaps: {child['bytes_out']}, #bytes decaps: {child['bytes_in']}",
                "",
                f"     local crypto endpt.: {sa.get('local_host')}, remote crypto endpt.: {sa.get('remote_host')}",
                f"     path mtu {tunnel_mtu or media_mtu}, media mtu {media_mtu}",
                f"     current outbound spi: {ios_spi(child.get('spi_out'))}",
                "",
                "     inbound esp sas:",
                *_esp_sa_lines(sa, child, child.get("spi_in"), status, replay_in),
                "     inbound ah sas:", "",
                "     inbound pcp sas:", "",
                "     outbound esp sas:",
                *_esp_sa_lines(sa, child, child.get("spi_out"), status, replay_out),
                "     outbound ah sas:", "",
                "     outbound pcp sas:", "",
            ]
    return data, "\n".join(lines) + ("\n" if lines else "")


def _session_status(sa: dict[str, Any]) -> str:
    state = sa.get("state")
    if state == "PASSIVE":
        return "UP-STANDBY"
    if state in ("ESTABLISHED", "REKEYING"):
        return "UP-ACTIVE" if sa["child_sas"] else "UP-IDLE"
    if state in ("CONNECTING", "CREATED"):
        return "DOWN-NEGOTIATING"
    return "DOWN"


def crypto_session(live: Live, which: str | None) -> tuple[list[dict[str, Any]], str]:
    data = []
    lines = ["Crypto session current status", ""]
    for sa in _selected(live["sas"], which):
        ifname = _interface_of(live, sa.get("local_host"))
        ike_up = "Active" if sa.get("state") in ("ESTABLISHED", "REKEYING", "PASSIVE") else "Inactive"
        flows = [{"local": lt, "remote": rt, "child": c.get("name"), "spi_in": c.get("spi_in"),
                  "spi_out": c.get("spi_out")}
                 for c in sa["child_sas"] for lt in c["local_ts"] for rt in c["remote_ts"]]
        active_sas = 2 * len(sa["child_sas"])  # one inbound + one outbound ESP SA each
        ike = {"local": f"{sa.get('local_host')}/{sa.get('local_port')}",
               "remote": f"{sa.get('remote_host')}/{sa.get('remote_port')}", "status": ike_up,
               "strongswan_state": sa.get("state"), "name": sa.get("name")}
        data.append({"interface": ifname, "session_status": _session_status(sa), "peer": sa.get("remote_host"),
                     "port": sa.get("remote_port"), "ike_sa": ike, "ipsec_flows": flows, "active_sas": active_sas})
        lines += [f"Interface: {ifname}",
                  f"Session status: {_session_status(sa)}",
                  f"Peer: {sa.get('remote_host')} port {sa.get('remote_port')}",
                  f"  IKE SA: local {sa.get('local_host')}/{sa.get('local_port')} remote "
                  f"{sa.get('remote_host')}/{sa.get('remote_port')} {ike_up}"]
        lines += [f"  IPSEC FLOW: permit ip {flow_side(f['local'])} {flow_side(f['remote'])}" for f in flows]
        lines += [f"        Active SAs: {active_sas}, origin: crypto map", ""]
    return data, "\n".join(lines) + "\n"


def crypto_ha(live: Live, _which: str | None = None) -> tuple[dict[str, Any], str]:
    groups = (live.get("sidecar") or {}).get("hsrp", [])
    vips = {g["virtual_ip"]: g for g in groups}
    ike_vips = sorted({sa["local_host"] for sa in live["sas"] if sa.get("local_host") in vips})
    ipsec_vips = sorted({sa["local_host"] for sa in live["sas"] if sa.get("local_host") in vips and sa["child_sas"]})
    lines = []
    for vip in ike_vips:
        lines.append(f"IKE VIP: {vip}")
    for vip in ipsec_vips:
        lines.append(f"IPSec VIP: {vip}")
    if not ike_vips:
        lines.append("! no IKE SA uses an HSRP virtual IP on this node")
    for vip in ike_vips:
        g = vips[vip]
        lines.append(f"! {vip}: HSRP group {g['group']} \"{g['name']}\" on {g['interface']} is {g['state']}"
                     f"{' (this node owns the VIP)' if g['owns_vip'] else ''}")
    side = live.get("sidecar") or {}
    sync, interval = side.get("replay_sync"), side.get("replay_interval") or {}
    if sync is not None:
        lines.append(f"Replay sync: every {interval.get('inbound')} inbound / {interval.get('outbound')} outbound "
                     f"packets, {sync.get('tables_sent', 0)} tables sent, {sync.get('tables_received', 0)} received, "
                     f"{sync.get('sas', 0)} SAs in the received table, {sync.get('raised', 0)} raised")
        if sync.get("error"):
            lines.append(f"! replay sync: {sync['error']}")
    data = {"ike_vips": ike_vips, "ipsec_vips": ipsec_vips,
            "groups": [{"virtual_ip": v, "group": vips[v]["group"], "state": vips[v]["state"]} for v in ike_vips],
            "replay_sync": ({key: sync.get(key) for key in ("tables_sent", "tables_received", "sas", "raised", "error")}
                            | {"interval": interval}) if sync is not None else None}
    return data, "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- HSRP views
def _router_line(label: str, router: str | None, local: bool, priority: int | None, expires: float | None) -> str:
    if local:
        return f"  {label} router is local"
    if not router:
        return f"  {label} router is unknown"
    extra = []
    if priority is not None:
        extra.append(f"priority {priority}")
    if expires is not None:
        extra.append(f"(expires in {expires:.3f} sec)")
    return f"  {label} router is {router}" + (f", {' '.join(extra)}" if extra else "")


def standby(live: Live, _which: str | None = None) -> tuple[list[dict[str, Any]], str]:
    side = live["sidecar"]
    groups = side.get("hsrp", [])
    ifname_of = {g["network"]: g["interface"] for g in groups}
    now = side.get("time")
    lines = []
    for g in groups:
        version = g.get("version", 2)
        active_local = g["state"] == "Active"
        changes = g.get("state_changes")
        last = (now - g["last_change"]) if now and g.get("last_change") else None
        lines.append(f"{g['interface']} - Group {g['group']}" + (f" (version {version})" if version == 2 else ""))
        lines.append(f"  State is {g['state']}")
        if changes is not None:
            lines.append(f"    {changes} state change{'s' if changes != 1 else ''}, last state change {hms(last)}")
        lines.append(f"  Virtual IP address is {g['virtual_ip']}")
        if active_local:
            lines.append(f"  Active virtual MAC address is {ios_mac(g.get('mac'))}")
        lines.append(f"    Local virtual MAC address is {ios_mac(g.get('mac'))} (interface MAC, gratuitous ARP)")
        lines.append(f"  Hello time {g['hello_ms']} msec, hold time {g['hold_ms']} msec")
        if g.get("next_hello_in") is not None and g["state"] in ("Speak", "Standby", "Active"):
            lines.append(f"    Next hello sent in {g['next_hello_in']:.3f} secs")
        lines.append(f"  Preemption {'enabled' if g['preempt'] else 'disabled'}")
        lines.append(_router_line("Active", g.get("active_router"), active_local, g.get("active_priority"),
                                  g.get("active_expires_in")))
        lines.append(_router_line("Standby", g.get("standby_router"), g["state"] == "Standby",
                                  g.get("standby_priority"), g.get("standby_expires_in")))
        lines.append(f"  Priority {g['effective_priority']} (configured {g['priority']})")
        for network, track in g.get("track", {}).items():
            where = f"{network} ({ifname_of[network]})" if network in ifname_of else network
            lines.append(f"    Track interface {where} state {'Up' if track['up'] else 'Down'} "
                         f"decrement {track['decrement']}")
        lines.append(f"  IP redundancy name is \"{g['name']}\" (cfgd)")
    return groups, "\n".join(lines) + "\n"


def standby_brief(live: Live, _which: str | None = None) -> tuple[list[dict[str, Any]], str]:
    groups = live["sidecar"].get("hsrp", [])
    rows = []
    for g in groups:
        active = "local" if g["state"] == "Active" else (g.get("active_router") or "unknown")
        stby = "local" if g["state"] == "Standby" else (g.get("standby_router") or "unknown")
        rows.append({"interface": g["interface"], "group": g["group"], "priority": g["effective_priority"],
                     "preempt": g["preempt"], "state": g["state"], "active": active, "standby": stby,
                     "virtual_ip": g["virtual_ip"]})
    lines = ["                     P indicates configured to preempt.",
             "                     |",
             "Interface   Grp  Pri P State   Active          Standby         Virtual IP"]
    lines += [f"{r['interface']:<11} {r['group']:<4} {r['priority']:<3} {'P' if r['preempt'] else ' '} "
              f"{r['state']:<7} {r['active']:<15} {r['standby']:<15} {r['virtual_ip']}" for r in rows]
    return rows, "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- redundancy views
def _rf(label: str | None) -> Redundancy:
    return Redundancy.from_label(label or "")


def redundancy_states(live: Live, _which: str | None = None) -> tuple[dict[str, Any], str]:
    side = live["sidecar"]
    mine, peer = _rf(side.get("redundancy")), _rf(side.get("peer_redundancy"))
    channel = side.get("sso_channel", {})
    interval, timeout, age = channel.get("interval_ms"), channel.get("peer_timeout_ms"), channel.get("peer_age")
    communications = "Up" if peer != Redundancy.DISABLED else "Down"
    data = {
        "my_state": {"number": mine.number, "label": mine.label},
        "peer_state": {"number": peer.number, "label": peer.label},
        "mode": "Duplex" if peer != Redundancy.DISABLED else "Simplex",
        "unit": side.get("node"),
        "peer_unit": side.get("peer_node"),
        "redundancy_mode": side.get("mode"),
        "communications": communications,
        "keep_alive_ms": interval,
        "keep_alive_count": int(age * 1000 // interval) if age is not None and interval else None,
        "keep_alive_threshold": timeout // interval if timeout and interval else None,
    }
    mode_text = {"stateful": "Stateful (IKE/IPsec SAs synced by the strongSwan ha plugin)",
                 "stateless": "Stateless (the peer re-negotiates after a switchover)"}.get(side.get("mode") or "",
                                                                                         side.get("mode") or "?")
    if side.get("mode") == "stateful" and not side.get("ha_plugin"):
        mode_text = "Stateful configured, but the ha plugin is off (no SA sync)"
    data["my_state_detail"] = side.get("redundancy_detail") or None
    pairs = [
        ("my state", f"{mine.number:<2} -{mine.label}" + (f" ({data['my_state_detail']})"
                                                           if data["my_state_detail"] else "")),
        ("peer state", f"{peer.number:<2} -{peer.label}"),
        ("Mode", data["mode"]),
        ("Unit", data["unit"] or "?"),
        ("peer Unit", data["peer_unit"] or "unknown"),
        ("Redundancy Mode", mode_text),
        ("Communications", communications),
        None,
        ("keep_alive TMR", f"{interval} milliseconds" if interval else "unknown"),
        ("keep_alive count", "unknown" if data["keep_alive_count"] is None else str(data["keep_alive_count"])),
        ("keep_alive threshold", "unknown" if data["keep_alive_threshold"] is None
         else str(data["keep_alive_threshold"])),
    ]
    width = max(len(p[0]) for p in pairs if p)
    lines = ["" if p is None else f"{p[0]:>{width}} = {p[1]}" for p in pairs]
    return data, "\n".join(lines) + "\n"


_INTERDEV = {Redundancy.ACTIVE: "RF_INTERDEV_STATE_ACT", Redundancy.STANDBY_HOT: "RF_INTERDEV_STATE_STDBY",
             Redundancy.STANDBY_COLD: "RF_INTERDEV_STATE_STDBY_COLD", Redundancy.INITIALIZATION:
             "RF_INTERDEV_STATE_INIT", Redundancy.DISABLED: "RF_INTERDEV_STATE_DISABLED"}


def sync_security(side: dict[str, Any], plugins: list[str]) -> str:
    """The honest sentence about how the SA sync is protected."""
    if not side.get("ha_plugin"):
        return "none needed: no SA sync runs (ha plugin off)"
    if side.get("sync_encrypted"):
        return "IPsec-protected"
    if "kernel-libipsec" in plugins:
        return ("Not configured: the ha sync runs in cleartext on the isolated sync network\n"
                "            because kernel-libipsec cannot IPsec-protect it")
    return "Not configured: the ha sync runs in cleartext on the isolated sync network (no ha secret set)"


def _continuity(side: Mapping[str, Any]) -> str:
    """How the new Active keeps the peer's replay check happy (older sidecars report a bool: True = rekey)."""
    mode = side.get("sequence_continuity")
    if mode == "replay-sync":
        sync = side.get("replay_sync") or {}
        return (f"replay state synced (same SAs continue), {sync.get('sas', 0)} SAs in the synced table, "
                f"{sync.get('tables_sent', 0)} tables sent, {sync.get('tables_received', 0)} received")
    if mode in ("rekey", True):
        return "CHILD_SAs rekeyed on takeover (ha resync)"
    return "off (the peer may drop the new active's ESP as replays)"


def redundancy(live: Live, _which: str | None = None) -> tuple[dict[str, Any], str]:
    side = live["sidecar"]
    plugins = live.get("plugins") or []
    mine, peer = _rf(side.get("redundancy")), _rf(side.get("peer_redundancy"))
    groups = side.get("hsrp", [])
    channel = side.get("sso_channel", {})
    rri = side.get("rri", {})
    replay = side.get("replay_interval") or {}
    security = sync_security(side, plugins)
    data = {
        "state": _INTERDEV[mine], "scheme": "Standby", "group_name": groups[0]["name"] if groups else None,
        "group_state": groups[0]["state"] if groups else None,
        "peer_present": "RF_INTERDEV_PEER_COMM" if peer != Redundancy.DISABLED else "RF_INTERDEV_PEER_NO_COMM",
        "security": security, "sync_encrypted": bool(side.get("sync_encrypted")),
        "kernel_libipsec": "kernel-libipsec" in plugins, "mode": side.get("mode"), "ha_plugin": side.get("ha_plugin"),
        "sync": {"local_ip": channel.get("local_ip"), "peer_ip": channel.get("peer_ip"), "ha_port": HA_SYNC_PORT,
                 "sso_rejected": channel.get("rejected")},
        "replay_interval": replay, "sequence_continuity": side.get("sequence_continuity"), "rri": rri,
    }
    lines = [
        f"Redundancy inter-device state: {data['state']}",
        "  Scheme: Standby",
        f"      Groupname: {data['group_name']} Group State: {data['group_state']}",
        f"  Peer present: {data['peer_present']}",
        f"  Security: {security}",
        "",
        f"  Sync link: {channel.get('local_ip')} <-> {channel.get('peer_ip')} (isolated lab network)",
    ]
    if side.get("ha_plugin"):
        lines.append(f"    SA sync: strongSwan ha plugin, UDP {HA_SYNC_PORT}, segment 1, cleartext"
                     if not side.get("sync_encrypted") else f"    SA sync: strongSwan ha plugin, UDP {HA_SYNC_PORT}")
    else:
        off = ", ha plugin disabled" if side.get("mode") == "stateful" else ""
        lines.append(f"    SA sync: off (redundancy {side.get('mode')}{off})")
    lines += [
        f"    SSO channel: HMAC-SHA256 authenticated state reports, {channel.get('rejected', 0)} rejected",
        f"  Replay interval: inbound {replay.get('inbound')} outbound {replay.get('outbound')}",
        "  ESP sequence continuity: " + _continuity(side),
        "  Reverse route injection: " + (("enabled, " + (", ".join(rri.get("routes") or []) or "no routes")
                                          + (" injected" if rri.get("routes") else " injected (not active)"))
                                         if rri.get("enabled") else "disabled"),
    ]
    return data, "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- crypto detail views
IKE_CODES = ["Codes: C - IKE configuration mode, D - Dead Peer Detection",
             "       K - Keepalives, N - NAT-traversal",
             "       X - IKE Extended Authentication",
             "       psk - Preshared key, rsig - RSA signature",
             "       renc - RSA encryption"]
_IKE_ENCR = {"AES_CBC": "aes", "3DES_CBC": "3des", "DES_CBC": "des", "AES_GCM_16": "aes-gcm", "AES_GCM_12": "aes-gcm",
             "AES_GCM_8": "aes-gcm", "AES_CTR": "aes-ctr", "CHACHA20_POLY1305": "chacha20"}
_IKE_HASH = {"HMAC_SHA1_96": "sha", "HMAC_SHA2_256_128": "sha256", "HMAC_SHA2_384_192": "sha384",
             "HMAC_SHA2_512_256": "sha512", "HMAC_MD5_96": "md5", "PRF_HMAC_SHA2_256": "sha256"}
_DH = {"MODP_768": 1, "MODP_1024": 2, "MODP_1536": 5, "MODP_2048": 14, "MODP_3072": 15, "MODP_4096": 16,
       "MODP_6144": 17, "MODP_8192": 18, "ECP_256": 19, "ECP_384": 20, "ECP_521": 21, "MODP_2048_256": 24,
       "CURVE_25519": 31, "CURVE_448": 32}


def _ike_encr(sa: dict[str, Any]) -> str:
    alg = (sa.get("encr_alg") or "").upper()
    word = _IKE_ENCR.get(alg, alg.lower() or "?")
    size = sa.get("encr_keysize")
    return f"{word}{size}" if size and word.startswith("aes") and size != "128" else word


def _capabilities(sa: dict[str, Any], topo: dict[str, Any] | None) -> str:
    """IOS `Cap.`: D when DPD is configured (topology), N when the SA runs NAT-T (UDP-encapsulated ESP)."""
    caps = ""
    crypto = (topo or {}).get("crypto") or {}
    dpd = str(crypto.get("dpd") or "0")
    if dpd not in ("0", "0ms"):
        caps += "D"
    if any(c.get("encap") for c in sa["child_sas"]) or sa.get("local_port") == "4500":
        caps += "N"
    if sa.get("remote_vips") or sa.get("local_vips"):
        caps += "C"
    return caps


def _auth_word(topo: dict[str, Any] | None) -> str:
    """Every connection labctl renders authenticates with a pre-shared key (swanctl `auth = psk`)."""
    return "psk" if topo else "?"


def isakmp_sa_detail(live: Live, _which: str | None = None) -> tuple[list[dict[str, Any]], str]:
    topo = live.get("topology")
    rows = []
    for sa in live["sas"]:
        rows.append({"conn_id": sa.get("uniqueid"), "local": sa.get("local_host"), "remote": sa.get("remote_host"),
                     "status": ike_status(sa), "encr": _ike_encr(sa),
                     "hash": _IKE_HASH.get((sa.get("integ_alg") or "").upper(), (sa.get("integ_alg") or "").lower()),
                     "auth": _auth_word(topo), "dh": _DH.get((sa.get("dh_group") or "").upper(), sa.get("dh_group")),
                     "lifetime": sa.get("rekey_time") or None, "capabilities": _capabilities(sa, topo),
                     "strongswan_state": sa.get("state"), "ike_version": sa.get("version"),
                     "local_id": sa.get("local_id"), "remote_id": sa.get("remote_id"),
                     "initiator_spi": sa.get("initiator_spi"), "responder_spi": sa.get("responder_spi")})
    lines = [*IKE_CODES, "", "IPv4 Crypto ISAKMP SA", "",
             f"{'C-id':<5} {'Local':<15} {'Remote':<15} {'I-VRF':<6} {'Status':<7} {'Encr':<8} {'Hash':<7} "
             f"{'Auth':<5} {'DH':<3} {'Lifetime':<9} Cap."]
    for r in rows:
        lifetime = hms(r["lifetime"]) if r["lifetime"] else ""
        lines += [f"{r['conn_id'] or '':<5} {r['local'] or '':<15} {r['remote'] or '':<15} {'':<6} {r['status']:<7} "
                  f"{r['encr']:<8} {r['hash'] or '':<7} {r['auth']:<5} {r['dh'] or '':<3} {lifetime:<9} "
                  f"{r['capabilities']}".rstrip(),
                  f"       Engine-id:Conn-id =  SW:{r['conn_id']}"]
        if r["status"] == "STDBY":
            lines.append("       ! labctl: ha-synced copy (strongSwan state PASSIVE)")
        lines.append("")
    if rows:
        lines.append("! labctl: Lifetime = time to the next IKE rekey (strongSwan rekey-time)")
    return rows, "\n".join(lines) + "\n"


def crypto_session_detail(live: Live, which: str | None = None) -> tuple[list[dict[str, Any]], str]:
    topo = live.get("topology")
    data, summary = crypto_session(live, which)
    by_peer = {(d["peer"], d["ike_sa"]["name"]): d for d in data}
    lines = ["Crypto session current status", "",
             "Code: C - IKE Configuration mode, D - Dead Peer Detection",
             "K - Keepalives, N - NAT-traversal, X - IKE Extended Authentication", ""]
    for sa in _selected(live["sas"], which):
        entry = by_peer.get((sa.get("remote_host"), sa.get("name")), {})
        ifname = _interface_of(live, sa.get("local_host"))
        uptime = hms(sa.get("established")) if sa.get("established") else None
        children = []
        for child in sa["child_sas"]:
            children.append({"name": child.get("name"), "uniqueid": child.get("uniqueid"), "state": child.get("state"),
                             "spi_in": child.get("spi_in"), "spi_out": child.get("spi_out"),
                             "packets_in": child["packets_in"], "packets_out": child["packets_out"],
                             "bytes_in": child["bytes_in"], "bytes_out": child["bytes_out"],
                             "life_time": child.get("life_time"), "rekey_time": child.get("rekey_time")})
        entry.update({"uptime": sa.get("established"), "phase1_id": sa.get("remote_id"),
                      "capabilities": _capabilities(sa, topo), "lifetime": sa.get("rekey_time") or None,
                      "child_sas": children})
        lines += [f"Interface: {ifname}"]
        if uptime:
            lines.append(f"Uptime: {uptime}")
        lines += [f"Session status: {_session_status(sa)}",
                  f"Peer: {sa.get('remote_host')} port {sa.get('remote_port')} fvrf: (none) ivrf: (none)"]
        if sa.get("remote_id"):
            lines.append(f"      Phase1_id: {sa.get('remote_id')}")
        ike_up = entry.get("ike_sa", {}).get("status", "?")
        lines += [f"  IKE SA: local {sa.get('local_host')}/{sa.get('local_port')} remote "
                  f"{sa.get('remote_host')}/{sa.get('remote_port')} {ike_up}",
                  f"          Capabilities:{entry['capabilities'] or '(none)'} connid:{sa.get('uniqueid')} "
                  + (f"lifetime:{hms(entry['lifetime'])}" if entry["lifetime"] else "lifetime:(none)")]
        for child in sa["child_sas"]:
            for lt in child["local_ts"] or ["0.0.0.0/0"]:
                for rt in child["remote_ts"] or ["0.0.0.0/0"]:
                    lines.append(f"  IPSEC FLOW: permit ip {flow_side(lt)} {flow_side(rt)}")
            life = child.get("life_time")
            life_text = f" life (sec) {life}" if life else ""
            lines += ["        Active SAs: 2, origin: crypto map",
                      f"        Inbound:  #pkts dec'ed {child['packets_in']}{life_text}, "
                      f"spi {ios_spi(child.get('spi_in'))}",
                      f"        Outbound: #pkts enc'ed {child['packets_out']}{life_text}, "
                      f"spi {ios_spi(child.get('spi_out'))}",
                      f"        ! labctl: CHILD_SA {child.get('name')} #{child.get('uniqueid')} {child.get('state')}, "
                      f"{child['bytes_in']} bytes in, {child['bytes_out']} bytes out"]
        lines.append("")
    return list(by_peer.values()), "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- show ip route
def routes_from_ip(text: str) -> list[dict[str, Any]]:
    """`ip -4 route show` -> [{dest, via, dev, proto, metric, nexthops}] (a `nexthop` line joins the route above)."""
    routes: list[dict[str, Any]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        words = raw.split()
        if raw[:1].isspace() and words[0] == "nexthop" and routes:
            hop = dict(zip(words[1::2], words[2::2], strict=False))
            routes[-1]["nexthops"].append({"via": hop.get("via"), "dev": hop.get("dev")})
            continue
        kind = None
        if words[0] in ("blackhole", "unreachable", "prohibit", "throw", "local", "broadcast", "multicast"):
            kind, words = words[0], words[1:]
        dest = "0.0.0.0/0" if words[0] == "default" else words[0]
        if "/" not in dest:
            dest += "/32"
        opts = dict(zip(words[1::2], words[2::2], strict=False))
        routes.append({"dest": dest, "type": kind, "via": opts.get("via"), "dev": opts.get("dev"),
                       "proto": opts.get("proto", "boot"), "metric": int(opts["metric"]) if
                       opts.get("metric", "").isdigit() else None, "src": opts.get("src"), "nexthops": []})
    return routes


IP_ROUTE_CODES = ["Codes: C - connected, S - static, O - OSPF, E2 - OSPF external type 2,",
                  "       * - candidate default"]


def route_code(route: dict[str, Any]) -> str:
    proto = route["proto"]
    if proto == "kernel":
        code = "C"
    elif proto in ("ospf", "zebra", "188"):
        code = "O"
    else:
        code = "S"  # static, boot, dhcp, RRI (77): IOS installs RRI routes as static
    if route["dest"] == "0.0.0.0/0":
        code += "*"
    return code


def _route_text(route: dict[str, Any], code: str) -> list[str]:
    dest = route["dest"]
    if route["type"]:
        return [f"{code:<5}{dest} is {route['type']}"]
    admin = {"C": None, "O": 110}.get(code.rstrip("*"), 1)
    metric = route["metric"] if code.startswith("O") else 0
    hops = route["nexthops"] or [{"via": route["via"], "dev": route["dev"]}]
    lines = []
    for i, hop in enumerate(hops):
        lead = f"{code:<5}{dest} " if i == 0 else " " * (6 + len(dest))
        if hop["via"] is None:
            lines.append(f"{lead}is directly connected, {hop['dev']}")
        else:
            metric_text = f"[{admin}/{metric}] " if metric is not None else f"[{admin}] "
            lines.append(f"{lead}{metric_text}via {hop['via']}" + (f", {hop['dev']}" if hop["dev"] else ""))
    if route["proto"] == RRI_PROTO:
        lines.append("      ! labctl: reverse route injection (RRI), kernel proto " + RRI_PROTO)
    return lines


def ip_route(live: Live, _which: str | None = None) -> tuple[list[dict[str, Any]], str]:
    routes = sorted(live.get("routes") or [], key=lambda r: (ipaddress.ip_network(r["dest"], strict=False).prefixlen
                                                             == 0, ipaddress.ip_network(r["dest"], strict=False)))
    default = next((r for r in routes if r["dest"] == "0.0.0.0/0" and r["via"]), None)
    lines = [*IP_ROUTE_CODES, "",
             f"Gateway of last resort is {default['via']} to network 0.0.0.0" if default
             else "Gateway of last resort is not set", ""]
    data = []
    for route in routes:
        code = route_code(route)
        data.append({**route, "code": code.rstrip("*"), "candidate_default": code.endswith("*"),
                     "rri": route["proto"] == RRI_PROTO})
        lines += _route_text(route, code)
    return data, "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- show track
def _last_track_change(side: dict[str, Any], network: str) -> float | None:
    changes = [e["time"] for e in side.get("events", []) if e.get("kind") == "track"
               and str(e.get("detail", "")).startswith(f"{network} ")]
    return max(changes) if changes else None


def track(live: Live, _which: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Interface tracking objects as IOS numbers them (one per tracked interface, in configuration order)."""
    side = live["sidecar"]
    groups = side.get("hsrp", [])
    ifname_of = {g["network"]: g["interface"] for g in groups}
    objects: dict[str, dict[str, Any]] = {}
    for g in groups:
        for network, state in g.get("track", {}).items():
            obj = objects.setdefault(network, {"number": len(objects) + 1, "network": network,
                                               "interface": ifname_of.get(network, network), "up": state["up"],
                                               "tracked_by": []})
            obj["tracked_by"].append({"interface": g["interface"], "group": g["group"],
                                      "decrement": state["decrement"], "priority": g["priority"],
                                      "effective_priority": g["effective_priority"]})
    lines = []
    now = side.get("time")
    for obj in objects.values():
        last = _last_track_change(side, obj["network"])
        obj["last_change"] = last
        lines += [f"Track {obj['number']} (via HSRP)",
                  f"  Interface {obj['interface']} line-protocol",
                  f"  Line protocol is {'Up' if obj['up'] else 'Down'}"]
        if last is not None and now:
            lines.append(f"    last change {hms(now - last)}")
        lines.append("  Tracked by:")
        lines += [f"    HSRP {t['interface']} {t['group']} decrement {t['decrement']} "
                  f"(priority {t['effective_priority']}, configured {t['priority']})" for t in obj["tracked_by"]]
    if not objects:
        lines.append("! no interface tracking configured (ha.interfaces[].track)")
    return list(objects.values()), "\n".join(lines) + "\n"

# ---------------------------------------------------------------------------------------- dispatch
VIEWS: dict[str, Callable[[Live, str | None], tuple[Any, str]]] = {
    "standby": standby,
    "standby brief": standby_brief,
    "redundancy": redundancy,
    "redundancy states": redundancy_states,
    "crypto isakmp sa": isakmp_sa,
    "crypto ipsec sa": ipsec_sa,
    "crypto session": crypto_session,
    "crypto ha": crypto_ha,
    "crypto isakmp sa detail": isakmp_sa_detail,
    "crypto session detail": crypto_session_detail,
    "running-config": running_config,
    "ip route": ip_route,
    "track": track,
}


def needs_sidecar(command: str) -> bool:
    return command.startswith(HA_ONLY)


def render(live: Live, command: str, which: str | None = None) -> tuple[Any, str]:
    """(data for --json, IOS-format text) of one parsed show command over a live snapshot."""
    if needs_sidecar(command) and not live.get("sidecar"):
        if live.get("role") == "ha-gateway":
            raise LabctlError(f"{live['node']}: the HSRP/SSO sidecar has written no status yet (is it running?)")
        raise LabctlError(f"{live['node']} is a {live.get('role')} node: it runs no HSRP or redundancy, so "
                          f"`show {command}` has nothing to show (crypto isakmp/ipsec sa and crypto session work "
                          "on peers)")
    data, text = VIEWS[command](live, which)
    return data, text.rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------- labctl status table
def _abbrev(spi: str | None) -> str:
    return (spi or "?")[:4] + "…"


# `labctl status` in 80 columns: short words by design (`--wide` prints them whole)
SHORT = {
    "ha-gateway": "gw", "running": "up", "STANDBY HOT": "HOT", "STANDBY COLD": "COLD", "INITIALIZATION": "INIT",
    "ESTABLISHED": "EST", "PASSIVE": "PAS", "INSTALLED": "INST", "REKEYED": "RKYD", "CONNECTING": "CONN",
    "Active": "A", "Standby": "S", "Listen": "L", "Speak": "Sp", "Init": "I",
}
STATUS_LEGEND = "A/S HSRP Active/Standby · HOT STANDBY HOT · PAS synced copy · --wide for full words"


def status_rows(data: dict[str, Any], wide: bool = False) -> list[list[str]]:
    """One row per node for `labctl status`: fits 80 columns with the short words, 100 with `wide`."""
    word = (lambda text: text) if wide else (lambda text: SHORT.get(text, text))
    rows = []
    for node in data["nodes"]:
        by_state: dict[str, list[str]] = {}
        for g in node.get("hsrp", []):
            by_state.setdefault(g["state"], []).append(str(g["group"]))
        hsrp = " ".join(f"{word(state)} {','.join(groups)}" for state, groups in by_state.items()) or "-"

        def count(items: list[dict[str, Any]]) -> str:
            states: dict[str, int] = {}
            for item in items:
                states[item.get("state") or "?"] = states.get(item.get("state") or "?", 0) + 1
            return (", " if wide else " ").join(f"{n} {word(s)}" for s, n in states.items()) or "-"

        children = node.get("child_sas", [])
        spis = " ".join(f"{_abbrev(c.get('spi_in'))}/{_abbrev(c.get('spi_out'))}" for c in children[:1])
        if len(children) > 1:
            spis += f" +{len(children) - 1}"
        rows.append([node["name"], word(node["role"]), word(node["status"]), hsrp,
                     word(node.get("redundancy") or "-"), count(node.get("ike_sas", [])), count(children),
                     spis or "-"])
    return rows


STATUS_COLUMNS = ("node", "role", "state", "HSRP", "SSO", "IKE SAs", "CHILD SAs", "SPI in/out")


# ---------------------------------------------------------------------------------------- live collection

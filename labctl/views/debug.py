"""`debug crypto ha|crypto ipsec ha|crypto isakmp ha|standby events|redundancy` in IOS-like form (pure).

Two sources: the sidecar's event lines in the gateway's container output (`HH:MM:SS kind: detail`, the format
of labctl.sidecar.contract, Docker-timestamped), and charon's log (`HH:MM:SS.mmm NN[CFG] <conn|id> text`,
strongswan.conf `filelog` with `time_format = %T`, `time_add_ms`, `ike_name`). Each line becomes the IOS
debug line(s) of the same event, prefixed with the time as `service timestamps debug datetime msec` would
(`*HH:MM:SS.mmm:`); a line of the source that has no IOS counterpart is kept as a `!` comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from labctl.errors import LabctlError
from labctl.sidecar.contract import (
    EVENT_CHARON,
    EVENT_HA,
    EVENT_HSRP,
    EVENT_REDUNDANCY,
    EVENT_ROLE,
    EVENT_RRI,
    EVENT_SIDECAR,
    EVENT_SSO,
    EVENT_TRACK,
    EVENT_VIP,
    Redundancy,
    parse_event,
)

COMMANDS = ("crypto ha", "crypto ipsec ha", "crypto isakmp ha", "standby events", "redundancy")
SOURCE = {"crypto ha": "sidecar", "standby events": "sidecar", "redundancy": "sidecar",
          "crypto ipsec ha": "charon", "crypto isakmp ha": "charon"}
KINDS = {
    "standby events": (EVENT_HSRP, EVENT_TRACK, EVENT_VIP, EVENT_SIDECAR),
    "redundancy": (EVENT_REDUNDANCY, EVENT_ROLE, EVENT_SSO, EVENT_SIDECAR),
    "crypto ha": (EVENT_HA, EVENT_RRI, EVENT_REDUNDANCY, EVENT_CHARON, EVENT_SSO),
}
BANNER = {
    "standby events": "HSRP Events debugging is on",
    "redundancy": "Redundancy Facility (RF) debugging is on",
    "crypto ha": "Crypto High Availability Manager debugging is on",
    "crypto ipsec ha": "Crypto IPSEC High Availability debugging is on",
    "crypto isakmp ha": "Crypto ISAKMP High Availability debugging is on",
}


def parse_command(words: Iterable[str]) -> str:
    """`('stand', 'ev')` -> 'standby events'; IOS unique prefixes, like `show`."""
    candidates = [c.split() for c in COMMANDS]
    chosen: list[str] = []
    for i, typed in enumerate(w.lower() for w in words):
        options = sorted({c[i] for c in candidates if len(c) > i and c[i].startswith(typed)})
        word = typed if typed in options else (options[0] if len(options) == 1 else None)
        if word is None:
            reason = f"ambiguous `{typed}` ({', '.join(options)})" if options else f"unknown word `{typed}`"
            raise LabctlError(f"debug {' '.join([*chosen, typed])}: {reason}; labctl debug knows:\n" + known())
        chosen.append(word)
        candidates = [c for c in candidates if len(c) > i and c[i] == word]
    if chosen not in candidates:
        raise LabctlError(f"debug {' '.join(chosen)}: incomplete command; labctl debug knows:\n" + known())
    return " ".join(chosen)


def known() -> str:
    return "\n".join(f"  {c}" for c in COMMANDS)


def lines_of(chunks: Iterable[bytes]) -> Iterator[str]:
    """Whole lines from a stream of byte chunks (a line may span chunks)."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *done, rest = rest.split(b"\n")
        for line in done:
            yield line.decode(errors="replace").rstrip("\r")
    if rest:
        yield rest.decode(errors="replace").rstrip("\r")


# ---------------------------------------------------------------------------------------------- sidecar events
_DOCKER_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT(\d\d:\d\d:\d\d)(?:\.(\d+))?Z (.*)$")
_HSRP = re.compile(r"^(\S+) Grp (\d+) state (\w+) -> (\w+)(?: \((.*)\))?$")
_TRACK = re.compile(r"^(\S+) \((\S+)\) line protocol (up|down)$")
_VIP = re.compile(r"^(claiming|releasing) (\S+) on (\S+)")
_RF = re.compile(r"^my state (.+) -> (.+)$")
_RRI_INJECTED = re.compile(r"^injected (.+)$")
_RRI_WITHDREW = re.compile(r"^withdrew (.+)$")
_SEGMENT = re.compile(r"^segment (\d+) (activated|deactivated)$")
_STATECHANGE_STATES = ("Active", "Standby")


def sidecar_event(line: str) -> dict[str, Any] | None:
    """A container-output line -> {clock, kind, detail} (clock with ms when Docker stamped it); None otherwise."""
    clock_ms = None
    stamped = _DOCKER_STAMP.match(line)
    if stamped:
        clock_ms = f"{stamped.group(1)}.{(stamped.group(2) or '0')[:3].ljust(3, '0')}"
        line = stamped.group(3)
    event = parse_event(line)
    if event is None:
        return None
    return {"clock": clock_ms or f"{event.clock}.000", "kind": event.kind, "detail": event.detail}


def _rf(label: str) -> str:
    state = Redundancy.from_label(label.strip())
    return f"{state.number} -{state.label}" if state.label == label.strip() else label.strip()


def ios_lines(command: str, event: dict[str, Any]) -> list[str]:
    """The IOS debug lines for one sidecar event under `command` (empty when the command does not show it)."""
    kind, detail = event["kind"], event["detail"]
    if kind not in KINDS.get(command, ()):
        return []
    if kind == EVENT_HSRP and (m := _HSRP.match(detail)):
        ifname, group, old, new, reason = m.groups()
        out = []
        if reason:
            out.append(f"HSRP: {ifname} Grp {group} {old}: {reason}")
        out.append(f"HSRP: {ifname} Grp {group} {old} -> {new}")
        if old in _STATECHANGE_STATES or new in _STATECHANGE_STATES:
            out.append(f"%HSRP-5-STATECHANGE: {ifname} Grp {group} state {old} -> {new}")
        return out
    if kind == EVENT_TRACK and (m := _TRACK.match(detail)):
        network, ifname, state = m.groups()
        return [f"HSRP: {ifname} Interface {state}",
                f"%LINEPROTO-5-UPDOWN: Line protocol on Interface {ifname}, changed state to {state}",
                f"%TRACK-6-STATE: interface {ifname} line-protocol {'Down -> Up' if state == 'up' else 'Up -> Down'}"
                f" ! labctl network {network}"]
    if kind == EVENT_VIP and (m := _VIP.match(detail)):
        action, ip, ifname = m.groups()
        if action == "claiming":
            return [f"HSRP: {ifname} API Add active HSRP addresses to ARP table ({ip}, gratuitous ARP sent)"]
        return [f"HSRP: {ifname} API Remove active HSRP addresses from ARP table ({ip})"]
    if kind == EVENT_REDUNDANCY and (m := _RF.match(detail)):
        return [f"RF: my state = {_rf(m.group(1))} -> {_rf(m.group(2))}"]
    if kind == EVENT_ROLE:
        return [f"RF: HSRP role of the node {detail}"]
    if kind == EVENT_HA and (m := _SEGMENT.match(detail)):
        return [f"Crypto HA: ha plugin segment {m.group(1)} {m.group(2)} "
                f"({'IKE/IPsec SAs ACTIVE' if m.group(2) == 'activated' else 'IKE/IPsec SAs STANDBY'})"]
    if kind == EVENT_HA:
        return [f"Crypto HA: {detail}"]
    if kind == EVENT_RRI and (m := _RRI_INJECTED.match(detail)):
        return [f"IPSEC(rte_mgr): VPN Route Added {route}" for route in m.group(1).split(", ")]
    if kind == EVENT_RRI and (m := _RRI_WITHDREW.match(detail)):
        return [f"IPSEC(rte_mgr): VPN Route Removed {route}" for route in m.group(1).split(", ")]
    if kind == EVENT_SSO:
        return [f"RF: SSO {detail}"]
    return [f"! {kind}: {detail}"]


def sidecar_debug(command: str, lines: Iterable[str]) -> Iterator[str]:
    """Timestamped IOS debug lines of `command` from container-output lines."""
    for line in lines:
        event = sidecar_event(line)
        if event is None:
            continue
        for text in ios_lines(command, event):
            yield f"*{event['clock']}: {text}"


# ---------------------------------------------------------------------------------------------- charon log
_CHARON = re.compile(r"^(\d\d:\d\d:\d\d(?:\.\d+)?) (\d+)\[(\w+)\] (?:<([^>]*)> )?(.*)$")
_HA_WORDS = re.compile(r"\bHA\b|PASSIVE|passive|resync|heartbeat|\bsegments?\b")
_PASSIVE_IKE = re.compile(r"^installed HA passive IKE_SA '([^']*)' ([^\[\s]+)\[([^\]]*)\]\.\.\.([^\[\s]+)\[([^\]]*)\]")
_HA_CHILD = re.compile(r"^installed HA CHILD_SA (\S+) (.+?) ?=== ?(.+?) \(segment in: (\d+)(\*?), out: (\d+)(\*?)\)")


def charon_line(line: str) -> dict[str, Any] | None:
    m = _CHARON.match(line.rstrip())
    if not m:
        return None
    clock, thread, group, sa, text = m.groups()
    if "." not in clock:
        clock += ".000"
    return {"clock": clock, "thread": thread, "group": group, "sa": sa, "text": text}


def _is_ike(text: str) -> bool:
    if "CHILD_SA" in text:
        return False
    return "IKE_SA" in text or "heartbeat" in text or "segment" in text or "keymat" in text or "nodes peer" in text


def _is_child(text: str) -> bool:
    return "CHILD_SA" in text or "segment" in text or "heartbeat" in text


def charon_ios_lines(command: str, entry: dict[str, Any]) -> list[str]:
    """The IOS debug lines of one charon log entry under `crypto ipsec ha` / `crypto isakmp ha`."""
    text = entry["text"]
    if entry["group"] not in ("CFG", "IKE", "CHD", "KNL") or not _HA_WORDS.search(text):
        return []
    if command == "crypto isakmp ha" and _is_ike(text):
        if m := _PASSIVE_IKE.match(text):
            _name, local, _lid, remote, _rid = m.groups()
            return [f"IKE HA:({local}) Adding STANDBY IKE SA",
                    f"IKE HA:Create peer struct for local {local} remote {remote}",
                    f"IKE HA:IKE SA inserted on standby with src = {remote}, dst = {local}"]
        return [f"IKE HA:{text}"]
    if command == "crypto ipsec ha" and _is_child(text):
        if m := _HA_CHILD.match(text):
            name, local_ts, remote_ts, seg_in, act_in, seg_out, act_out = m.groups()
            standby = not (act_in and act_out)
            return ["IPSec HA (crypto_ha_ipsec_mgr_recv_add_sas):HA mgr wants to insert the following bundle",
                    f"IPSec HA (crypto_ha_ipsec_mgr_recv_add_sas):{name} {local_ts} === {remote_ts} "
                    f"(segment in {seg_in}{' active' if act_in else ''}, out {seg_out}{' active' if act_out else ''})",
                    "IPSec HA (crypto_ha_ipsec_notify_add_sa):" + ("operation not performed as standby"
                                                                    if standby else "SA installed on the active")]
        return [f"IPSec HA:{text}"]
    return []


def charon_debug(command: str, lines: Iterable[str], since_clock: str | None = None) -> Iterator[str]:
    """Timestamped IOS debug lines from charon log lines (`since_clock`: skip entries before this HH:MM:SS)."""
    for line in lines:
        entry = charon_line(line)
        if entry is None or (since_clock and entry["clock"] < since_clock):
            continue
        for text in charon_ios_lines(command, entry):
            yield f"*{entry['clock']}: {text}"


def debug_lines(command: str, lines: Iterable[str], since_clock: str | None = None) -> Iterator[str]:
    if SOURCE[command] == "charon":
        return charon_debug(command, lines, since_clock)
    return sidecar_debug(command, lines)

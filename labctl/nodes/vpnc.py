"""Easy VPN clients that run vpnc (the open-source Cisco VPN client): every in-container command for them.

vpnc has no control socket: its own side is what labctl reads. The restart loop (render/templates/
init-vpnc.sh.j2) keeps vpnc's pid in a file and its output plus a `labctl: ... vpnc started, pid N` line per
start in one log; vpnc-script puts the mode-config address on the tun interface. Connected = the vpnc
process alive and its tun addressed. Used by readiness (`up`), `labctl status` and the failover verdict.
"""

from __future__ import annotations

import re
from typing import Any

from labctl.model.topology import Topology
from labctl.nodes.logscan import last_failure
from labctl.runtime import NodeHandle
from labctl.runtime.spec import VPNC_GO, VPNC_IFNAME, VPNC_LOG, VPNC_PID

LOG_TAIL_BYTES = 20000
STAMP = r"(?:\d\d:\d\d:\d\d\.\d+ )?"  # the UTC time the restart loop puts before each line (older logs: none)
STAMPED_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) (.*)$")  # hours, minutes, seconds, the line vpnc wrote
STARTED = re.compile(rf"^{STAMP}labctl: \S+ vpnc started, pid (\d+)$", re.MULTILINE)
# one shell round trip: the pid the loop recorded (if that process is alive), the tun address, how many
# times the loop started vpnc
LOOK = (f"pid=$(cat {VPNC_PID} 2>/dev/null); [ -n \"$pid\" ] && kill -0 \"$pid\" 2>/dev/null && echo pid=$pid; "
        f"ip -4 -o addr show dev {VPNC_IFNAME} 2>/dev/null | awk '{{print \"address=\" $4}}'; "
        f"echo starts=$(grep -c 'labctl: .* vpnc started' {VPNC_LOG} 2>/dev/null)")

# (pattern in vpnc's log, the reason a user reads); the last match in the log wins
FAILURE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"hash comparison failed|check group password|AUTHENTICATION_FAILED"),
     "IKE authentication failed: the group key does not match (wrong group PSK?)"),
    (re.compile(r"INVALID_EXCHANGE_TYPE|INVALID_ID_INFORMATION"),
     "the server rejected the group identity (does it match the group name as a KEY_ID?)"),
    (re.compile(r"NO_PROPOSAL_CHOSEN"),
     "no proposal chosen: the server accepts none of the algorithms vpnc offers"),
    (re.compile(r"authentication unsuccessful|xauth.*fail", re.IGNORECASE),
     "XAuth failed: the server rejected the user name or password"),
    (re.compile(r"no response from target|receiving packet: No route to host"),
     "the server does not answer"),
    (re.compile(r"connection terminated by dead peer detection"),
     "the session ended by dead peer detection (the restart loop reconnects)"),
    (re.compile(r"Discarding ancient ESP packet"),
     "ESP packets dropped as replays (the gateway restarted its sequence numbers)"),
]

# what vpnc's log says happened between two instants, as counts (the keys of experiment/events.LOG_PATTERNS
# that apply, plus vpnc's own)
LOG_PATTERNS = {
    "new_ike_sa": STARTED,  # vpnc negotiates phase 1 only when (re)started: a restart is a new session
    # every Quick Mode vpnc completes (its first, its own rekeys) prints the selected IPsec SA: new SPIs
    "new_spis": re.compile(rf"^{STAMP}IPSEC SA selected ", re.MULTILINE),
    "replay_drops": re.compile(r"Discarding (?:ancient|replayed) ESP packet"),
    # ESP on an SPI vpnc never agreed to / with keys it does not share: a gateway-initiated Quick Mode that
    # vpnc did not (or not correctly) take over
    "unknown_spi": re.compile(r"unknown spi 0x[0-9a-f]+ from peer"),
    "hmac_mismatch": re.compile(r"HMAC mismatch in ESP mode"),
    "dpd_terminated": re.compile(r"connection terminated by dead peer detection"),
    "exits": re.compile(rf"^{STAMP}labctl: \S+ vpnc exited", re.MULTILINE),
}


def look(node: NodeHandle) -> dict[str, Any]:
    """The live vpnc of one client: pid (None when not running), tun address, how often the loop started it."""
    code, out = node.exec(["sh", "-c", LOOK], timeout=3)
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line) if code == 0 else {}
    starts = fields.get("starts", "0").strip()
    return {"pid": int(fields["pid"]) if fields.get("pid", "").isdigit() else None,
            "address": fields["address"].split("/")[0] if fields.get("address") else None,
            "starts": int(starts) if starts.isdigit() else 0}


def start(node: NodeHandle) -> bool:
    """Let the client's restart loop make its first connect (it waits for the go file)."""
    return node.exec(["touch", VPNC_GO], timeout=3)[0] == 0


def reconnect(node: NodeHandle) -> bool:
    """End the running vpnc: its restart loop starts a new session (what a user does when nothing passes)."""
    return node.exec(["sh", "-c", f"kill \"$(cat {VPNC_PID})\""], timeout=3)[0] == 0


def log_size(node: NodeHandle) -> int:
    code, out = node.exec(["stat", "-c", "%s", VPNC_LOG])
    return int(out.strip()) if code == 0 and out.strip().isdigit() else 0


def log_since(node: NodeHandle, offset: int) -> str:
    code, out = node.exec(["tail", "-c", f"+{offset + 1}", VPNC_LOG])
    return out if code == 0 else ""


def log_tail(node: NodeHandle, size: int = LOG_TAIL_BYTES) -> str:
    code, out = node.exec(["tail", "-c", str(size), VPNC_LOG], timeout=3)
    return out if code == 0 else ""


def count_events(text: str) -> dict[str, int]:
    return {name: len(pattern.findall(text)) for name, pattern in LOG_PATTERNS.items()}


def failure_reason(log: str) -> str | None:
    """The last failure vpnc logged, as a sentence; None when it logged none."""
    return last_failure(log, FAILURE_PATTERNS)


def since_last_start(log: str) -> str:
    """The part of the log written by the vpnc running now (or that ran last)."""
    starts = list(STARTED.finditer(log))
    return log[starts[-1].start():] if starts else log


def report(topo: Topology, handle: NodeHandle) -> dict[str, Any]:
    """One vpnc client, in the shape of `nodes.client.report` (`ike_sa` None: vpnc lists no SAs) plus `kind`,
    `pid` and `starts` (how often its restart loop started vpnc: a new session each time)."""
    assert topo.easyvpn is not None
    login = topo.easyvpn.client_login(handle.name)
    report: dict[str, Any] = {
        "name": handle.name, "kind": "vpnc", "user": login["user"], "expect_failure": login["expect_failure"],
        "autoconnect": login["connect"], "state": "down", "virtual_ip": None, "ike_sa": None, "reason": None,
        "pid": None, "starts": 0,
    }
    if handle.exec(["true"], timeout=3)[0] != 0:
        report["reason"] = "container not running"
        return report
    live = look(handle)
    report.update(pid=live["pid"], starts=live["starts"])
    if live["pid"] and live["address"]:
        report.update(state="connected", virtual_ip=live["address"])
        return report
    log = log_tail(handle)
    if not login["connect"]:
        report["state"] = "idle"
        return report
    # the reason of the last vpnc that ran (a failure of an earlier one was already retried)
    starts = list(STARTED.finditer(log))
    last = log[starts[-2].start():] if len(starts) > 1 and live["pid"] else since_last_start(log)
    reason = failure_reason(last)
    report.update(state="failed" if reason else "connecting", reason=reason)
    return report


TELLING = re.compile(rf"^{STAMP}(?:labctl: .*|vpnc: (?!Accepting ).*)", re.MULTILINE)  # not the per-packet lines


def telling_lines(text: str, limit: int = 4) -> list[str]:
    """The lines of a vpnc log worth quoting in a verdict (replay drops, DPD, exits, errors): the first and
    the last ones, at most `limit`, each once."""
    lines = list(dict.fromkeys(m.group(0).strip() for m in TELLING.finditer(text)))
    return lines if len(lines) <= limit else [*lines[: limit // 2], *lines[-(limit - limit // 2):]]

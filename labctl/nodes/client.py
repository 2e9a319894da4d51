"""Easy VPN clients as labctl sees them live: connected (IKE SA, virtual IP) or why not.

The client's own charon is the witness: its IKE SA and mode-config address from `swanctl --list-sas`,
and, for a client that is not connected, the reason from its charon log (what the server told it, or
what it could not verify). Used by readiness (`up`), `labctl status` and the failover verdict. Clients
that run vpnc instead (`easyvpn.clients.vpnc`) are read by `nodes.vpnc`; the functions here dispatch.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from netaddr import IPAddress, IPNetwork

from labctl.model.topology import Topology
from labctl.nodes import charon, vpnc
from labctl.nodes.logscan import last_failure
from labctl.runtime import LabHandle, NodeHandle

LOG_TAIL_BYTES = 20000

# (pattern in the client's charon log, the reason a user reads); the last match in the log wins
FAILURE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"received AUTHENTICATION_FAILED"),
     "IKE authentication failed: the server rejected the group key (wrong group PSK?)"),
    (re.compile(r"(calculated HASH does not match|authentication of '.*' with pre-shared key failed|"
                r"integrity check failed|invalid HASH_V1 payload length, decryption failed|"
                r"message parsing failed|could not decrypt payloads)", re.IGNORECASE),
     "IKE authentication failed: the server's proof does not match our group key (wrong group PSK?)"),
    (re.compile(r"(XAuth authentication of '.*' \(myself\) failed|received XAuth status: FAIL|"
                r"XAuth status FAILED|xauth .*failed)", re.IGNORECASE),
     "XAuth failed: the server rejected the user name or password"),
    (re.compile(r"(no virtual IP|not assigned a virtual IP|installing virtual IP .* failed|"
                r"INTERNAL_ADDRESS_FAILURE|no internal address|no virtual IP received)", re.IGNORECASE),
     "no virtual IP: the server's address pool gave none (pool exhausted?)"),
    (re.compile(r"(giving up after \d+ retransmits|peer not responding)", re.IGNORECASE),
     "the server does not answer (retransmits exhausted)"),
]


def client_vip(sa: dict[str, Any]) -> str | None:
    vips = sa.get("local_vips") or []
    return vips[0].split("/")[0] if vips else None


# charon's line when an IKE SA comes up (IKEv1 included): what a failure must follow to be the latest attempt's
ESTABLISHED = re.compile(r"IKE_SA \S+\[\d+\] established between")


def failure_reason(log: str) -> str | None:
    """The last failure the client's charon logged, as a sentence; None when it logged none."""
    return last_failure(log, FAILURE_PATTERNS)


def failed_since_established(log: str) -> str | None:
    """The last failure logged after the client's last established IKE SA, None when there is none.

    A client that keeps failing (keyingtries = 0) is retrying most of the time: an IKE SA is being set up at
    almost every look. Its state is `failed` as long as nothing came up since the failure, not `connecting`
    (CI read a client whose XAuth was refused as `connecting` at every look for 60 s)."""
    ups = list(ESTABLISHED.finditer(log))
    return failure_reason(log[ups[-1].end():] if ups else log)


def report(topo: Topology, handle: NodeHandle) -> dict[str, Any]:
    """One client: configured login, live IKE SA and virtual IP, state and (if not connected) reason."""
    assert topo.easyvpn is not None
    node = handle.name
    if topo.easyvpn.client_kind(node) == "vpnc":
        return vpnc.report(topo, handle)
    login = topo.easyvpn.client_login(node)
    report: dict[str, Any] = {
        "name": node, "kind": "strongswan", "user": login["user"], "expect_failure": login["expect_failure"],
        "autoconnect": login["connect"], "state": "down", "virtual_ip": None, "ike_sa": None, "reason": None,
    }
    code, _ = handle.exec(["true"], timeout=3)
    if code != 0:
        report["reason"] = "container not running"
        return report
    sas = charon.sas(handle)
    for sa in sas:
        vip = client_vip(sa)
        if sa.get("state") == "ESTABLISHED" and vip:
            report.update(state="connected", virtual_ip=vip, ike_sa={
                "uniqueid": sa.get("uniqueid"), "initiator_spi": sa.get("initiator_spi"),
                "responder_spi": sa.get("responder_spi"),
                "child_sas": [{k: c.get(k) for k in ("name", "state", "spi_in", "spi_out")}
                              for c in sa.get("child_sas", [])]})
            return report
    log = charon.log_tail(handle, LOG_TAIL_BYTES)
    reason = failure_reason(log)
    if sas:
        report["state"] = "failed" if failed_since_established(log) else "connecting"
        established = [sa for sa in sas if sa.get("state") == "ESTABLISHED"]
        if established and not any(client_vip(sa) for sa in established):
            reason = reason or "IKE SA up but no virtual IP assigned"
    elif not login["connect"]:
        report["state"] = "idle"
    else:
        report["state"] = "failed" if reason else "connecting"
    report["reason"] = reason
    return report


def reports(topo: Topology, lab: LabHandle) -> list[dict[str, Any]]:
    """Every Easy VPN client of the lab, read in parallel."""
    if not topo.easyvpn:
        return []
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda n: report(topo, lab.node(n)), topo.easyvpn.client_names()))


def expected_clients(topo: Topology) -> list[str]:
    """Clients that `up` starts and that are configured to succeed."""
    ez = topo.easyvpn
    if not ez:
        return []
    return [n for n in ez.client_names() if ez.client_login(n)["connect"] and not ez.client_login(n)["expect_failure"]]


def inside_host(topo: Topology) -> tuple[str, str] | None:
    """(name, address) of the first host in the split-include networks: the clients' probe partner."""
    ez = topo.easyvpn
    subnets = [IPNetwork(str(s)) for s in ((ez.split_include if ez else []) or topo.crypto.local_subnets)]
    for name, host in topo.hosts.items():
        address = str(next(iter(host.addresses.values())))
        if any(IPAddress(address) in s for s in subnets):
            return name, address
    return None


def is_vpnc(topo: Topology, name: str) -> bool:
    return bool(topo.easyvpn) and topo.easyvpn.client_kind(name) == "vpnc"  # type: ignore[union-attr]


def log_size(topo: Topology, handle: NodeHandle) -> int:
    """Where the client's log (charon's, or vpnc's restart loop's) ends now."""
    return vpnc.log_size(handle) if is_vpnc(topo, handle.name) else charon.log_size(handle)


def log_since(topo: Topology, handle: NodeHandle, offset: int) -> str:
    return vpnc.log_since(handle, offset) if is_vpnc(topo, handle.name) else charon.log_since(handle, offset)

"""Easy VPN clients as labctl sees them live: connected (IKE SA, virtual IP) or why not.

The client's own charon is the witness: its IKE SA and mode-config address from `swanctl --list-sas`,
and, for a client that is not connected, the reason from its charon log (what the server told it, or
what it could not verify). Used by readiness (`up`), `labctl status` and the failover verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
from netaddr import IPAddress, IPNetwork

from labctl.errors import ReadinessTimeout
from labctl.model.topology import Topology
from labctl.runtime.docker import lab as runtime
from labctl.status import node_sas

CHARON_LOG = "/var/log/charon.log"
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


def failure_reason(log: str) -> str | None:
    """The last failure the client's charon logged, as a sentence; None when it logged none."""
    best: tuple[int, str] | None = None
    for pattern, reason in FAILURE_PATTERNS:
        for match in pattern.finditer(log):
            if best is None or match.start() >= best[0]:
                best = (match.start(), reason)
    return best[1] if best else None


def client_report(client: docker.DockerClient, topo: Topology, node: str) -> dict[str, Any]:
    """One client: configured login, live IKE SA and virtual IP, state and (if not connected) reason."""
    assert topo.easyvpn is not None
    login = topo.easyvpn.client_login(node)
    report: dict[str, Any] = {
        "name": node, "user": login["user"], "expect_failure": login["expect_failure"],
        "autoconnect": login["connect"], "state": "down", "virtual_ip": None, "ike_sa": None, "reason": None,
    }
    code, _ = runtime.exec_in(client, topo.name, node, ["true"], timeout=3)
    if code != 0:
        report["reason"] = "container not running"
        return report
    sas = node_sas(client, topo.name, node)
    for sa in sas:
        vip = client_vip(sa)
        if sa.get("state") == "ESTABLISHED" and vip:
            report.update(state="connected", virtual_ip=vip, ike_sa={
                "uniqueid": sa.get("uniqueid"), "initiator_spi": sa.get("initiator_spi"),
                "responder_spi": sa.get("responder_spi"),
                "child_sas": [{k: c.get(k) for k in ("name", "state", "spi_in", "spi_out")}
                              for c in sa.get("child_sas", [])]})
            return report
    code, log = runtime.exec_in(client, topo.name, node, ["tail", "-c", str(LOG_TAIL_BYTES), CHARON_LOG], timeout=3)
    reason = failure_reason(log if code == 0 else "")
    if sas:
        report["state"] = "connecting"
        established = [sa for sa in sas if sa.get("state") == "ESTABLISHED"]
        if established and not any(client_vip(sa) for sa in established):
            reason = reason or "IKE SA up but no virtual IP assigned"
    elif not login["connect"]:
        report["state"] = "idle"
    else:
        report["state"] = "failed" if reason else "connecting"
    report["reason"] = reason
    return report


def client_reports(client: docker.DockerClient, topo: Topology) -> list[dict[str, Any]]:
    if not topo.easyvpn:
        return []
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda n: client_report(client, topo, n), topo.easyvpn.client_names()))


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


def wait_clients(client: docker.DockerClient, topo: Topology, until: Callable[..., None]) -> None:
    """Readiness: every good client connected with a pool address and pinging the inside host."""
    names = expected_clients(topo)
    if not names:
        return
    reports: dict[str, dict[str, Any]] = {}

    def connected() -> bool:
        reports.update({r["name"]: r for r in client_reports(client, topo) if r["name"] in names})
        return all(reports.get(n, {}).get("state") == "connected" for n in names)

    try:
        until(f"Easy VPN clients {', '.join(names)} connected with a pool address", connected, 0.2)
    except ReadinessTimeout as exc:
        why = "; ".join(f"{n}: {r['state']}" + (f" ({r['reason']})" if r.get("reason") else "")
                        for n, r in reports.items() if r.get("state") != "connected")
        raise ReadinessTimeout(f"{exc}: {why}") from None
    target = inside_host(topo)
    if target:
        def ping_all() -> bool:
            with ThreadPoolExecutor(max_workers=8) as pool:
                codes = pool.map(lambda n: runtime.exec_in(client, topo.name, n, ["ping", "-c1", "-W1", target[1]])[0],
                                 names)
            return all(code == 0 for code in codes)

        until(f"ping {target[0]} ({target[1]}) from every client through its tunnel", ping_all, 0.0)

"""When is a lab ready: staged checks against the live daemons; a timeout names the stage that never completed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from labctl.errors import LabctlError, ReadinessTimeout
from labctl.lab.running import RunningLab
from labctl.model.helpers import host_address, inside_and_remote_hosts
from labctl.nodes import charon, client, gateway, host, vpnc

Progress = Callable[[str], None]
Until = Callable[..., None]
TAIL_KINDS = ("hsrp", "role", "redundancy", "sso", "charon", "ha")
# what a crashing sidecar leaves on stderr: the init loop's restart line and the exception that ended it
CRASH_LINE = re.compile(r"sidecar exited|^\w+(\.\w+)*(Error|Exception)\b")
# a vpnc client connected but passing no traffic this long is reconnected once (vpnc keeps a session whose
# ESP the gateway's CHILD_SA rekey broke: it answers the gateway's DPD and never exits by itself)
VPNC_RECONNECT_AFTER = 5.0


def gateway_log_tails(lab: RunningLab, lines: int = 8) -> str:
    """The gateways' last sidecar events, for a readiness timeout to say what the HA pair was doing."""
    out = []
    for node in lab.topo.ha.nodes:
        try:
            text = lab.node(node).logs(since=time.time() - 120)
        except LabctlError:
            continue
        out += [f"\n  {node}: {event}" for event in telling_events(text)[-lines:]]
    return "".join(out)


def telling_events(text: str) -> list[str]:
    """A gateway's log lines worth quoting: its HA events (without the log's own timestamp) and, should its
    sidecar crash in a loop, the restart line and the exception (a readiness timeout must say why)."""
    bodies = [line.split(" ", 1)[-1] for line in text.splitlines()]  # each line starts with Docker's timestamp
    return [body for body in bodies if CRASH_LINE.search(body) or any(f" {kind}: " in body for kind in TAIL_KINDS)]


def wait_clients(lab: RunningLab, until: Until, vpnc_clients: bool = False) -> None:
    """Every good Easy VPN client (of one kind: strongSwan, or with `vpnc_clients` vpnc) connected with a pool
    address and pinging the inside host. vpnc clients are let connect first (`nodes.vpnc.start`)."""
    names = [n for n in client.expected_clients(lab.topo) if client.is_vpnc(lab.topo, n) == vpnc_clients]
    if vpnc_clients:
        for name in names:
            vpnc.start(lab.node(name))
    if not names:
        return
    reports: dict[str, dict[str, Any]] = {}

    def connected() -> bool:
        reports.update({r["name"]: r for r in client.reports(lab.topo, lab.handle) if r["name"] in names})
        return all(reports.get(n, {}).get("state") == "connected" for n in names)

    try:
        until(f"Easy VPN clients {', '.join(names)} connected with a pool address", connected, 0.2)
    except ReadinessTimeout as exc:
        why = "; ".join(f"{n}: {r['state']}" + (f" ({r['reason']})" if r.get("reason") else "")
                        for n, r in reports.items() if r.get("state") != "connected")
        raise ReadinessTimeout(f"{exc}: {why}") from None
    target = client.inside_host(lab.topo)
    if target:
        since, reconnected = time.monotonic(), set()

        def ping_all() -> bool:
            with ThreadPoolExecutor(max_workers=8) as pool:
                ok = dict(zip(names, pool.map(lambda n: lab.node(n).exec(["ping", "-c1", "-W1", target[1]])[0] == 0,
                                              names), strict=True))
            if vpnc_clients and time.monotonic() - since > VPNC_RECONNECT_AFTER:
                for name in [n for n, good in ok.items() if not good and n not in reconnected]:
                    vpnc.reconnect(lab.node(name))  # as its user would: the session is dead, start another
                    reconnected.add(name)
            return all(ok.values())

        until(f"ping {target[0]} ({target[1]}) from {', '.join(names)} through the tunnel", ping_all, 0.0)


def redundancy_states(statuses: dict[str, dict]) -> str:
    """`; gw1 STANDBY COLD (what it lacks), gw2 ACTIVE`: the gateways' last redundancy states, for a timeout."""
    states = [f"{node} {s.get('redundancy') or 'no status'}" + (f" ({s['redundancy_detail']})"
                                                                  if s.get("redundancy_detail") else "")
              for node, s in statuses.items()]
    return f"; {', '.join(states)}" if states else ""


def wait_ready(lab: RunningLab, deadline: float, progress: Progress, stages: dict[str, float],
               started: float) -> None:
    """charon answering, an Active gateway, clients, traffic through the tunnel, IKE up, standby HOT."""
    topo = lab.topo
    strong_nodes = [*topo.ha.nodes, *topo.peers]
    inside, remote = inside_and_remote_hosts(topo)

    def until(stage: str, check: Callable[[], bool], interval: float = 0.05,
              why: Callable[[], str] = lambda: "") -> None:
        progress(f"waiting: {stage}")
        while not check():
            if time.monotonic() > deadline:
                waited = time.monotonic() - started
                raise ReadinessTimeout(f"lab {lab.name} did not get ready: {stage} (after {waited:.1f}s){why()}"
                                       + gateway_log_tails(lab))
            time.sleep(interval)
        stages[stage] = time.monotonic() - started
        progress(f"ready: {stage} ({stages[stage]:.2f}s)")

    silent = list(strong_nodes)  # the nodes whose charon did not answer at the last check

    def answering() -> bool:
        silent[:] = [n for n in silent if not charon.answering(lab.node(n))]
        return not silent

    until("charon answering on " + ", ".join(strong_nodes), answering,
          why=lambda: f"; not answering: {', '.join(silent)}")
    until("an HSRP Active gateway", lambda: lab.active_gateway() is not None)
    if topo.easyvpn:
        wait_clients(lab, until)
    if inside and remote:
        target = host_address(topo, remote)
        until(f"ping {inside} -> {remote} ({target}) through the tunnel",
              lambda: host.ping(lab.node(inside), target), interval=0.0)

    def ike_up() -> bool:
        active = lab.active_gateway()
        nodes = [*topo.peers, active] if active else []
        return bool(nodes) and all(
            any(sa["state"] == "ESTABLISHED" and sa["child_sas"] for sa in charon.sas(lab.node(n))) for n in nodes)

    until("IKE SA established on the peer and the active gateway", ike_up)
    if topo.redundancy == "stateful":
        last: dict[str, dict] = {}

        def standby_hot() -> bool:
            last.update({n: gateway.sidecar_status(lab.node(n)) or {} for n in topo.ha.nodes})
            if not any(s.get("ha_plugin") for s in last.values()):
                return True  # `--sabotage no-sync`: nothing is synced, nothing to wait for
            return any(s.get("redundancy") == "STANDBY HOT" for s in last.values())

        until("standby gateway STANDBY HOT (IKE/IPsec state synced)", standby_hot,
              why=lambda: redundancy_states(last))
    if topo.easyvpn:  # vpnc clients connect to a pair whose startup resync is over (init-vpnc.sh.j2 says why)
        wait_clients(lab, until, vpnc_clients=True)

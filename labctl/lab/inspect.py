"""What `labctl show` reads from one node right now (the views turn it into IOS text)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from labctl.errors import LabctlError, UsageError
from labctl.nodes import charon, gateway, ios
from labctl.runtime import LabHandle
from labctl.views import clear as clear_view
from labctl.views.show import NEEDS_TOPOLOGY, Live, interfaces_from_ip, plugins_from_stats, routes_from_ip

ANY_ROLE = ("ip route",)  # commands that work on any node (hosts and routers have a routing table too)


def collect(handle: LabHandle, node: str, command: str) -> Live:
    """Read what `command` needs from the node's daemons, in parallel."""
    states = {s.name: s for s in handle.states()}
    if not states:
        raise UsageError(f"no lab named {handle.name} is running (`labctl status` lists labs)")
    if node not in states:
        raise LabctlError(f"lab {handle.name} has no node {node}; nodes: {', '.join(sorted(states))}")
    state = states[node]
    if state.role not in ("ha-gateway", "peer") and command not in ANY_ROLE:
        raise LabctlError(f"{node} is a {state.role}: show commands need an HA gateway or a peer "
                          f"({', '.join(n for n, s in sorted(states.items()) if s.role in ('ha-gateway', 'peer'))})")
    if not state.running:
        raise LabctlError(f"{node} is not running ({state.status})")
    target = handle.node(node)
    jobs: dict[str, Callable[[], Any]] = {"interfaces": lambda: interfaces_from_ip(gateway.interfaces_text(target))}
    if command.startswith("crypto"):
        jobs["sas"] = lambda: charon.sas(target)
    if state.role == "ha-gateway":
        jobs["sidecar"] = lambda: gateway.sidecar_status(target)
    if command == "redundancy":
        jobs["plugins"] = lambda: plugins_from_stats(charon.stats(target))
    if command == "ip route":
        jobs["routes"] = lambda: routes_from_ip(ios.routes_text(target))
    if command in NEEDS_TOPOLOGY:
        jobs["topology"] = lambda: _topology(handle)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        live: Live = {"node": node, "role": state.role, "sas": [], "sidecar": None, "plugins": [], "routes": [],
                      "topology": None}
        live.update({key: future.result() for key, future in futures.items()})
    return live


def _topology(handle: LabHandle) -> dict[str, Any]:
    """The running lab's effective topology (file + `up` overrides) as plain data for the views."""
    from labctl.lab.running import open_lab

    return open_lab(handle).topo.model_dump(mode="json")


def clear(handle: LabHandle, node: str, what: str, which: str | None) -> list[dict[str, Any]]:
    """`clear crypto WHAT [WHICH]` on `node`: delete the chosen SAs through swanctl, then check with a fresh
    `--list-sas` which are really gone (the actions come back marked `cleared`)."""
    states = {s.name: s for s in handle.states()}
    if not states:
        raise UsageError(f"no lab named {handle.name} is running (`labctl status` lists labs)")
    if node not in states:
        raise LabctlError(f"lab {handle.name} has no node {node}; nodes: {', '.join(sorted(states))}")
    if states[node].role not in ("ha-gateway", "peer", "client"):
        raise LabctlError(f"{node} is a {states[node].role}: it runs no charon, there are no SAs to clear")
    if not states[node].running:
        raise LabctlError(f"{node} is not running ({states[node].status})")
    target = handle.node(node)
    if not charon.answering(target):
        raise LabctlError(f"{node}: charon does not answer (swanctl --stats failed); nothing was cleared")
    actions = clear_view.plan(charon.sas(target), what, which)
    for action in actions:
        if action.get("skip"):
            continue
        if action["kind"] == "child":
            action["exit_code"], action["output"] = ios.terminate_child(target, action["id"])
        else:
            action["exit_code"], action["output"] = ios.terminate_ike(target, action["id"], force=action["force"])
    return clear_view.outcome(actions, charon.sas(target)) if actions else actions

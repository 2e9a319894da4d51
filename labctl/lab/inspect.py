"""What `labctl show` reads from one node right now (the views turn it into IOS text)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from labctl.errors import LabctlError, UsageError
from labctl.nodes import charon, gateway
from labctl.runtime import LabHandle
from labctl.views.show import Live, interfaces_from_ip, plugins_from_stats


def collect(handle: LabHandle, node: str, command: str) -> Live:
    """Read what `command` needs from the node's daemons, in parallel."""
    states = {s.name: s for s in handle.states()}
    if not states:
        raise UsageError(f"no lab named {handle.name} is running (`labctl status` lists labs)")
    if node not in states:
        raise LabctlError(f"lab {handle.name} has no node {node}; nodes: {', '.join(sorted(states))}")
    state = states[node]
    if state.role not in ("ha-gateway", "peer"):
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
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        live: Live = {"node": node, "role": state.role, "sas": [], "sidecar": None, "plugins": []}
        live.update({key: future.result() for key, future in futures.items()})
    return live

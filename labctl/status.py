"""Live lab status: Docker state per node plus what the daemons themselves report."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker

from labctl.runtime.docker import lab as runtime
from labctl.sidecar.swanctl import ike_sas_from_text

SIDECAR_STATUS = "/run/labctl/sidecar-status.json"


def node_sas(client: docker.DockerClient, lab: str, node: str) -> list[dict[str, Any]]:
    """IKE SAs (with CHILD SAs) as charon in `node` reports them right now."""
    code, out = runtime.exec_in(client, lab, node, ["swanctl", "--list-sas", "--pretty"], timeout=3)
    return ike_sas_from_text(out) if code == 0 else []


STALE_AFTER = 3.0  # the sidecar rewrites its status every 50 ms; older means it is not running


def sidecar_status(client: docker.DockerClient, lab: str, node: str) -> dict[str, Any] | None:
    """The sidecar's own view (HSRP, redundancy, events); None when absent or stale."""
    code, out = runtime.exec_in(client, lab, node, ["sh", "-c", f"cat {SIDECAR_STATUS} && echo && date +%s.%N"])
    if code != 0:
        return None
    body, _, now = out.rstrip().rpartition("\n")
    try:
        status = json.loads(body)
        age = float(now) - float(status.get("time", 0))
    except ValueError:
        return None
    return status if age < STALE_AFTER else None


def lab_status(client: docker.DockerClient, lab: str) -> dict[str, Any]:
    """The `labctl status --json` document."""
    states = runtime.node_states(client, lab)

    def one(state: runtime.NodeState) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": state.name,
            "role": state.role,
            "container": state.container,
            "running": state.running,
            "status": state.status,
            "addresses": state.addresses,
            "ike_sas": [],
            "child_sas": [],
        }
        if state.running and state.role in ("ha-gateway", "peer", "client"):
            sas = node_sas(client, lab, state.name)
            entry["ike_sas"] = [{k: v for k, v in sa.items() if k != "child_sas"} for sa in sas]
            entry["child_sas"] = [child | {"ike_sa": sa["name"], "ike_uniqueid": sa["uniqueid"]}
                                  for sa in sas for child in sa["child_sas"]]
        if state.running and state.role == "ha-gateway":
            side = sidecar_status(client, lab, state.name) or {}
            entry["hsrp"] = side.get("hsrp", [])
            entry["hsrp_role"] = side.get("role")
            entry["redundancy"] = side.get("redundancy")
            entry["peer_redundancy"] = side.get("peer_redundancy")
        return entry

    with ThreadPoolExecutor(max_workers=8) as pool:
        nodes = list(pool.map(one, states))
    result: dict[str, Any] = {"lab": lab, "nodes": nodes}
    if any(state.role == "client" for state in states):
        result["easyvpn_clients"] = _easyvpn_clients(client, lab)
    return result


def _easyvpn_clients(client: docker.DockerClient, lab: str) -> list[dict[str, Any]]:
    """Per Easy VPN client: virtual IP and state, or why it is not connected (from its own charon)."""
    from labctl.easyvpn import client_reports
    from labctl.errors import LabctlError
    from labctl.orchestrate import load_running

    try:
        topo, _sabotage = load_running(client, lab)
    except (LabctlError, OSError) as exc:
        return [{"error": f"cannot read the lab's topology: {exc}"}]
    return client_reports(client, topo)

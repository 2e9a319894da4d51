"""Live lab status: engine state per node plus what the daemons themselves report."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from labctl.errors import LabctlError
from labctl.lab.running import open_lab
from labctl.nodes import charon, client, gateway
from labctl.runtime import LabHandle, NodeState


def lab_status(handle: LabHandle) -> dict[str, Any]:
    """The `labctl status --json` document."""
    states = handle.states()

    def one(state: NodeState) -> dict[str, Any]:
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
        node = handle.node(state.name)
        if state.running and state.role in ("ha-gateway", "peer", "client"):
            sas = charon.sas(node)
            entry["ike_sas"] = [{k: v for k, v in sa.items() if k != "child_sas"} for sa in sas]
            entry["child_sas"] = [child | {"ike_sa": sa["name"], "ike_uniqueid": sa["uniqueid"]}
                                  for sa in sas for child in sa["child_sas"]]
        if state.running and state.role == "ha-gateway":
            side = gateway.sidecar_status(node) or {}
            entry["hsrp"] = side.get("hsrp", [])
            entry["hsrp_role"] = side.get("role")
            entry["redundancy"] = side.get("redundancy")
            entry["peer_redundancy"] = side.get("peer_redundancy")
        return entry

    with ThreadPoolExecutor(max_workers=8) as pool:
        nodes = list(pool.map(one, states))
    result: dict[str, Any] = {"lab": handle.name, "nodes": nodes}
    if any(state.role in ("client", "vpnc") for state in states):
        result["easyvpn_clients"] = _easyvpn_clients(handle)
    return result


def _easyvpn_clients(handle: LabHandle) -> list[dict[str, Any]]:
    """Per Easy VPN client: virtual IP and state, or why it is not connected (from its own charon, or for a
    vpnc client its process, tun address and log)."""
    try:
        lab = open_lab(handle)
    except (LabctlError, OSError) as exc:
        return [{"error": f"cannot read the lab's topology: {exc}"}]
    return client.reports(lab.topo, handle)

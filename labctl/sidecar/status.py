"""The sidecar's status file (`contract.STATUS_PATH`): what `labctl status`/`show`/`watch` read.

Built from the pure parts (config, policy, HSRP router) plus a few live counters the sidecar passes in,
so the field list lives in one place; only public HSRP properties are read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labctl.sidecar.config import SidecarConfig
from labctl.sidecar.contract import STATUS_PATH, Redundancy
from labctl.sidecar.hsrp import fsm
from labctl.sidecar.policy import PEER_FRESH, SA_POLL, SsoPolicy
from labctl.sidecar.sso import Channel


def group_status(ifname: str, network: str, grp: fsm.HsrpGroup, changes: tuple[int, float | None],
                 link_up: Mapping[str, bool], mono: float) -> dict[str, Any]:
    """One HSRP group as `show standby` needs it (timers as seconds left on the monotonic clock)."""
    def expires(deadline: float | None) -> float | None:
        return round(max(0.0, deadline - mono), 3) if deadline is not None else None

    state = grp.state.name
    return {
        "interface": ifname,
        "network": network,
        "group": grp.config.group,
        "name": grp.config.name,
        "state": state.capitalize(),
        "virtual_ip": grp.virtual_ip,
        "priority": grp.config.priority,
        "effective_priority": grp.effective_priority,
        "preempt": grp.config.preempt,
        "hello_ms": grp.config.hello_ms,
        "hold_ms": grp.config.hold_ms,
        "active_router": grp.active_router,
        "standby_router": grp.standby_router,
        "owns_vip": grp.owns_vip,
        "track": {name: {"decrement": dec, "up": link_up.get(name, True)} for name, dec in grp.config.track.items()},
        "counters": dict(grp.counters),
        # for `labctl show ... standby` (IOS layout)
        "version": grp.config.version,
        "mac": ":".join(f"{b:02x}" for b in grp.identifier),
        "state_changes": changes[0],
        "last_change": changes[1],
        "active_priority": grp.active_priority,
        "standby_priority": grp.standby_priority,
        "next_hello_in": expires(grp.next_hello_at),
        "active_expires_in": expires(grp.active_expires_at) if state != "ACTIVE" else None,
        "standby_expires_in": expires(grp.standby_expires_at) if state != "STANDBY" else None,
    }


def sidecar_status(config: SidecarConfig, policy: SsoPolicy, channel: Channel, charon: Mapping[str, Any],
                   hsrp: list[dict[str, Any]], events: list[dict[str, Any]], started: float, mono: float,
                   wall: float, replay_sync: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole status document (`charon`: {"running", "starts"}; `replay_sync`: the replay-state sync's
    counters and synced table, None when it does not run)."""
    peer = policy.fresh_peer(mono)
    return {
        "node": config.node,
        "time": wall,
        "pid": os.getpid(),
        "role": policy.role,
        "redundancy": policy.redundancy.label,
        "redundancy_number": policy.redundancy.number,
        "redundancy_detail": policy.cold_why,
        "peer_redundancy": peer.get("state") if peer is not None else Redundancy.DISABLED.label,
        "peer_node": peer.get("node") if peer is not None else None,
        "mode": config.redundancy,
        "ha_plugin": config.ha_plugin,
        "sync_encrypted": False,
        "sequence_continuity": config.sequence_continuity,
        "replay_interval": {"inbound": config.replay_interval.inbound, "outbound": config.replay_interval.outbound},
        "replay_sync": dict(replay_sync) if replay_sync is not None else None,
        "charon": dict(charon),
        "rri": {"enabled": config.rri.enabled, "routes": list(policy.rri_routes)},
        "sso_channel": {"rejected": channel.rejected, "peer_ip": channel.peer_ip,
                        "local_ip": channel.local_ip, "interval_ms": int(SA_POLL * 1000),
                        "peer_timeout_ms": int(PEER_FRESH * 1000),
                        "peer_age": policy.peer_age(mono) if policy.peer_report is not None else None,
                        "counts": dict(channel.counts)},
        "started": started,
        "hsrp": hsrp,
        "events": events[-50:],
    }


def write(status: Mapping[str, Any], path: Path = Path(STATUS_PATH)) -> None:
    """Atomic replace: a reader never sees half a file. A file where the directory belongs (once seen after a
    node restart: `NotADirectoryError` for /run/labctl, the sidecar in a crash loop) is replaced by it."""
    if path.parent.exists() and not path.parent.is_dir():
        path.parent.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status))
    tmp.replace(path)

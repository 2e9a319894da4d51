"""The HSRP/SSO sidecar: PID 1 of an HA gateway container (stdlib only).

HSRP decides who is Active; strongSwan follows. On becoming Active: activate the ha segment, the
VIPs are claimed (gratuitous ARP), RRI routes injected, then ESP sequence continuity is restored by
rekeying the segment's CHILD_SAs (`*1`: this kernel's libipsec cannot sync replay counters). On
leaving Active: withdraw RRI, deactivate the segment. charon is supervised: if it dies the node
leaves HSRP (the peer takes over), charon restarts and the node rejoins as standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from labctl.sidecar import rri, swanctl
from labctl.sidecar.charon import Charon
from labctl.sidecar.hsrp import fsm, transport
from labctl.sidecar.sso import Channel, Redundancy, carrying_keys, derive_state, sa_keys

STATUS_PATH = Path("/run/labctl/sidecar-status.json")
TICK = 0.05  # link tracking and status refresh period
SA_POLL = 0.4
PEER_FRESH = 2.0
COLD_GRACE = 6.0  # seconds a standby may stay COLD (bulk sync in progress) before it forces a resync
BULK_RESYNC_BACKOFF = 15.0
# charon's ha plugin asks the other node for a resync 1 s after it starts, and the other node answers with
# every SA it holds, including the ones it received from us: an SA we negotiated before that request would
# come back as a duplicate (and a PASSIVE twin of a live SA can swallow the peer's requests). So the VIP
# may be claimed only once charon's own startup resync is behind it. An election from Listen takes two
# holdtimes (active timer, then standby timer) before a router can become Active; HSRP starts late only by
# what is missing from that (1.5 s - 2 x 300 ms with msec timers, nothing with the 700 ms default).
HA_STARTUP_RESYNC_GRACE = 1.5


class Sidecar:
    """Glue between the pure HSRP router, charon's ha plugin, RRI and the SSO channel."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.charon = Charon()
        self.role = "init"
        self.redundancy = Redundancy.INITIALIZATION
        self.peer_report: dict[str, Any] | None = None
        self.peer_seen = 0.0
        self.sas: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.interfaces: dict[str, str] = {}  # network name -> ifname
        self.link_up: dict[str, bool] = {}
        self.rri_routes: list[str] = []
        self.reloading = False
        self.sas_generation = 0
        self.dedup_done = False
        self.cold_since: float | None = None
        self.last_bulk_resync = 0.0
        self.started = time.time()
        self.changes: dict[tuple[str, int], tuple[int, float]] = {}  # (ifname, group) -> (count, wall time)
        hsrp = config["hsrp"]
        groups = []
        for group in config["groups"]:
            ifname, _prefix = transport.find_interface(group["local_ip"])
            self.interfaces[group["network"]] = ifname
            gconf = fsm.GroupConfig(
                group=group["group"],
                name=config["group_name"],
                virtual_ip=group["virtual_ip"],
                priority=config["priority"],
                preempt=hsrp["preempt"],
                preempt_delay_ms=hsrp["preempt_delay_ms"],
                hello_ms=hsrp["hello_ms"],
                hold_ms=hsrp["hold_ms"],
                auth=hsrp["auth"],
                version=hsrp["version"],
                track=group["track"],
                reload_delay_ms=hsrp["reload_delay_ms"],
            )
            groups.append((ifname, fsm.HsrpGroup(gconf, group["local_ip"], interface_mac(ifname))))
        self.router = fsm.HsrpRouter(groups)
        # SSO-aware preemption: a recovering node takes over again only once it holds the synced state,
        # otherwise preempt would cost the peer a renegotiation
        self.router.preempt_allowed = lambda: not config["ha_plugin"] or self.redundancy is Redundancy.STANDBY_HOT
        self.prefixlen = {g["virtual_ip"]: g["prefixlen"] for g in config["groups"]}
        sso = config["sso"]
        self.channel = Channel(sso["local_ip"], sso["peer_ip"], sso["port"], sso["key"].encode())

    # ------------------------------------------------------------------ events and status
    def event(self, kind: str, detail: str) -> None:
        self.events.append({"time": time.time(), "kind": kind, "detail": detail})
        del self.events[:-100]
        print(f"{time.strftime('%H:%M:%S')} {kind}: {detail}", flush=True)

    def write_status(self) -> None:
        groups = []
        mono = time.monotonic()

        def expires(deadline: float | None) -> float | None:
            return round(max(0.0, deadline - mono), 3) if deadline is not None else None

        for (ifname, number), grp in self.router.groups.items():
            changes, last_change = self.changes.get((ifname, number), (0, None))
            groups.append({
                "interface": ifname,
                "network": next((n for n, i in self.interfaces.items() if i == ifname), ifname),
                "group": number,
                "name": grp.config.name,
                "state": grp.state.name.capitalize(),
                "virtual_ip": grp.virtual_ip,
                "priority": grp.config.priority,
                "effective_priority": grp.effective_priority,
                "preempt": grp.config.preempt,
                "hello_ms": grp.config.hello_ms,
                "hold_ms": grp.config.hold_ms,
                "active_router": grp.active_router,
                "standby_router": grp.standby_router,
                "owns_vip": grp.owns_vip,
                "track": {name: {"decrement": dec, "up": self.link_up.get(name, True)}
                          for name, dec in grp.config.track.items()},
                "counters": dict(grp.counters),
                # for `labctl show ... standby` (IOS layout)
                "version": grp.config.version,
                "mac": ":".join(f"{b:02x}" for b in grp.identifier),
                "state_changes": changes,
                "last_change": last_change,
                "active_priority": grp.active_priority,
                "standby_priority": grp._standby[0] if grp._standby and grp.state.name != "STANDBY" else None,
                "next_hello_in": expires(grp._hello_at),
                "active_expires_in": expires(grp._active_at) if grp.state.name != "ACTIVE" else None,
                "standby_expires_in": expires(grp._standby_at) if grp.state.name != "STANDBY" else None,
            })
        peer_fresh = self.peer_report is not None and time.monotonic() - self.peer_seen < PEER_FRESH
        status = {
            "node": self.config["node"],
            "time": time.time(),
            "pid": os.getpid(),
            "role": self.role,
            "redundancy": self.redundancy.label,
            "redundancy_number": self.redundancy.number,
            "peer_redundancy": (self.peer_report or {}).get("state") if peer_fresh else Redundancy.DISABLED.label,
            "peer_node": (self.peer_report or {}).get("node") if peer_fresh else None,
            "mode": self.config["redundancy"],
            "ha_plugin": self.config["ha_plugin"],
            "sync_encrypted": False,
            "sequence_continuity": self.config["sequence_continuity"],
            "replay_interval": self.config["replay_interval"],
            "charon": {"running": self.charon.running, "starts": self.charon.starts},
            "rri": {"enabled": self.config["rri"]["enabled"], "routes": self.rri_routes},
            "sso_channel": {"rejected": self.channel.rejected, "peer_ip": self.channel.peer_ip,
                            "local_ip": self.channel.local_ip, "interval_ms": int(SA_POLL * 1000),
                            "peer_timeout_ms": int(PEER_FRESH * 1000),
                            "peer_age": round(mono - self.peer_seen, 3) if self.peer_report else None},
            "started": self.started,
            "hsrp": groups,
            "events": self.events[-50:],
        }
        STATUS_PATH.parent.mkdir(parents=True, exist_ok=True)
        tmp = STATUS_PATH.with_suffix(".tmp")
        tmp.write_text(json.dumps(status))
        tmp.replace(STATUS_PATH)

    # ------------------------------------------------------------------ HSRP actions
    def on_action(self, action: fsm.Action) -> None:
        """Observer of the HSRP driver (which already sent packets and moved VIPs)."""
        if isinstance(action, fsm.ClaimVip):
            self.event("vip", f"claiming {action.ip} on {action.ifname} (+ gratuitous ARP)")
        elif isinstance(action, fsm.ReleaseVip):
            self.event("vip", f"releasing {action.ip} on {action.ifname}")
        elif isinstance(action, fsm.StateChanged):
            count, _ = self.changes.get((action.ifname, action.group), (0, 0.0))
            self.changes[(action.ifname, action.group)] = (count + 1, time.time())
            self.event("hsrp", f"{action.ifname} Grp {action.group} state {action.old.name.capitalize()} -> "
                       f"{action.new.name.capitalize()} ({action.reason})")
            self.follow_role()

    def follow_role(self) -> None:
        """strongSwan follows the HSRP role of the node (all groups together)."""
        role = self.router.role
        if role == self.role:
            return
        old, self.role = self.role, role
        self.event("role", f"{old} -> {role}")
        self.update_redundancy()
        if role == "active":
            asyncio.ensure_future(self.become_active())
        elif old == "active":
            self.withdraw_routes()
            if self.config["ha_plugin"]:
                self.charon.ha_command("-1")
                self.event("ha", "segment 1 deactivated")
                asyncio.ensure_future(self.reload_charon())

    async def reload_charon(self) -> None:
        """A node that gives up Active reloads (as IOS does) so it re-syncs from the new active.

        Keeping its own copy would leave it SAs the new active has since rekeyed or deleted, and a later
        takeover would resurrect them.
        """
        self.reloading = True
        try:
            self.event("charon", "reloading charon to resync from the active")
            await asyncio.to_thread(self.charon.kill)
            self.forget_sas()
            await asyncio.to_thread(self.charon.start)
            self.forget_sas()
        finally:
            self.reloading = False

    async def become_active(self) -> None:
        """Segment, VIP, RRI, then the CHILD_SA rekey that restores ESP sequence continuity."""
        if self.config["ha_plugin"]:
            self.charon.ha_command("+1")
            self.event("ha", "segment 1 activated")
        crypto_vip = next(g for g in self.config["groups"] if g["crypto"])["virtual_ip"]
        for _ in range(200):  # the driver adds VIPs on its own worker: wait until the IKE endpoint exists
            if self.role != "active" or vip_present(crypto_vip):
                break
            await asyncio.sleep(0.005)
        if self.role != "active":
            return
        if self.config["rri"]["enabled"]:
            self.rri_routes = await asyncio.to_thread(rri.inject, self.config["rri"]["routes"])
            if self.config["rri"].get("remote_peer"):
                # the synced (until now PASSIVE) client SAs are ours now: a route per client right away
                clients = rri.client_routes(self.sas, ("ESTABLISHED", "PASSIVE"))
                self.rri_routes = await asyncio.to_thread(rri.sync, self.config["rri"]["routes"] + clients)
            self.event("rri", f"injected {', '.join(self.rri_routes) or 'nothing (tunnel device missing?)'}")
        if self.config["ha_plugin"] and self.config["sequence_continuity"]:
            self.charon.ha_command("*1")
            self.event("ha", "segment 1 resync: CHILD_SAs rekeyed for ESP sequence continuity")

    async def follow_clients(self) -> None:
        """`reverse-route remote-peer`: on the Active node, one route per connected remote-access client."""
        rri_config = self.config["rri"]
        if self.role != "active" or not rri_config["enabled"] or not rri_config.get("remote_peer"):
            return
        wanted = rri_config["routes"] + rri.client_routes(self.sas)
        if sorted(wanted) != sorted(self.rri_routes):
            routes = await asyncio.to_thread(rri.sync, wanted)
            if self.role != "active":  # lost Active while the routes were written: withdraw_routes ran before
                rri.withdraw()
                return
            added, gone = set(routes) - set(self.rri_routes), set(self.rri_routes) - set(routes)
            self.rri_routes = routes
            if added or gone:
                self.event("rri", "remote-peer routes" + (f" +{', +'.join(sorted(added))}" if added else "")
                           + (f" -{', -'.join(sorted(gone))}" if gone else ""))

    def withdraw_routes(self) -> None:
        rri.withdraw()
        if self.rri_routes:
            self.event("rri", f"withdrew {', '.join(self.rri_routes)}")
        self.rri_routes = []

    # ------------------------------------------------------------------ periodic work
    def check_links(self, now: float) -> None:
        """Interface tracking: a down interface stops its group and decrements tracking groups."""
        for network, ifname in self.interfaces.items():
            up = link_is_up(ifname)
            if self.link_up.get(network, True) == up:
                self.link_up.setdefault(network, up)
                continue
            self.link_up[network] = up
            self.event("track", f"{network} ({ifname}) line protocol {'up' if up else 'down'}")
            if up:
                self.driver.start_interface(ifname)
            else:
                self.driver.stop_interface(ifname)
            self.driver.set_tracked(network, up)

    def check_charon(self, now: float) -> None:
        if self.charon.running or self.reloading:
            return
        self.event("charon", "charon is not running: leaving HSRP, restarting charon")
        self.driver.execute(self.router.stop(now))
        self.withdraw_routes()
        self.forget_sas()
        self.write_status()  # the restart below blocks the loop: nobody may read "active" from us meanwhile
        self.charon.start()
        self.forget_sas()
        self.driver.execute(self.router.start(time.monotonic()))

    def on_sso(self, message: dict[str, Any]) -> None:
        self.peer_report, self.peer_seen = message, time.monotonic()

    def update_redundancy(self) -> None:
        fresh = self.peer_report if time.monotonic() - self.peer_seen < PEER_FRESH else None
        stateful = self.config["ha_plugin"]
        state = derive_state(self.role, stateful, self.charon.running, self.sas, fresh)
        if state is Redundancy.STANDBY_HOT and self.duplicated() and not self.dedup_done:
            state = Redundancy.STANDBY_COLD  # the bulk resync that clears the copies is about to reload charon
        if state != self.redundancy:
            self.event("redundancy", f"my state {self.redundancy.label} -> {state.label}")
            self.redundancy = state
        ike, child = sa_keys(self.sas)
        self.channel.send({"node": self.config["node"], "state": state.label, "role": self.role,
                           "ike": sorted(ike), "child": sorted(child), "carrying": sorted(carrying_keys(self.sas))})

    def forget_sas(self) -> None:
        """A (re)started charon knows nothing yet: never judge HOT from the previous charon's SAs."""
        self.sas = []
        self.sas_generation += 1

    async def poll_sas(self) -> None:
        while True:
            generation = self.sas_generation
            sas = await asyncio.to_thread(swanctl.list_sas)
            if generation != self.sas_generation:
                continue  # charon restarted while we were asking: this answer describes the old one
            # a standby holds synced IKE SAs as PASSIVE; the active's are ESTABLISHED
            self.sas = [sa for sa in sas if sa["state"] in ("ESTABLISHED", "PASSIVE")]
            self.update_redundancy()
            await self.follow_clients()
            await self.bulk_resync_if_needed()
            await asyncio.sleep(SA_POLL)

    def duplicated(self) -> bool:
        identities = [(sa["initiator_spi"], sa["responder_spi"]) for sa in self.sas]
        return len(identities) != len(set(identities))

    async def bulk_resync_if_needed(self) -> None:
        """A standby whose synced state is wrong reloads charon to get a clean bulk sync (HA_RESYNC).

        The ha plugin re-pushes whole IKE_SAs on every resync and its receiver does not deduplicate: a
        standby that started while the active was syncing a new SA ends up with two PASSIVE copies (one
        of them with a CHILD_SA the peer has since deleted), and a takeover would activate both. The same
        reload also ends a STANDBY COLD that does not heal by itself.
        """
        if self.role != "standby" or not self.config["ha_plugin"] or self.reloading:
            self.cold_since = None
            self.dedup_done = False
            return
        now = time.monotonic()
        if now - self.last_bulk_resync < BULK_RESYNC_BACKOFF:
            return
        # once per standby period: the copies come back when the active's own sync cache holds stale entries
        duplicated = self.duplicated() and not self.dedup_done
        # a standby has an Active by definition: a COLD that lasts is resynced even if no SSO report came in
        # yet (a gateway restarted after a node kill once stayed COLD for a minute, without any event)
        if self.redundancy is Redundancy.STANDBY_COLD:
            self.cold_since = self.cold_since or now
        else:
            self.cold_since = None
        stuck = self.cold_since is not None and now - self.cold_since > COLD_GRACE
        if duplicated or stuck:
            self.dedup_done = self.dedup_done or duplicated
            self.last_bulk_resync = now
            self.cold_since = None
            reason = "duplicate synced IKE_SAs" if duplicated else f"STANDBY COLD for over {COLD_GRACE:.0f}s"
            self.event("sso", f"bulk resync: {reason}")
            await self.reload_charon()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.charon.start()
        self.event("charon", f"started (ha plugin {'on' if self.config['ha_plugin'] else 'off'})")
        rri.withdraw()
        election = 2 * self.config["hsrp"]["hold_ms"] / 1000
        if self.config["ha_plugin"] and election < HA_STARTUP_RESYNC_GRACE:
            self.write_status()
            await asyncio.sleep(HA_STARTUP_RESYNC_GRACE - election)
        endpoints = {}
        for (ifname, _number), grp in self.router.groups.items():
            endpoints.setdefault(ifname, transport.HsrpEndpoint(ifname, grp.my_ip, grp.config.version))
        self.driver = transport.HsrpDriver(self.router, endpoints.values(), self.on_action)
        sock = self.channel.open()
        loop.add_reader(sock, self._read_sso, sock)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        hsrp = asyncio.create_task(self.driver.run(stop))
        asyncio.create_task(self.poll_sas())
        while not stop.is_set():
            now = time.monotonic()
            self.check_charon(now)
            self.check_links(now)
            self.write_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=TICK)
        self.event("sidecar", "shutting down: resigning")
        await hsrp
        self.charon.stop()

    def _read_sso(self, sock: Any) -> None:
        try:
            data, (source, _port) = sock.recvfrom(65535)
        except OSError:
            return
        message = self.channel.open_message(data, source)
        if message is not None:
            self.on_sso(message)


def interface_mac(ifname: str) -> bytes:
    """The interface MAC, used as the HSRPv2 identifier."""
    try:
        return bytes.fromhex(Path(f"/sys/class/net/{ifname}/address").read_text().strip().replace(":", ""))
    except (OSError, ValueError):
        return b"\0" * 6


def link_is_up(ifname: str) -> bool:
    """Line protocol of an interface, as interface tracking sees it."""
    try:
        return Path(f"/sys/class/net/{ifname}/operstate").read_text().strip() in ("up", "unknown")
    except OSError:
        return False


def vip_present(ip: str) -> bool:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=False).stdout
    return f" {ip}/" in out


def main() -> None:
    config = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "/etc/labctl/sidecar.json").read_text())
    asyncio.run(Sidecar(config).run())


if __name__ == "__main__":
    main()

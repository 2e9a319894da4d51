"""The HSRP/SSO sidecar: PID 1 of an HA gateway container (stdlib only).

Wiring only: the HSRP driver (sockets, VIPs), charon supervision and its ha FIFO, RRI routes, the SSO
channel, the status file and the asyncio loop. What to do when the role, the SAs, the peer's report or
charon change is decided by the pure :class:`~labctl.sidecar.policy.SsoPolicy`; this module executes
the commands it returns, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from labctl.sidecar import contract, policy, replay, rri, status, swanctl
from labctl.sidecar.charon import Charon
from labctl.sidecar.config import ConfigError, SidecarConfig
from labctl.sidecar.hsrp import fsm, transport
from labctl.sidecar.policy import Command
from labctl.sidecar.sso import Channel

TICK = 0.05  # link tracking, charon supervision and status refresh period
VIP_WAIT = (200, 0.005)  # polls x seconds: the driver adds VIPs on its own worker
SLOW = (policy.AwaitVip, policy.InjectRoutes, policy.SyncRoutes, policy.ReloadCharon)  # commands that await


class SlowClaimDriver(transport.HsrpDriver):
    """`--sabotage slow-takeover`: the HSRP driver claims each VIP `delay` seconds after the FSM said so (the
    node is Active and says so meanwhile, but nobody reaches it); a release before then cancels the claim."""

    def __init__(self, *args: Any, delay: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay
        self.held: dict[tuple[str, str], asyncio.TimerHandle] = {}

    def execute(self, actions: list[fsm.Action]) -> None:
        now: list[fsm.Action] = []
        for action in actions:
            if isinstance(action, fsm.ClaimVip | fsm.ReleaseVip):
                held = self.held.pop((action.ifname, action.ip), None)
                if held is not None:
                    held.cancel()
                if isinstance(action, fsm.ClaimVip):
                    self.held[(action.ifname, action.ip)] = asyncio.get_running_loop().call_later(
                        self.delay, self.claim, action)
                    continue
            now.append(action)
        super().execute(now)

    def claim(self, action: fsm.ClaimVip) -> None:
        self.held.pop((action.ifname, action.ip), None)
        super().execute([action])


class Sidecar:
    """Glue between the pure HSRP router, the pure SSO policy, charon's ha plugin, RRI and the channel."""

    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.charon = Charon()
        self.policy = policy.SsoPolicy(config)
        self.events: list[dict[str, Any]] = []
        self.interfaces: dict[str, str] = {}  # network name -> ifname
        self.link_up: dict[str, bool] = {}
        self.started = time.time()
        self.changes: dict[tuple[str, int], tuple[int, float]] = {}  # (ifname, group) -> (count, wall time)
        self.tasks: set[asyncio.Future[Any]] = set()
        groups = []
        for group in config.groups:
            ifname, _prefix = transport.find_interface(group.local_ip)
            self.interfaces[group.network] = ifname
            hsrp = policy.hsrp_config(config, group)
            groups.append((ifname, fsm.HsrpGroup(hsrp, group.local_ip, interface_mac(ifname))))
        self.router = fsm.HsrpRouter(groups)
        self.router.preempt_allowed = self.policy.preempt_allowed  # SSO-aware preemption
        sso = config.sso
        self.channel = Channel(sso.local_ip, sso.peer_ip, sso.port, sso.key.encode(),
                               log=lambda text: self.event(contract.EVENT_SSO, text))
        intervals = replay.Intervals(config.replay_interval.inbound, config.replay_interval.outbound)
        self.replay_sender, self.replay_store = replay.Sender(intervals), replay.Store(intervals)
        self.replay_error: str | None = None
        self.status_error: str | None = None  # the last failure to write the status file, logged once
        self.handover_generation = 0  # the latest handover (`hand_over`); an older one's end is void
        self.handover_active = False  # routes handed over to the peer right now (the next inject ends them)
        # started again by the gateway's init loop after a crash (not with the container): see startup_grace
        self.restarted = os.environ.get(contract.RESTART_ENV) == "1"
        self.charon_started = time.monotonic()  # a replay table older than this charon is not continued

    # ------------------------------------------------------------------ executing the policy's commands
    def execute(self, commands: list[Command]) -> None:
        """Run commands now, in order; from the first one that awaits on, in a task (callers never block)."""
        for index, command in enumerate(commands):
            if isinstance(command, SLOW):
                self.spawn(self.run_commands(commands[index:]))
                return
            self.execute(self.do(command))

    async def run_commands(self, commands: list[Command]) -> None:
        """Run commands in order, awaiting each (the SA poll waits for its bulk resync, as before)."""
        for command in commands:
            if isinstance(command, SLOW):
                await self.run_commands(await self.do_slow(command))
            else:
                self.execute(self.do(command))

    def do(self, command: Command) -> list[Command]:
        if isinstance(command, policy.Event):
            self.event(command.kind, command.detail)
        elif isinstance(command, policy.SendReport):
            self.channel.send(command.report)
        elif isinstance(command, policy.HaCommand):
            self.charon.ha_command(command.fifo)
        elif isinstance(command, policy.HandOverRoutes):
            self.hand_over(command.prefixes)
        elif isinstance(command, policy.WithdrawRoutes):
            rri.withdraw()
            return self.policy.routes_withdrawn()
        elif isinstance(command, policy.LeaveHsrp):
            self.driver.execute(self.router.stop(time.monotonic()))
        elif isinstance(command, policy.JoinHsrp):
            self.driver.execute(self.router.start(time.monotonic()))
        elif isinstance(command, policy.ContinueReplayState):
            raised = self.sync_replay()
            self.event(contract.EVENT_HA, f"replay state: {raised} SA(s) continued from the synced table "
                       f"({len(self.replay_store.table)} SAs, outbound +{self.config.replay_interval.outbound})")
        elif isinstance(command, policy.RestartCharon):
            self.policy.forget_sas()
            self.write_status()  # the restart below blocks the loop: nobody may read "active" from us meanwhile
            self.charon.start()
            self.charon_fresh()
        return []

    async def do_slow(self, command: Command) -> list[Command]:
        if isinstance(command, policy.AwaitVip):
            if self.config.takeover_delay_ms:  # slow-takeover: the VIP comes that much later
                await asyncio.sleep(self.config.takeover_delay_ms / 1000)
            for _ in range(VIP_WAIT[0]):
                if self.policy.role != contract.ROLE_ACTIVE or vip_present(command.ip):
                    break
                await asyncio.sleep(VIP_WAIT[1])
            return self.policy.vip_ready()
        if isinstance(command, policy.InjectRoutes):
            handover, self.handover_active = self.handover_active, False
            return self.policy.routes_installed(command, await asyncio.to_thread(rri.inject, list(command.prefixes),
                                                                                 rri.TUNNEL_DEVICE, handover))
        if isinstance(command, policy.SyncRoutes):
            return self.policy.routes_installed(command, await asyncio.to_thread(rri.sync, list(command.prefixes)))
        if isinstance(command, policy.ReloadCharon):
            # SIGKILL: a clean shutdown would send DELETEs to the peer and, through the ha plugin, the new Active
            try:
                await asyncio.to_thread(self.charon.kill)
                self.policy.forget_sas()
                await asyncio.to_thread(self.charon.start)
                self.charon_fresh()
            finally:
                self.policy.reload_finished()
        return []

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ------------------------------------------------------------------ events and status
    def event(self, kind: str, detail: str) -> None:
        now = time.time()
        self.events.append({"time": now, "kind": kind, "detail": detail})
        del self.events[:-100]
        print(contract.format_event(kind, detail, now), flush=True)

    def write_status(self) -> None:
        mono = time.monotonic()
        networks = {ifname: network for network, ifname in self.interfaces.items()}
        groups = [status.group_status(ifname, networks.get(ifname, ifname), grp,
                                      self.changes.get((ifname, number), (0, None)), self.link_up, mono)
                  for (ifname, number), grp in self.router.groups.items()]
        document = status.sidecar_status(
            self.config, self.policy, self.channel, {"running": self.charon.running, "starts": self.charon.starts},
            groups, self.events, self.started, mono, time.time(), self.replay_status())
        try:
            status.write(document)
        except OSError as e:  # the status file is for readers; HSRP and charon must not die for it
            if self.status_error != str(e):
                self.event(contract.EVENT_SIDECAR, f"status file not written: {e}")
            self.status_error = str(e)
        else:
            self.status_error = None

    def replay_status(self) -> dict[str, Any] | None:
        if not self.config.replay_sync:
            return None
        return {**self.replay_store.summary(), "tables_sent": self.replay_sender.tables_sent,
                "sent_table": self.replay_sender.summary(), "error": self.replay_error}

    # ------------------------------------------------------------------ inputs
    def on_action(self, action: fsm.Action) -> None:
        """Observer of the HSRP driver (which already sent packets and moved VIPs)."""
        self.execute(policy.hsrp_events(action))
        if isinstance(action, fsm.StateChanged):
            count, _ = self.changes.get((action.ifname, action.group), (0, 0.0))
            self.changes[(action.ifname, action.group)] = (count + 1, time.time())
            self.execute(self.policy.on_role(self.router.role, time.monotonic(), self.charon.running))

    def check_links(self) -> None:
        """Interface tracking: a down interface stops its group and decrements tracking groups."""
        for network, ifname in self.interfaces.items():
            up = link_is_up(ifname)
            if self.link_up.get(network, True) == up:
                self.link_up.setdefault(network, up)
                continue
            self.link_up[network] = up
            self.event(contract.EVENT_TRACK, f"{network} ({ifname}) line protocol {'up' if up else 'down'}")
            if up:
                self.driver.start_interface(ifname)
            else:
                self.driver.stop_interface(ifname)
            self.driver.set_tracked(network, up)

    async def poll_sas(self) -> None:
        while True:
            generation = self.policy.sas_generation
            sas = await asyncio.to_thread(swanctl.list_sas)
            if generation != self.policy.sas_generation:
                continue  # charon restarted while we were asking: ask the new one at once
            await self.run_commands(self.policy.on_sas(sas, time.monotonic(), self.charon.running, generation))
            await asyncio.sleep(policy.SA_POLL)

    def routes_with_claim(self, claims: list[tuple[str, str, int]]) -> list[str]:
        """`ip -batch` lines for a claim that takes the crypto VIP (a takeover): the RRI routes, so the first
        packets the claim's announcement draws find them; `InjectRoutes` after the VIP wait only confirms them."""
        if all(ip != self.config.crypto_group.virtual_ip for _ifname, ip, _plen in claims):
            return []
        routes = self.policy.takeover_routes()
        lines = rri.claim_lines(routes, rri.TUNNEL_DEVICE, self.handover_active)
        if lines:  # none when charon's tunnel device is missing: no routes went in
            self.policy.routes_claimed(routes)
        if lines and self.handover_active:
            self.handover_active = False  # ended in the claim's batch (its routes would shadow ours)
        return lines

    def handover_target(self) -> tuple[str, str] | None:
        """(peer address, interface) to forward to after leaving Active: the other router of a group that is
        not the crypto group (the inside, where traffic for the remote side comes from), as its Hellos said."""
        crypto_ifname = self.interfaces.get(self.config.crypto_group.network)
        for (ifname, _number), grp in self.router.groups.items():
            if ifname != crypto_ifname and grp.peer_ip is not None:
                return grp.peer_ip, ifname
        return None

    def hand_over(self, prefixes: tuple[str, ...]) -> None:
        target = self.handover_target()
        if target is None or not prefixes:
            return
        rri.hand_over(list(prefixes), *target)
        self.handover_active = True
        self.handover_generation += 1
        generation = self.handover_generation
        self.event(contract.EVENT_RRI, f"handover: {', '.join(prefixes)} via {target[0]} on {target[1]} for "
                   f"{policy.HANDOVER_S:g} s")

        def end() -> None:
            if generation == self.handover_generation and self.policy.role != contract.ROLE_ACTIVE:
                rri.end_handover()
                self.handover_active = False

        with contextlib.suppress(RuntimeError):  # no running loop (tests drive `do` directly)
            asyncio.get_running_loop().call_later(policy.HANDOVER_S, end)

    def charon_fresh(self) -> None:
        """charon was just (re)started: forget its SAs, and its replay state is not continued yet."""
        self.policy.forget_sas()
        self.charon_started = time.monotonic()

    def replay_round(self, local: list[replay.SaSeq]) -> list[tuple[replay.SaSeq, int]]:
        """Given charon's sequence state: forward it when Active (on the loop thread, like every channel
        send: the channel numbers its messages), and return the raises the stored table asks for (the new
        Active too: an SA its charon installs late, or again, continues where the old Active left it)."""
        if self.policy.role == contract.ROLE_ACTIVE:
            table = self.replay_sender.observe(local, time.monotonic())
            if table is not None:
                self.channel.send({"replay": [sa.wire() for sa in table]})
        else:
            self.replay_sender.reset()
        return self.replay_store.raises(local)

    def replay_raised(self, local: list[replay.SaSeq], raises: list[tuple[replay.SaSeq, int]], confirmed: int) -> None:
        """After a round's raises: a standby continues the Active's state only once charon confirmed every
        raise (a takeover with an SA not raised yet starts it at sequence number 1: the far end drops it all
        as replays until the next raise; seen when charon applied one `set` per request)."""
        if self.policy.role != contract.ROLE_ACTIVE:
            self.policy.replay_ready = self.replay_store.ready(local, self.charon_started) and confirmed == len(raises)

    def on_replay_table(self, sas: list[replay.SaSeq]) -> None:
        """The peer's sequence table, kept only while we are not Active: at a preempt both nodes are Active for
        a moment (the new one holds the VIPs before the old one has heard its Coup), and the new Active's
        table must not push the old one's numbers two intervals ahead of its own, or the far end would take
        the old Active's last packets and drop every later one of the new Active as a replay."""
        if self.policy.role != contract.ROLE_ACTIVE:
            self.replay_store.on_table(sas, time.monotonic())

    def replay_failed(self, error: replay.ReplayUnavailable | None) -> None:
        """Log when the replay socket stops answering (once per outage, not while charon restarts)."""
        if error is not None and self.replay_error is None and self.charon.running and not self.policy.reloading:
            self.event(contract.EVENT_HA, f"replay state unavailable: {error}")
        self.replay_error = None if error is None else str(error)

    def sync_replay(self) -> int:
        """One blocking replay-state round (a few ms, at takeover); returns the SAs raised."""
        try:
            local = replay.get()
            raises = self.replay_round(local)
            raised = replay.set_many(raises)
        except replay.ReplayUnavailable as e:
            self.replay_failed(e)
            return 0
        self.replay_raised(local, raises, raised)
        self.replay_failed(None)
        return raised

    async def poll_replay(self) -> None:
        """Every replay.POLL: the Active forwards its ESP sequence table, the standby continues it."""
        while True:
            try:
                local = await asyncio.to_thread(replay.get)
                raises = self.replay_round(local)
                self.replay_raised(local, raises, await asyncio.to_thread(replay.set_many, raises))
                self.replay_failed(None)
            except replay.ReplayUnavailable as e:
                self.policy.replay_ready = False
                self.replay_failed(e)
            await asyncio.sleep(replay.POLL)

    def _read_sso(self, sock: Any) -> None:
        try:
            data, (source, _port) = sock.recvfrom(65535)
        except OSError:
            return
        message = self.channel.open_message(data, source)
        if message is not None and "replay" in message:
            self.on_replay_table(replay.from_wire(message["replay"]))
        elif message is not None:
            self.policy.on_peer_report(message, time.monotonic())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.charon.start()
        self.charon_started = time.monotonic()
        rri.end_handover()  # a handover of the sidecar that ran before this one (a crash) ends with it
        self.execute(self.policy.on_start())
        grace = policy.startup_grace(self.config.ha_plugin, self.config.hsrp.hold_ms, self.restarted,
                                     self.config.hsrp.hello_ms)
        if grace > 0:
            self.write_status()
            await asyncio.sleep(grace)
        endpoints = {}
        for (ifname, _number), grp in self.router.groups.items():
            endpoints.setdefault(ifname, transport.HsrpEndpoint(ifname, grp.my_ip, grp.config.version))
        delay = self.config.takeover_delay_ms / 1000
        hook = self.routes_with_claim
        self.driver = SlowClaimDriver(self.router, endpoints.values(), self.on_action, delay=delay, with_claim=hook) \
            if delay else transport.HsrpDriver(self.router, endpoints.values(), self.on_action, with_claim=hook)
        sock = self.channel.open()
        loop.add_reader(sock, self._read_sso, sock)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        hsrp = asyncio.create_task(self.driver.run(stop))
        self.spawn(self.poll_sas())
        if self.config.replay_sync:
            self.spawn(self.poll_replay())
        while not stop.is_set():
            self.execute(self.policy.on_tick(time.monotonic(), self.charon.running))
            self.check_links()
            self.write_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=TICK)
        self.execute(self.policy.on_shutdown())
        await hsrp
        self.charon.stop()


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


FIB_TRIE = Path("/proc/net/fib_trie")


def local_addresses(fib_trie: str) -> set[str]:
    """The node's own IPv4 addresses, from /proc/net/fib_trie (each leaf `|-- A.B.C.D` whose lines include
    `/32 host LOCAL`)."""
    out: set[str] = set()
    leaf: str | None = None
    for line in fib_trie.splitlines():
        text = line.strip()
        if text.startswith("|-- "):
            leaf = text[4:]
        elif text.startswith("+--"):
            leaf = None
        elif leaf is not None and text.startswith("/32 host LOCAL"):
            out.add(leaf)
    return out


def vip_present(ip: str) -> bool:
    """Whether the VIP is on this node: a file read, not an `ip` process (20 ms and more on a loaded machine,
    on the way from Active to the RRI routes, while the inside already sends to us)."""
    try:
        return ip in local_addresses(FIB_TRIE.read_text())
    except OSError:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=False).stdout
        return f" {ip}/" in out


def main() -> None:
    try:
        config = SidecarConfig.load(sys.argv[1] if len(sys.argv) > 1 else contract.CONFIG_PATH)
    except ConfigError as e:
        sys.exit(f"labctl sidecar: {e}")
    asyncio.run(Sidecar(config).run())


if __name__ == "__main__":
    main()

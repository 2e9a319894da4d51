"""Thin asyncio I/O around the pure HSRP FSM, stdlib only.

Everything protocol-related lives in :mod:`.fsm`; this module only moves
bytes, runs timers and executes the FSM's actions (send, add/remove the VIP,
gratuitous ARP).  Typical use from another asyncio component::

    router = HsrpRouter([("eth0", out_group), ("eth1", in_group)])
    driver = HsrpDriver(router, [HsrpEndpoint("eth0", "192.0.2.1", 2),
                                 HsrpEndpoint("eth1", "10.1.0.1", 2)], on_action=sso.on_hsrp)
    task = asyncio.create_task(driver.run(stop_event))
    driver.set_tracked("eth1", False)   # from a link monitor
    stop_event.set(); await task        # Resigns, releases VIPs, closes sockets
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import json
import logging
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

from .fsm import Action, ClaimVip, HsrpRouter, ReleaseVip, Send
from .packet import HSRP_PORT, HsrpPacket, PacketError, decode, encode, multicast_group

__all__ = [
    "HsrpDriver",
    "HsrpEndpoint",
    "add_vip",
    "del_vip",
    "find_interface",
    "gratuitous_arp",
    "run_router",
]

log = logging.getLogger(__name__)

_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_IP_MULTICAST_ALL = 49  # Linux: deliver only groups joined on *this* socket

PacketCallback = Callable[[HsrpPacket | PacketError, str], None]
ActionCallback = Callable[[Action], Awaitable[None] | None]


class HsrpEndpoint:
    """One UDP/1985 socket bound to one interface, joined to the HSRP group of *version*."""

    def __init__(self, ifname: str, local_ip: str, version: int = 2, prefixlen: int | None = None) -> None:
        self.ifname = ifname
        self.local_ip = local_ip
        self.version = version
        self.group_addr = multicast_group(version)
        self.prefixlen = prefixlen
        self.sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self, loop: asyncio.AbstractEventLoop, on_packet: PacketCallback) -> None:
        """Create the socket and deliver every datagram to *on_packet* via ``loop.add_reader``."""
        if self.prefixlen is None:
            try:
                self.prefixlen = find_interface(self.local_ip)[1]
            except (LookupError, OSError):
                self.prefixlen = 32
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, self.ifname.encode() + b"\0")
            with contextlib.suppress(OSError):
                s.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
            s.bind(("0.0.0.0", HSRP_PORT))
            local = socket.inet_aton(self.local_ip)
            mreq = socket.inet_aton(self.group_addr) + local
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, local)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        self.sock, self._loop = s, loop
        loop.add_reader(s.fileno(), self._readable, on_packet)

    def _readable(self, on_packet: PacketCallback) -> None:
        assert self.sock is not None
        while True:
            try:
                data, (src, _port) = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("HSRP recv on %s failed: %s", self.ifname, e)
                return
            if src == self.local_ip:
                continue  # our own multicast, should IP_MULTICAST_LOOP be ignored somewhere
            try:
                pkt: HsrpPacket | PacketError = decode(data)
            except PacketError as e:
                pkt = e
            on_packet(pkt, src)

    def send(self, packet: HsrpPacket) -> None:
        if self.sock is None:
            raise RuntimeError(f"endpoint {self.ifname} is not open")
        try:
            self.sock.sendto(encode(packet), (self.group_addr, HSRP_PORT))
        except OSError as e:  # link down, ENOBUFS...: HSRP copes with lost hellos
            log.warning("HSRP send on %s failed: %s", self.ifname, e)

    def close(self) -> None:
        if self.sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None


# --------------------------------------------------------------------------- host helpers


def find_interface(ip: str) -> tuple[str, int]:
    """(ifname, prefixlen) of the interface holding *ip*.

    Interface names inside containers do not follow the order networks were
    connected, so interfaces are always located by address.
    """
    out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True, timeout=10).stdout
    for link in json.loads(out or "[]"):
        for addr in link.get("addr_info", []):
            if addr.get("family") == "inet" and addr.get("local") == ip:
                return link["ifname"], int(addr["prefixlen"])
    raise LookupError(f"no interface has address {ip}")


def _vip_cmd(verb: str, ifname: str, ip: str, prefixlen: int) -> list[str]:
    ipaddress.IPv4Address(ip)
    return ["ip", "addr", verb, f"{ip}/{prefixlen}", "dev", ifname]


def add_vip(ifname: str, ip: str, prefixlen: int) -> bool:
    """Add the VIP (idempotent: ``ip addr replace``).  Returns success."""
    res = subprocess.run(_vip_cmd("replace", ifname, ip, prefixlen), capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        log.error("adding VIP %s/%s to %s failed: %s", ip, prefixlen, ifname, res.stderr.strip())
    return res.returncode == 0


def del_vip(ifname: str, ip: str, prefixlen: int) -> bool:
    """Remove the VIP; an address that is already gone counts as success."""
    res = subprocess.run(_vip_cmd("del", ifname, ip, prefixlen), capture_output=True, text=True, timeout=10)
    if res.returncode != 0 and "Cannot assign requested address" not in res.stderr:
        log.error("removing VIP %s/%s from %s failed: %s", ip, prefixlen, ifname, res.stderr.strip())
        return False
    return True


def _garp_frames(ifname: str, ip: str) -> list[bytes]:
    mac = bytes.fromhex(Path(f"/sys/class/net/{ifname}/address").read_text().strip().replace(":", ""))
    addr = socket.inet_aton(ip)
    frames = []
    for op, target_mac in ((1, b"\0" * 6), (2, b"\xff" * 6)):  # request and reply, as arping -U/-A do
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, mac, addr, target_mac, addr)
        frames.append(b"\xff" * 6 + mac + b"\x08\x06" + arp)
    return frames


def _garp_raw(ifname: str, ip: str) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((ifname, 0))
        for frame in _garp_frames(ifname, ip):
            s.send(frame)


def _arping_cmd(ifname: str, ip: str) -> list[str] | None:
    exe = shutil.which("arping")
    return [exe, "-U", "-c", "2", "-I", ifname, ip] if exe else None


def gratuitous_arp(ifname: str, ip: str) -> None:
    """Announce the VIP (``arping -U -c 2``); without arping, send the frames ourselves."""
    cmd = _arping_cmd(ifname, ip)
    if cmd is not None:
        subprocess.run(cmd, capture_output=True, timeout=10)
        return
    log.warning("arping not found; sending gratuitous ARP for %s on %s via raw socket", ip, ifname)
    try:
        _garp_raw(ifname, ip)
    except OSError as e:
        log.warning("gratuitous ARP for %s on %s failed: %s", ip, ifname, e)


def claim_vip(ifname: str, ip: str, prefixlen: int) -> bool:
    """Add the VIP and announce it at once (raw gratuitous ARP, no subprocess): blocking, a few ms. Hosts
    update their ARP caches from these frames, so they must leave before a Coup makes the old Active let go.
    Returns whether the address is up; False (the driver then retries on its worker) also when `ip` could not
    run or hung: this runs inside the HSRP event, which must go on to send its packets."""
    try:
        if not add_vip(ifname, ip, prefixlen):
            return False
    except (OSError, subprocess.SubprocessError) as e:
        log.error("adding VIP %s/%s to %s failed: %s", ip, prefixlen, ifname, e)
        return False
    _announce_now(ifname, ip)
    return True


def _announce_now(ifname: str, ip: str) -> None:
    """The first gratuitous ARP of a claim, in-process; a failure only logs."""
    try:
        _garp_raw(ifname, ip)
    except OSError as e:  # no CAP_NET_RAW: the arping repeat (queued by the driver) still announces it
        log.warning("gratuitous ARP for %s on %s failed: %s", ip, ifname, e)


def claim_vips(vips: list[tuple[str, str, int]], extra: Sequence[str] = ()) -> list[bool]:
    """Every VIP one HSRP event takes (ifname, ip, prefixlen), at once: one `ip -batch` process for all the
    addresses, then a raw gratuitous ARP for each. One process per VIP took 20-80 ms each on a loaded machine,
    and a node preempting inside and outside then drew the inside hosts to it while the crypto VIP its ESP
    leaves from was still missing (3-4 packets lost per client at the preempt back). `extra`: more `ip -batch`
    lines for the same process, after the addresses and before the announcements (the sidecar's RRI routes).
    Whether each VIP is up, in order; a failed batch is retried VIP by VIP (to know which), a hung or missing
    `ip` fails them all."""
    if not vips:
        return []
    for _ifname, ip, _plen in vips:
        ipaddress.IPv4Address(ip)
    script = "".join(f"address replace {ip}/{plen} dev {ifname}\n" for ifname, ip, plen in vips)
    script += "".join(f"{line}\n" for line in extra)
    try:
        res = subprocess.run(["ip", "-force", "-batch", "-"], input=script, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        log.error("adding VIPs %s failed: %s", ", ".join(ip for _, ip, _ in vips), e)
        return [False] * len(vips)
    if res.returncode != 0:
        log.error("adding VIPs in one batch failed (%s): one by one", res.stderr.strip())
        return [claim_vip(*vip) for vip in vips]
    for ifname, ip, _plen in vips:
        _announce_now(ifname, ip)
    return [True] * len(vips)


async def _gratuitous_arp_async(ifname: str, ip: str) -> None:
    cmd = _arping_cmd(ifname, ip)
    if cmd is None:
        await asyncio.to_thread(gratuitous_arp, ifname, ip)
        return
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await proc.wait()


async def _run(cmd: list[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace").strip()


# --------------------------------------------------------------------------- driver


class HsrpDriver:
    """Runs one :class:`HsrpRouter` on real sockets: packets and timers in, actions out.

    Sends happen synchronously inside the event that caused them, and so
    does a VIP claim (address and a first gratuitous ARP, before the Coup
    that follows it: make before break); VIP removal runs on one worker task
    without blocking the loop, and a removal a later claim overtook is
    skipped.  The repeated gratuitous ARP (``arping``) is fire and forget.
    *on_action* sees every action (after the built-in handling); it may be a
    plain function or a coroutine function (then run as a task). *with_claim*
    returns `ip -batch` lines to run in a claim's own process (the sidecar's
    RRI routes, in place before the first announcement draws traffic).
    """

    def __init__(
        self,
        router: HsrpRouter,
        endpoints: Iterable[HsrpEndpoint],
        on_action: ActionCallback | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        manage_vips: bool = True,
        with_claim: Callable[[list[tuple[str, str, int]]], Sequence[str]] | None = None,
    ) -> None:
        self.router = router
        self.with_claim = with_claim
        self.endpoints = {ep.ifname: ep for ep in endpoints}
        self.on_action = on_action
        self.clock = clock
        self.manage_vips = manage_vips
        self._wake: asyncio.Event | None = None
        self._vip_queue: asyncio.Queue[tuple[bool, str, str, int] | None] = asyncio.Queue()
        self._vip_wanted: dict[tuple[str, str], bool] = {}  # (ifname, ip) -> claimed, as last decided
        self._tasks: set[asyncio.Task] = set()

    # -- inputs from other components (safe to call from the loop thread at any time)
    def set_tracked(self, name: str, up: bool) -> None:
        self.execute(self.router.set_tracked(name, up, self.clock()))

    def resign(self) -> None:
        self.execute(self.router.resign(self.clock()))

    def stop_interface(self, ifname: str) -> None:
        self.execute(self.router.stop(self.clock(), ifname=ifname))

    def start_interface(self, ifname: str) -> None:
        self.execute(self.router.start(self.clock(), ifname=ifname))

    # -- internals
    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def execute(self, actions: list[Action]) -> None:
        """Carry out FSM actions, then hand each to *on_action*."""
        claimed: dict[tuple[str, str], bool] = {}  # this batch's claims, all made at its first one
        for index, act in enumerate(actions):
            if isinstance(act, Send):
                ep = self.endpoints.get(act.ifname)
                if ep is not None and ep.sock is not None:
                    ep.send(act.packet)
            elif isinstance(act, ClaimVip | ReleaseVip) and self.manage_vips:
                ep = self.endpoints.get(act.ifname)
                if ep is not None and act.ip:
                    add, plen = isinstance(act, ClaimVip), ep.prefixlen or 32
                    self._vip_wanted[(act.ifname, act.ip)] = add
                    if add and (act.ifname, act.ip) not in claimed:
                        batch = self._claims(actions[index:])
                        claimed.update(zip([(ifname, ip) for ifname, ip, _ in batch],
                                           claim_vips(batch, self._claim_extras(batch)), strict=True))
                    if add and claimed[(act.ifname, act.ip)]:
                        self._spawn(_gratuitous_arp_async(act.ifname, act.ip))  # the announcement, repeated
                    else:
                        self._vip_queue.put_nowait((add, act.ifname, act.ip, plen))
            if self.on_action is not None:
                try:
                    res = self.on_action(act)
                    if inspect.isawaitable(res):
                        self._spawn(res)
                except Exception:  # a broken observer must not stop the protocol
                    log.exception("HSRP on_action callback failed for %r", act)
        if self._wake is not None:
            self._wake.set()

    def _claim_extras(self, batch: list[tuple[str, str, int]]) -> Sequence[str]:
        """The `with_claim` lines for this claim; a failing hook costs them, never the claim."""
        if self.with_claim is None:
            return ()
        try:
            return self.with_claim(batch)
        except Exception:
            log.exception("with_claim hook failed for %r", batch)
            return ()

    def _claims(self, actions: list[Action]) -> list[tuple[str, str, int]]:
        """(ifname, ip, prefixlen) of every VIP claim among `actions` this driver carries out, once each."""
        out: list[tuple[str, str, int]] = []
        for act in actions:
            ep = self.endpoints.get(act.ifname) if isinstance(act, ClaimVip) else None
            if ep is not None and act.ip and (act.ifname, act.ip, ep.prefixlen or 32) not in out:
                out.append((act.ifname, act.ip, ep.prefixlen or 32))
        return out

    async def _vip_worker(self) -> None:
        while (item := await self._vip_queue.get()) is not None:
            add, ifname, ip, plen = item
            if self._vip_wanted.get((ifname, ip), add) != add:
                continue  # overtaken: a claim came after this release was queued (or the reverse)
            rc, err = await _run(_vip_cmd("replace" if add else "del", ifname, ip, plen))
            if rc != 0 and not (not add and "Cannot assign requested address" in err):
                log.error("%s VIP %s/%s on %s failed: %s", "adding" if add else "removing", ip, plen, ifname, err)
            if add and rc == 0:
                self._spawn(_gratuitous_arp_async(ifname, ip))
            if not add and self._vip_wanted.get((ifname, ip)):
                # claimed while this removal ran (seen: a charon crash left HSRP, the release waited behind the
                # blocking charon restart, the node preempted straight back, and the late `ip addr del` took
                # the VIP from an Active node: nobody answered IKE for a minute): put it back
                log.warning("VIP %s on %s was claimed while its removal ran: adding it again", ip, ifname)
                self._vip_queue.put_nowait((True, ifname, ip, plen))

    def _packet_handler(self, ifname: str) -> PacketCallback:
        def handle(pkt: HsrpPacket | PacketError, src: str) -> None:
            self.execute(self.router.on_packet(ifname, pkt, src, self.clock()))

        return handle

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Open endpoints, start all groups and run until *stop* is set (or cancelled).

        On the way out every group is stopped (Active ones send Resign and
        release their VIP) so the peer takes over at once instead of waiting a
        holdtime.
        """
        loop = asyncio.get_running_loop()
        stop = stop or asyncio.Event()
        self._wake = asyncio.Event()
        worker = asyncio.create_task(self._vip_worker())
        opened: list[HsrpEndpoint] = []
        try:
            for ep in self.endpoints.values():
                ep.open(loop, self._packet_handler(ep.ifname))
                opened.append(ep)
            self.execute(self.router.start(self.clock()))
            stop_wait = asyncio.create_task(stop.wait())
            try:
                while not stop.is_set():
                    deadline = self.router.next_deadline()
                    self._wake.clear()
                    handle = None
                    if deadline is not None:
                        handle = loop.call_later(max(0.0, deadline - self.clock()), self._wake.set)
                    wake_wait = asyncio.create_task(self._wake.wait())
                    await asyncio.wait({wake_wait, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                    wake_wait.cancel()
                    if handle is not None:
                        handle.cancel()
                    now = self.clock()
                    if deadline is not None and now >= deadline:
                        self.execute(self.router.on_timer(now))
            finally:
                stop_wait.cancel()
        finally:
            self.execute(self.router.stop(self.clock()))
            self._vip_queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(worker)
            for ep in opened:
                ep.close()
            for task in list(self._tasks):
                task.cancel()
            self._wake = None


async def run_router(
    router: HsrpRouter,
    endpoints: Iterable[HsrpEndpoint],
    on_action: ActionCallback | None = None,
    *,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    manage_vips: bool = True,
) -> None:
    """Convenience wrapper: ``await HsrpDriver(...).run(stop)``."""
    await HsrpDriver(router, endpoints, on_action, clock=clock, manage_vips=manage_vips).run(stop)

"""Transport: helpers without privileges, plus a real two-namespace election when root."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from labctl.sidecar.hsrp import transport
from labctl.sidecar.hsrp.fsm import ClaimVip, GroupConfig, HsrpGroup, HsrpRouter, ReleaseVip, Send, StateChanged
from labctl.sidecar.hsrp.packet import HsrpPacket, Opcode, State

REPO = Path(__file__).resolve().parents[2]



def fake_vip_io(monkeypatch, log, on_ip=None):
    """Fake the driver's VIP I/O: `ip` runs (verb), announcements and batch claims go to `log`; `on_ip(verb)`
    runs inside an `ip` call (an event landing while it runs)."""

    async def fake_run(cmd):
        log.append(("ip", *cmd[2:4]))
        if on_ip is not None:
            on_ip(cmd[2])
        return 0, ""

    async def fake_garp(ifname, ip):
        log.append(("arping", ip))

    def fake_claim(vips, extra=()):
        log.extend(("claim", ip) for _ifname, ip, _plen in vips)
        return [True] * len(vips)

    monkeypatch.setattr(transport, "_run", fake_run)
    monkeypatch.setattr(transport, "_gratuitous_arp_async", fake_garp)
    monkeypatch.setattr(transport, "claim_vips", fake_claim)

def test_garp_frames_layout(monkeypatch, tmp_path):
    real = Path
    fake = tmp_path / "address"
    fake.write_text("02:42:ac:11:00:02\n")
    monkeypatch.setattr(transport, "Path", lambda p: fake if p.endswith("/address") else real(p))
    req, rep = transport._garp_frames("eth0", "192.0.2.100")
    mac = bytes.fromhex("0242ac110002")
    assert req[:6] == b"\xff" * 6 and req[6:12] == mac and req[12:14] == b"\x08\x06"
    assert req[20:22] == b"\x00\x01" and rep[20:22] == b"\x00\x02"  # request, reply
    assert req[28:32] == req[38:42] == bytes([192, 0, 2, 100])  # sender IP == target IP


def test_find_interface_parses_ip_json(monkeypatch):
    doc = [
        {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
        {
            "ifname": "eth7",
            "addr_info": [
                {"family": "inet6", "local": "fe80::1", "prefixlen": 64},
                {"family": "inet", "local": "10.1.0.2", "prefixlen": 24},
            ],
        },
    ]

    def fake_run(cmd, **kw):
        assert cmd == ["ip", "-j", "addr"]
        return subprocess.CompletedProcess(cmd, 0, json.dumps(doc), "")

    monkeypatch.setattr(transport.subprocess, "run", fake_run)
    assert transport.find_interface("10.1.0.2") == ("eth7", 24)
    with pytest.raises(LookupError):
        transport.find_interface("10.9.9.9")


def test_driver_executes_actions_and_reports_them(monkeypatch):
    """Driver with a fake endpoint: lone router reaches Active and the VIP worker runs `ip addr`."""
    cmds: list[list[str]] = []

    async def fake_run(cmd):
        cmds.append(cmd)
        return 0, ""

    async def fake_garp(ifname, ip):
        cmds.append(["garp", ifname, ip])

    def fake_claim(vips, extra=()):
        cmds.extend(["claim", ifname, f"{ip}/{prefixlen}"] for ifname, ip, prefixlen in vips)
        return [True] * len(vips)

    monkeypatch.setattr(transport, "_run", fake_run)
    monkeypatch.setattr(transport, "_gratuitous_arp_async", fake_garp)
    monkeypatch.setattr(transport, "claim_vips", fake_claim)

    class FakeEndpoint(transport.HsrpEndpoint):
        def open(self, loop, on_packet):
            self.sock, self.sent = object(), []

        def send(self, packet):
            self.sent.append(packet)

        def close(self):
            self.sock = None

    cfg = GroupConfig(group=1, name="out", virtual_ip="198.51.100.100", hello_ms=20, hold_ms=60)
    router = HsrpRouter([("eth0", HsrpGroup(cfg, "198.51.100.1"))])
    ep = FakeEndpoint("eth0", "198.51.100.1", 2, prefixlen=24)
    seen = []

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(transport.run_router(router, [ep], seen.append, stop=stop))
        t0 = time.monotonic()
        while router.role != "active" and time.monotonic() - t0 < 2:
            await asyncio.sleep(0.01)
        took = time.monotonic() - t0
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 2)
        return took

    took = asyncio.run(main())
    assert took < 0.5  # 2 x 60 ms hold plus scheduling slack
    news = [a.new for a in seen if isinstance(a, StateChanged)]
    assert news == [State.LISTEN, State.SPEAK, State.ACTIVE, State.INITIAL]
    assert any(isinstance(a, ClaimVip) and a.ifname == "eth0" for a in seen)
    assert isinstance([a for a in seen if not isinstance(a, StateChanged)][-1], ReleaseVip)
    assert cmds[0] == ["claim", "eth0", "198.51.100.100/24"]  # at once, in the event that made us Active
    assert ["garp", "eth0", "198.51.100.100"] in cmds  # the repeated announcement
    assert cmds[-1] == ["ip", "addr", "del", "198.51.100.100/24", "dev", "eth0"]
    assert ep.sent[-1].opcode.name == "RESIGN"


def test_driver_claims_before_the_coup_goes_out_and_skips_an_overtaken_release(monkeypatch):
    """A claim is applied in the event that made the node Active, before the packets after it in the
    batch (the Coup); a release still queued when a later claim came is dropped, not applied after it."""
    log: list[tuple[str, ...]] = []
    fake_vip_io(monkeypatch, log)

    class FakeEndpoint(transport.HsrpEndpoint):
        def send(self, packet):
            log.append(("send", packet.opcode.name))

    ep = FakeEndpoint("eth0", "198.51.100.1", 2, prefixlen=24)
    ep.sock = object()
    cfg = GroupConfig(group=1, name="out", virtual_ip="198.51.100.100")
    router = HsrpRouter([("eth0", HsrpGroup(cfg, "198.51.100.1"))])
    coup = HsrpPacket(version=2, opcode=Opcode.COUP, state=State.ACTIVE, group=1, priority=100, hellotime_ms=3000,
                      holdtime_ms=10000, virtual_ip="198.51.100.100")

    async def scenario() -> None:
        driver = transport.HsrpDriver(router, [ep])
        worker = asyncio.create_task(driver._vip_worker())
        driver.execute([ClaimVip("198.51.100.100", "eth0"), Send(coup, "eth0")])
        driver.execute([ReleaseVip("198.51.100.100", "eth0"), ClaimVip("198.51.100.100", "eth0")])
        await asyncio.sleep(0.05)
        driver._vip_queue.put_nowait(None)
        await worker

    asyncio.run(scenario())
    assert log[:2] == [("claim", "198.51.100.100"), ("send", "COUP")]
    assert ("ip", "del", "198.51.100.100/24") not in log  # the release was overtaken by the second claim
    assert log.count(("claim", "198.51.100.100")) == 2


def test_every_claim_of_a_batch_is_made_at_once_before_its_packets(monkeypatch):
    """Preempting inside and outside in one event: both VIPs in one claim, before any packet of the batch
    (a claim per VIP drew the inside hosts while the crypto VIP was still missing); a VIP the batch claims
    twice is claimed once; a failed claim goes to the worker."""
    log: list[tuple[str, ...]] = []

    def fake_claim(vips, extra=()):
        log.append(("claim", *(ip for _ifname, ip, _plen in vips)))
        return [ip != "10.1.0.1" for _ifname, ip, _plen in vips]

    monkeypatch.setattr(transport, "claim_vips", fake_claim)

    class FakeEndpoint(transport.HsrpEndpoint):
        def send(self, packet):
            log.append(("send", self.ifname, packet.opcode.name))

    outside, inside = FakeEndpoint("eth1", "198.51.100.1", 2, prefixlen=24), FakeEndpoint("eth0", "10.1.0.11", 2, 24)
    outside.sock = inside.sock = object()
    router = HsrpRouter([("eth1", HsrpGroup(GroupConfig(group=1, name="out", virtual_ip="198.51.100.100"),
                                            "198.51.100.1"))])
    coup = HsrpPacket(version=2, opcode=Opcode.COUP, state=State.ACTIVE, group=1, priority=100, hellotime_ms=3000,
                      holdtime_ms=10000, virtual_ip="198.51.100.100")

    async def scenario() -> list:
        driver = transport.HsrpDriver(router, [outside, inside])
        driver.execute([ClaimVip("10.1.0.1", "eth0"), Send(coup, "eth0"), ClaimVip("198.51.100.100", "eth1"),
                        ClaimVip("10.1.0.1", "eth0"), Send(coup, "eth1")])
        return [driver._vip_queue.get_nowait() for _ in range(driver._vip_queue.qsize())]

    queued = asyncio.run(scenario())
    assert log == [("claim", "10.1.0.1", "198.51.100.100"), ("send", "eth0", "COUP"), ("send", "eth1", "COUP")]
    assert queued == [(True, "eth0", "10.1.0.1", 24)] * 2  # the failed one, for the worker (once per action)


def test_claim_vips_is_one_ip_batch_then_one_announcement_each(monkeypatch):
    runs: list[tuple[list[str], str]] = []
    announced: list[tuple[str, str]] = []

    def fake_run(cmd, input=None, **kwargs):  # noqa: A002 - subprocess.run's own keyword
        runs.append((cmd, input))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(transport.subprocess, "run", fake_run)
    monkeypatch.setattr(transport, "_garp_raw", lambda ifname, ip: announced.append((ifname, ip)))
    vips = [("eth1", "198.51.100.100", 24), ("eth0", "10.1.0.1", 24)]
    assert transport.claim_vips(vips) == [True, True]
    assert runs == [(["ip", "-force", "-batch", "-"],
                     "address replace 198.51.100.100/24 dev eth1\naddress replace 10.1.0.1/24 dev eth0\n")]
    assert announced == [("eth1", "198.51.100.100"), ("eth0", "10.1.0.1")]
    assert transport.claim_vips([]) == [] and len(runs) == 1
    assert transport.claim_vips(vips[:1], ["route replace 10.2.0.0/24 dev ipsec0"]) == [True]
    assert runs[-1][1] == "address replace 198.51.100.100/24 dev eth1\nroute replace 10.2.0.0/24 dev ipsec0\n"
    with pytest.raises(ValueError):
        transport.claim_vips([("eth0", "not-an-address", 24)])


def test_a_failed_batch_is_retried_vip_by_vip_and_a_hung_one_fails_all(monkeypatch):
    singles: list[str] = []

    def failing_batch(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "Error: Cannot find device \"eth9\"")

    monkeypatch.setattr(transport.subprocess, "run", failing_batch)
    monkeypatch.setattr(transport, "claim_vip", lambda ifname, ip, plen: singles.append(ip) or ifname != "eth9")
    assert transport.claim_vips([("eth9", "198.51.100.100", 24), ("eth0", "10.1.0.1", 24)]) == [False, True]
    assert singles == ["198.51.100.100", "10.1.0.1"]

    def hung(*args, **kwargs):
        raise subprocess.TimeoutExpired(["ip"], 10)

    monkeypatch.setattr(transport.subprocess, "run", hung)
    assert transport.claim_vips([("eth0", "10.1.0.1", 24), ("eth1", "198.51.100.100", 24)]) == [False, False]
    assert len(singles) == 2  # not retried one by one: each would hang as long


def test_a_claim_whose_ip_command_hangs_is_left_to_the_worker(monkeypatch):
    """The synchronous claim runs inside an HSRP event: a hung or missing `ip` must not abort it (the Coup
    after the claim still has to go out); the driver then queues the claim for its worker."""
    def hung(*args, **kwargs):
        raise subprocess.TimeoutExpired(["ip"], 10)

    monkeypatch.setattr(transport.subprocess, "run", hung)
    assert transport.claim_vip("eth0", "198.51.100.100", 24) is False
    monkeypatch.setattr(transport.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError("ip")))
    assert transport.claim_vip("eth0", "198.51.100.100", 24) is False


# --------------------------------------------------------------------------- real namespaces

NODE = textwrap.dedent(
    """
    import asyncio, json, logging, signal, sys
    from labctl.sidecar.hsrp.fsm import GroupConfig, HsrpGroup, HsrpRouter, StateChanged
    from labctl.sidecar.hsrp.transport import HsrpEndpoint, find_interface, run_router

    logging.basicConfig(level=logging.ERROR)
    ip, prio, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ifname, plen = find_interface(ip)
    cfg = GroupConfig(group=7, name="HA-out", virtual_ip="10.199.0.100", priority=prio,
                      hello_ms=100, hold_ms=300, version=version)
    router = HsrpRouter([(ifname, HsrpGroup(cfg, ip, bytes(6)))])
    changes = []

    def on_action(a):
        if isinstance(a, StateChanged):
            changes.append(a.new.name)
            print(json.dumps({"state": a.new.name}), flush=True)

    async def main():
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await run_router(router, [HsrpEndpoint(ifname, ip, version, plen)], on_action, stop=stop)

    asyncio.run(main())
    """
)


def _netns_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "iproute2 not installed"
    probe = f"hsrpprobe{uuid.uuid4().hex[:6]}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "ip netns add not permitted here"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@pytest.fixture
def two_namespaces():
    why = _netns_usable()
    if why:
        pytest.skip(why)
    tag = uuid.uuid4().hex[:6]
    a, b = f"hsrpA{tag}", f"hsrpB{tag}"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    ip("netns", "add", a)
    ip("netns", "add", b)
    try:
        ip("link", "add", f"va{tag}", "netns", a, "type", "veth", "peer", "name", f"vb{tag}", "netns", b)
        for ns, dev, addr in ((a, f"va{tag}", "10.199.0.1/24"), (b, f"vb{tag}", "10.199.0.2/24")):
            ip("-n", ns, "addr", "add", addr, "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield a, b
    finally:
        subprocess.run(["ip", "netns", "del", a], capture_output=True)
        subprocess.run(["ip", "netns", "del", b], capture_output=True)


def _has_vip(ns: str) -> bool:
    out = subprocess.run(["ip", "-n", ns, "-j", "addr"], capture_output=True, text=True, check=True).stdout
    return any(a.get("local") == "10.199.0.100" for link in json.loads(out) for a in link.get("addr_info", []))


def _wait(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


@pytest.mark.parametrize("version", [2, 1])
def test_two_namespaces_elect_and_fail_over(two_namespaces, tmp_path, version):
    ns_a, ns_b = two_namespaces
    script = tmp_path / "node.py"
    script.write_text(NODE)
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def spawn(ns: str, ip: str, prio: int) -> subprocess.Popen:
        return subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(script), ip, str(prio), str(version)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    a = spawn(ns_a, "10.199.0.1", 150)
    b = spawn(ns_b, "10.199.0.2", 100)
    states_b: list[str] = []

    def read_b() -> None:
        assert b.stdout is not None
        for line in b.stdout:
            if line.startswith("{"):
                states_b.append(json.loads(line)["state"])

    reader = threading.Thread(target=read_b, daemon=True)
    reader.start()
    try:
        assert _wait(lambda: _has_vip(ns_a), 3.0), "A (priority 150) never got the VIP"
        assert _wait(lambda: states_b[-1:] == ["STANDBY"], 2.0), states_b
        assert not _has_vip(ns_b)
        a.send_signal(signal.SIGKILL)  # power cut: no Resign, B must time A out (300 ms hold)
        a.wait(5)
        t0 = time.monotonic()
        assert _wait(lambda: _has_vip(ns_b), 2.0), "B never took over the VIP"
        assert time.monotonic() - t0 < 1.0
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        b.wait(5)
        a.wait(5)
        reader.join(5)
    assert states_b[-2:] == ["ACTIVE", "INITIAL"], states_b  # SIGTERM: clean stop...
    assert not _has_vip(ns_b)  # ...which released the VIP


def test_the_claim_hook_adds_its_lines_to_the_claim_and_a_failing_one_costs_only_them(monkeypatch):
    """`with_claim` sees the whole batch of claims and its lines go into the same claim; a hook that raises
    still lets the VIPs be claimed (the protocol goes on)."""
    seen: list[tuple[list, tuple]] = []

    def fake_claim(vips, extra=()):
        seen.append((list(vips), tuple(extra)))
        return [True] * len(vips)

    monkeypatch.setattr(transport, "claim_vips", fake_claim)
    ep = transport.HsrpEndpoint("eth1", "198.51.100.1", 2, prefixlen=24)
    router = HsrpRouter([("eth1", HsrpGroup(GroupConfig(group=1, name="out", virtual_ip="198.51.100.100"),
                                            "198.51.100.1"))])
    hooked: list[list] = []

    def hook(batch):
        hooked.append(batch)
        return ["route replace 10.2.0.0/24 dev ipsec0"]

    def broken(batch):
        raise RuntimeError("no policy")

    async def scenario() -> None:
        transport.HsrpDriver(router, [ep], with_claim=hook).execute([ClaimVip("198.51.100.100", "eth1")])
        transport.HsrpDriver(router, [ep], with_claim=broken).execute([ClaimVip("198.51.100.100", "eth1")])

    asyncio.run(scenario())
    assert hooked == [[("eth1", "198.51.100.100", 24)]]
    assert seen == [([("eth1", "198.51.100.100", 24)], ("route replace 10.2.0.0/24 dev ipsec0",)),
                    ([("eth1", "198.51.100.100", 24)], ())]


def test_a_claim_during_a_running_release_puts_the_vip_back(monkeypatch):
    """The release was already running (its `ip addr del` spawned) when a claim came: the claim's address
    went in first and the late delete removed it from an Active node. The worker adds it back."""
    log: list[tuple[str, ...]] = []
    driver_box: list[transport.HsrpDriver] = []

    def claim_meanwhile(verb):
        if verb == "del":  # the claim lands while the delete runs
            driver_box[0].execute([ClaimVip("198.51.100.100", "eth0")])

    fake_vip_io(monkeypatch, log, claim_meanwhile)
    ep = transport.HsrpEndpoint("eth0", "198.51.100.1", 2, prefixlen=24)
    router = HsrpRouter([("eth0", HsrpGroup(GroupConfig(group=1, name="out", virtual_ip="198.51.100.100"),
                                            "198.51.100.1"))])

    async def scenario() -> None:
        driver = transport.HsrpDriver(router, [ep])
        driver_box.append(driver)
        worker = asyncio.create_task(driver._vip_worker())
        driver.execute([ReleaseVip("198.51.100.100", "eth0")])
        await asyncio.sleep(0.05)
        driver._vip_queue.put_nowait(None)
        await worker

    asyncio.run(scenario())
    assert log[:2] == [("ip", "del", "198.51.100.100/24"), ("claim", "198.51.100.100")]
    assert ("ip", "replace", "198.51.100.100/24") in log[2:]  # put back after the late delete

"""The sidecar's wiring executes the policy's commands in order, with every I/O faked (no charon, no Docker).

What matters here is *when* each command runs: what an HSRP observer call must do at once (FIFO writes,
route withdrawal, events) and what runs later in a task (the VIP wait, route injection, charon reloads).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from labctl.sidecar import __main__ as main_mod
from labctl.sidecar import contract
from labctl.sidecar.config import SidecarConfig
from labctl.sidecar.contract import Redundancy
from labctl.sidecar.sso import Channel
from tests.unit.test_sidecar_config import LEGACY


class FakeCharon:
    def __init__(self, log: list[Any]) -> None:
        self.log, self.running, self.starts = log, True, 1

    def ha_command(self, command: str) -> bool:
        self.log.append(("fifo", command))
        return True

    def kill(self) -> None:
        self.log.append("kill")

    def start(self) -> bool:
        self.log.append("start")
        self.running = True
        return True


class FakeDriver:
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def execute(self, actions: list[Any]) -> None:
        self.log.append(("hsrp", len(actions)))


@pytest.fixture
def sidecar(monkeypatch: pytest.MonkeyPatch) -> tuple[main_mod.Sidecar, list[Any]]:
    log: list[Any] = []
    monkeypatch.setattr(main_mod.transport, "find_interface",
                        lambda ip: ("eth0" if ip.startswith("198.") else "eth1", 24))
    monkeypatch.setattr(main_mod, "interface_mac", lambda ifname: b"\x02\0\0\0\0\x01")
    monkeypatch.setattr(main_mod, "vip_present", lambda ip: log.append(("vip?", ip)) or True)
    monkeypatch.setattr(main_mod.rri, "withdraw", lambda: log.append("withdraw"))
    monkeypatch.setattr(main_mod.rri, "hand_over", lambda prefixes, via, ifname: log.append(("hand_over", prefixes,
                                                                                             via, ifname)))
    monkeypatch.setattr(main_mod.rri, "inject",
                        lambda prefixes, _device, handover: log.append(("inject", prefixes, handover)) or prefixes)
    monkeypatch.setattr(main_mod.rri, "sync", lambda prefixes: log.append(("sync", prefixes)) or prefixes)
    monkeypatch.setattr(main_mod.status, "write", lambda status, path=None: log.append(("status", status["role"])))
    car = main_mod.Sidecar(SidecarConfig.from_dict(LEGACY))
    car.charon = FakeCharon(log)  # type: ignore[assignment]
    car.driver = FakeDriver(log)  # type: ignore[attr-defined]
    return car, log


def test_takeover_writes_the_segment_at_once_and_finishes_in_a_task(sidecar: Any, capsys: Any) -> None:
    car, log = sidecar

    async def scenario() -> list[Any]:
        car.execute(car.policy.on_role("active", 1.0, True))
        at_once = list(log)
        await asyncio.gather(*car.tasks)
        return at_once

    at_once = asyncio.run(scenario())
    assert at_once == [("fifo", "+1")]  # before the observer returns: the driver's next actions follow it
    assert log == [("fifo", "+1"), ("vip?", "198.51.100.3"), ("inject", ["10.2.0.0/24"], False), ("fifo", "*1")]
    lines = [contract.parse_event(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e.kind, e.detail) for e in lines] == [
        ("role", "init -> active"), ("redundancy", "my state INITIALIZATION -> ACTIVE"),
        ("ha", "segment 1 activated"), ("rri", "injected 10.2.0.0/24"),
        ("ha", "segment 1 resync: CHILD_SAs rekeyed for ESP sequence continuity")]
    assert [e["kind"] for e in car.events] == ["role", "redundancy", "ha", "rri", "ha"]


def test_leaving_active_withdraws_and_deactivates_at_once_and_reloads_in_a_task(sidecar: Any) -> None:
    car, log = sidecar

    async def scenario() -> list[Any]:
        car.execute(car.policy.on_role("active", 1.0, True))
        await asyncio.gather(*car.tasks)
        log.clear()
        generation = car.policy.sas_generation
        car.execute(car.policy.on_role("transition", 2.0, True))
        at_once = list(log)
        assert car.policy.reloading
        await asyncio.gather(*car.tasks)
        assert car.policy.sas_generation == generation + 2  # forgotten after the kill and after the start
        return at_once

    assert asyncio.run(scenario()) == ["withdraw", ("fifo", "-1")]
    assert log == ["withdraw", ("fifo", "-1"), "kill", "start"]
    assert car.policy.reloading is False and car.policy.rri_routes == []
    assert car.events[-3:] == [
        {"time": car.events[-3]["time"], "kind": "rri", "detail": "withdrew 10.2.0.0/24"},
        {"time": car.events[-2]["time"], "kind": "ha", "detail": "segment 1 deactivated"},
        {"time": car.events[-1]["time"], "kind": "charon", "detail": "reloading charon to resync from the active"}]


def test_a_dead_charon_is_restarted_with_the_node_out_of_hsrp(sidecar: Any) -> None:
    car, log = sidecar
    car.charon.running = False
    generation = car.policy.sas_generation
    car.execute(car.policy.on_tick(1.0, car.charon.running))
    assert [entry for entry in log if not (isinstance(entry, tuple) and entry[0] == "hsrp")] == \
        ["withdraw", ("status", "init"), "start"]
    assert log[0][0] == "hsrp" and log[-1][0] == "hsrp"  # left HSRP first, rejoined last
    assert car.policy.sas_generation == generation + 2
    log.clear()
    car.execute(car.policy.on_tick(1.1, car.charon.running))  # running again: nothing
    assert log == []


def test_a_bound_sso_report_reaches_the_policy_and_a_malformed_one_is_logged(sidecar: Any) -> None:
    car, _log = sidecar
    peer = Channel("10.9.0.12", "10.9.0.11", 4520, b"labctl-sso-key")
    peer.open_message(car.channel.seal({"node": "gw1"}), "10.9.0.11")  # the peer learns our boot

    class Sock:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
            return self.data, ("10.9.0.12", 4520)

    car._read_sso(Sock(peer.seal({"node": "gw2", "state": "ACTIVE"})))
    assert car.policy.peer_report["node"] == "gw2"
    car._read_sso(Sock(peer.seal({"node": "gw2", "state": 13})))
    assert car.channel.counts["malformed"] == 1
    assert car.events[-1]["kind"] == "sso" and car.events[-1]["detail"].startswith("rejected SSO message: malformed")


def test_status_document(sidecar: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    car, _log = sidecar
    written: list[dict[str, Any]] = []
    monkeypatch.setattr(main_mod.status, "write", written.append)
    car.policy.on_peer_report({"node": "gw2", "state": "ACTIVE"}, 1e12)
    car.write_status()
    (doc,) = written
    assert (doc["node"], doc["role"], doc["redundancy"], doc["redundancy_number"]) == \
        ("gw1", "init", "INITIALIZATION", Redundancy.INITIALIZATION.number)
    assert (doc["mode"], doc["ha_plugin"], doc["sequence_continuity"]) == ("stateful", True, "rekey")
    assert doc["replay_interval"] == {"inbound": 1000, "outbound": 10000}
    assert doc["rri"] == {"enabled": True, "routes": []}
    assert doc["charon"] == {"running": True, "starts": 1}
    assert doc["sso_channel"]["interval_ms"] == 400 and doc["sso_channel"]["peer_timeout_ms"] == 2000
    assert [(g["interface"], g["network"], g["group"], g["state"]) for g in doc["hsrp"]] == \
        [("eth0", "outside", 1, "Initial"), ("eth1", "inside", 2, "Initial")]
    assert doc["hsrp"][0]["track"] == {"inside": {"decrement": 150, "up": True}}
    assert doc["hsrp"][0]["mac"] == "02:00:00:00:00:01" and doc["hsrp"][0]["state_changes"] == 0
    json.dumps(doc)  # a JSON document


def test_status_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "run" / "sidecar-status.json"
    main_mod.status.write({"role": "active"}, path)
    assert json.loads(path.read_text()) == {"role": "active"} and not path.with_suffix(".tmp").exists()


def test_a_file_where_the_status_directory_belongs_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("not a directory")
    path = tmp_path / "run" / "sidecar-status.json"
    main_mod.status.write({"role": "standby"}, path)
    assert json.loads(path.read_text()) == {"role": "standby"}


def test_a_status_file_that_cannot_be_written_is_an_event_not_a_crash(sidecar: Any, monkeypatch: Any,
                                                                      capsys: Any) -> None:
    car, _log = sidecar

    def refuse(status: Any, path: Any = None) -> None:
        raise PermissionError(13, "Permission denied", "/run/labctl/sidecar-status.tmp")

    monkeypatch.setattr(main_mod.status, "write", refuse)
    car.write_status()
    car.write_status()  # the same failure again: logged once
    lines = [line for line in capsys.readouterr().out.splitlines() if "status file not written" in line]
    assert len(lines) == 1 and "Permission denied" in lines[0], lines
    assert car.status_error is not None
    monkeypatch.setattr(main_mod.status, "write", lambda status, path=None: None)
    car.write_status()
    assert car.status_error is None


def test_a_bad_config_stops_the_sidecar_with_the_key_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {**LEGACY, "hsrp": {k: v for k, v in LEGACY["hsrp"].items() if k != "hello_ms"}}
    path = tmp_path / "sidecar.json"
    path.write_text(json.dumps(bad))
    monkeypatch.setattr(main_mod.sys, "argv", ["sidecar", str(path)])
    with pytest.raises(SystemExit, match=r"labctl sidecar: .*missing key hsrp\.hello_ms"):
        main_mod.main()


def test_an_active_forwards_its_table_and_keeps_no_table_of_the_peers(sidecar: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """While Active (also in the instant of a preempt, when both are) a table from the peer is not kept, so
    it cannot push our outbound numbers ahead; the table kept as a standby goes on raising SAs after the
    takeover (one installed late starts where the old Active left it)."""
    from labctl.sidecar import replay

    car, _log = sidecar
    sent: list[Any] = []
    monkeypatch.setattr(car.channel, "send", sent.append)
    mine = [replay.SaSeq("c1a2b3c4", "198.51.100.50", False, 500)]
    car.policy.role = contract.ROLE_ACTIVE
    car.on_replay_table([replay.SaSeq("c1a2b3c4", "198.51.100.50", False, 20000)])
    assert car.replay_round(mine) == []
    assert sent and sent[0]["replay"] == [["c1a2b3c4", "198.51.100.50", "out", 500]]
    car.policy.role = contract.ROLE_STANDBY
    car.on_replay_table([replay.SaSeq("c1a2b3c4", "198.51.100.50", False, 20000)])
    assert car.replay_round(mine) == [(mine[0], 30000)]  # the synced value + the outbound interval
    car.policy.role = contract.ROLE_ACTIVE
    late = [replay.SaSeq("c1a2b3c4", "198.51.100.50", False, 0)]  # charon installed it again after the takeover
    assert car.replay_round(late) == [(late[0], 30000)]
    applied: list[Any] = []
    monkeypatch.setattr(replay, "get", lambda: mine)
    monkeypatch.setattr(replay, "set_many", lambda raises: applied.extend(raises) or len(raises))
    assert car.sync_replay() == 1 and applied == [(mine[0], 30000)]


def test_a_standby_continues_the_replay_state_only_once_charon_confirmed_every_raise(
        sidecar: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """charon answering fewer `ok`s than raises asked (it applied one `set` per request) leaves SAs that a
    takeover would restart at sequence number 1: not ready (not HOT) until a round confirms them all."""
    from labctl.sidecar import replay

    car, _log = sidecar
    car.policy.role = contract.ROLE_STANDBY
    car.charon_started = 0.0
    table = [replay.SaSeq("c1a2b3c4", "198.51.100.50", False, 20000), replay.SaSeq("0a0b0c0d", "198.51.100.50",
                                                                                   False, 300)]
    car.on_replay_table(table)
    local = [replay.SaSeq("c1a2b3c4", "198.51.100.50", False, 0), replay.SaSeq("0a0b0c0d", "198.51.100.50", False, 0)]
    monkeypatch.setattr(replay, "get", lambda: local)
    monkeypatch.setattr(replay, "set_many", lambda raises: 1)  # charon confirmed the first set only
    assert car.sync_replay() == 1 and car.policy.replay_ready is False
    monkeypatch.setattr(replay, "set_many", lambda raises: len(raises))
    assert car.sync_replay() == 2 and car.policy.replay_ready is True
    raised = [replay.SaSeq("c1a2b3c4", "198.51.100.50", False, 30000), replay.SaSeq("0a0b0c0d", "198.51.100.50",
                                                                                    False, 10300)]
    monkeypatch.setattr(replay, "get", lambda: raised)
    monkeypatch.setattr(replay, "set_many", lambda raises: 0)
    assert car.sync_replay() == 0 and car.policy.replay_ready is True  # nothing to raise: nothing to confirm
    car.policy.role, car.policy.replay_ready = contract.ROLE_ACTIVE, False
    monkeypatch.setattr(replay, "get", lambda: local)
    car.sync_replay()
    assert car.policy.replay_ready is False  # an Active's readiness is not the standby's to judge


def test_leaving_active_hands_the_routes_over_to_the_peer_heard_on_the_inside(sidecar: Any, capsys: Any) -> None:
    """The next hop is the other router of the inside group (not the crypto group's address): where the
    traffic for the remote side comes from."""
    from labctl.sidecar.hsrp.packet import HsrpPacket, Opcode
    from labctl.sidecar.hsrp.packet import State as HsrpState

    car, log = sidecar
    car.do(main_mod.policy.HandOverRoutes(("10.2.0.0/24",)))
    assert not any(entry[0] == "hand_over" for entry in log if isinstance(entry, tuple))  # nobody heard yet
    car.router.start(0.0)
    for ifname, (number, peer, vip) in {"eth1": (2, "10.1.0.12", "10.1.0.1"),
                                        "eth0": (1, "198.51.100.12", "198.51.100.3")}.items():
        hello = HsrpPacket(version=2, opcode=Opcode.HELLO, state=HsrpState.ACTIVE, group=number, priority=100,
                           hellotime_ms=200, holdtime_ms=700, virtual_ip=vip)
        car.router.on_packet(ifname, hello, peer, 0.1)
    car.do(main_mod.policy.HandOverRoutes(("10.2.0.0/24",)))
    assert ("hand_over", ["10.2.0.0/24"], "10.1.0.12", "eth1") in log
    assert "handover: 10.2.0.0/24 via 10.1.0.12 on eth1" in capsys.readouterr().out
    assert car.handover_active
    asyncio.run(car.do_slow(main_mod.policy.InjectRoutes(("10.2.0.0/24",))))  # Active again: the handover ends
    asyncio.run(car.do_slow(main_mod.policy.InjectRoutes(("10.2.0.0/24",))))  # ... once
    injects = [entry for entry in log if entry[0] == "inject"]
    assert injects == [("inject", ["10.2.0.0/24"], True), ("inject", ["10.2.0.0/24"], False)]
    assert not car.handover_active


def test_a_claim_of_the_crypto_vip_carries_the_rri_routes_and_ends_a_handover(sidecar: Any,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a claim that takes the crypto VIP (a takeover) gets the routes; a running handover is ended by it
    (the next inject need not), one of the inside VIP alone gets nothing."""
    car, log = sidecar
    monkeypatch.setattr(main_mod.rri, "claim_lines", lambda prefixes, device, handover: [
        f"route {p} dev {device}" for p in prefixes] + (["end handover"] if handover else []))
    crypto = car.config.crypto_group.virtual_ip
    inside = next(g.virtual_ip for g in car.config.groups if not g.crypto)
    assert car.routes_with_claim([("eth1", inside, 24)]) == []
    assert car.policy.rri_routes == []
    car.handover_active = True
    lines = car.routes_with_claim([("eth1", inside, 24), ("eth0", crypto, 24)])
    routes = car.policy.takeover_routes()
    assert routes and lines == [*(f"route {p} dev {main_mod.rri.TUNNEL_DEVICE}" for p in routes), "end handover"]
    assert not car.handover_active
    assert car.policy.rri_routes == list(routes)  # the policy knows: an abandoned takeover withdraws them


def test_a_claim_without_charons_tunnel_device_records_no_routes(sidecar: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    car, _log = sidecar
    monkeypatch.setattr(main_mod.rri, "claim_lines", lambda prefixes, device, handover: [])
    assert car.routes_with_claim([("eth0", car.config.crypto_group.virtual_ip, 24)]) == []
    assert car.policy.rri_routes == []

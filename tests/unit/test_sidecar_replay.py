"""Replay-state sync (IOS `redundancy replay-interval`): what the Active forwards, what the standby raises,
with a fake clock; the socket client against a real UNIX socket speaking the patched plugin's protocol."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from labctl.sidecar import replay
from labctl.sidecar.replay import Intervals, SaSeq, Sender, Store

IV = Intervals(inbound=1000, outbound=10000)
OUT = SaSeq("c1a2b3c4", "198.51.100.50", False, 5)  # gateway -> peer
IN = SaSeq("cafe0001", "198.51.100.3", True, 7)  # peer -> gateway (the VIP)


def moved(sa: SaSeq, by: int) -> SaSeq:
    return SaSeq(sa.spi, sa.dst, sa.inbound, sa.seq + by)


def test_get_answer_is_parsed_and_junk_skipped() -> None:
    text = "c1a2b3c4 198.51.100.50 out 5\nCAFE0001 198.51.100.3 in 7\nbogus line\nzz 1.2.3.4 in 1\nend\n"
    assert replay.parse_get(text) == [OUT, IN]


def test_the_active_forwards_a_table_when_an_sa_moved_by_its_interval() -> None:
    sender = Sender(IV)
    assert sender.observe([OUT, IN], 0.0) == [OUT, IN]  # new SAs: at once
    assert sender.observe([moved(OUT, 9999), moved(IN, 999)], 0.1) is None  # below both intervals
    assert sender.observe([moved(OUT, 9999), moved(IN, 1000)], 0.2) == [moved(OUT, 9999), moved(IN, 1000)]
    assert sender.observe([moved(OUT, 19998), moved(IN, 1000)], 0.3) is None  # 9999 since the last table
    assert sender.observe([moved(OUT, 19999), moved(IN, 1000)], 0.4) is not None
    assert sender.tables_sent == 3


def test_the_active_forwards_when_an_sa_goes_and_refreshes_a_quiet_table() -> None:
    sender = Sender(IV)
    sender.observe([OUT, IN], 0.0)
    assert sender.observe([OUT], 0.1) == [OUT]  # IN deleted (rekeyed): the standby must not keep it
    assert sender.observe([OUT], 0.1 + replay.REFRESH - 0.01) is None
    assert sender.observe([OUT], 0.1 + replay.REFRESH) == [OUT]  # a restarted standby learns the table
    sender.reset()
    assert sender.observe([OUT], 1.2) == [OUT]  # a new Active period starts with a full table


def test_the_standby_continues_outbound_one_interval_ahead_and_inbound_at_the_window_top() -> None:
    store = Store(IV)
    store.on_table([moved(OUT, 20000), moved(IN, 3000)], 1.0)
    local = [SaSeq(OUT.spi, OUT.dst, False, 0), SaSeq(IN.spi, IN.dst, True, 0),
             SaSeq("0badf00d", OUT.dst, False, 0)]  # an SA the Active did not report: left alone
    assert store.raises(local) == [(local[0], 5 + 20000 + 10000), (local[1], 7 + 3000)]
    # once raised, nothing more to do (sets never lower a state, so repeating would be harmless anyway)
    done = [SaSeq(OUT.spi, OUT.dst, False, 30005), SaSeq(IN.spi, IN.dst, True, 4000)]
    assert store.raises(done) == []
    assert store.raised == 2


def test_a_new_table_replaces_the_old_one() -> None:
    store = Store(IV)
    store.on_table([OUT, IN], 0.0)
    store.on_table([IN], 0.5)
    assert store.raises([SaSeq(OUT.spi, OUT.dst, False, 0)]) == []
    assert store.summary()["sas"] == 1 and store.summary()["tables_received"] == 2


def test_direction_must_match_and_the_target_never_wraps() -> None:
    store = Store(IV)
    store.on_table([SaSeq(OUT.spi, OUT.dst, False, replay.MAX_SEQ - 5)], 0.0)
    assert store.raises([SaSeq(OUT.spi, OUT.dst, True, 0)]) == []
    assert store.raises([SaSeq(OUT.spi, OUT.dst, False, 0)])[0][1] == replay.MAX_SEQ


@pytest.mark.parametrize(("table", "problem"), [
    ("x", "not a list"),
    ([["c1a2b3c4", "1.2.3.4", "out"]], "entry"),
    ([["C1A2B3C4", "1.2.3.4", "out", 1]], "spi"),
    ([["c1a2b3c4", "1.2.3.4 x", "out", 1]], "dst"),
    ([["c1a2b3c4", "1.2.3.4", "up", 1]], "direction"),
    ([["c1a2b3c4", "1.2.3.4", "out", 2**32]], "seq"),
    ([["c1a2b3c4", "1.2.3.4", "out", True]], "seq"),
])
def test_a_bad_wire_table_is_named(table: object, problem: str) -> None:
    assert problem in (replay.wire_problem(table) or "")


def test_wire_round_trip() -> None:
    wire = [OUT.wire(), IN.wire()]
    assert replay.wire_problem(wire) is None
    assert replay.from_wire(wire) == [OUT, IN]


def fake_charon(path: Path, state: dict[tuple[str, str], list]) -> threading.Thread:
    """A socket speaking the patched kernel-libipsec plugin's protocol (one request per line, EOF ends)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn, conn.makefile("rw") as f:
                for line in f:
                    words = line.split()
                    if words == ["get"]:
                        f.writelines(f"{spi} {dst} {d} {seq}\n" for (spi, dst), (d, seq) in state.items())
                        f.write("end\n")
                    elif words[0] == "set" and (words[1], words[2]) in state:
                        entry = state[(words[1], words[2])]
                        entry[1] = max(entry[1], int(words[3]))
                        f.write("ok\n")
                    else:
                        f.write("fail\n")
                    f.flush()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_client_gets_and_sets_over_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "charon.replay"
    state = {(OUT.spi, OUT.dst): ["out", 5], (IN.spi, IN.dst): ["in", 7]}
    thread = fake_charon(path, state)
    assert replay.get(str(path)) == [OUT, IN]
    gone = SaSeq("0badf00d", OUT.dst, False, 0)
    assert replay.set_many([(OUT, 10005), (gone, 3)], str(path)) == 1
    thread.join(5)
    assert state[(OUT.spi, OUT.dst)] == ["out", 10005]


def test_a_missing_socket_is_reported_not_raised_as_oserror(tmp_path: Path) -> None:
    with pytest.raises(replay.ReplayUnavailable, match="charon.replay"):
        replay.get(str(tmp_path / "charon.replay"))


def test_a_table_is_at_most_one_datagram() -> None:
    many = [SaSeq(f"{i:08x}", "10.0.0.1", False, i) for i in range(replay.MAX_ENTRIES + 10)]
    table = Sender(IV).observe(many, 0.0)
    assert table is not None and len(table) == replay.MAX_ENTRIES
    assert replay.wire_problem([sa.wire() for sa in table]) is None
    assert len(json.dumps({"replay": [sa.wire() for sa in table]})) < 65000  # what sendto can carry


def test_store_is_ready_only_with_a_table_heard_since_charon_started_and_every_sa_held() -> None:
    store = Store(Intervals(1000, 10000))
    out_sa, in_sa = SaSeq("c1a2b3d4", "10.0.0.2", False, 500), SaSeq("0a0b0c0d", "10.0.0.1", True, 400)
    assert not store.ready([out_sa, in_sa], since=0.0)  # nothing heard yet
    store.on_table([out_sa, in_sa], now=5.0)
    assert store.ready([out_sa, in_sa], since=4.0)
    assert not store.ready([out_sa, in_sa], since=6.0)  # the table predates this charon
    assert not store.ready([out_sa], since=4.0)  # an SA of the table is not held here yet
    assert store.ready([out_sa, in_sa, SaSeq("deadbeef", "10.0.0.2", False, 1)], since=4.0)  # extra local: fine
    store.on_table([], now=7.0)
    assert store.ready([], since=6.0)  # an Active with no SAs: nothing to continue


def test_sender_summary_is_the_table_as_last_forwarded_and_reset_clears_it() -> None:
    sender = Sender(Intervals(1000, 10000))
    assert sender.summary() == []
    sender.observe([OUT, IN], 0.0)
    assert sender.summary() == sorted([OUT.wire(), IN.wire()])
    sender.observe([OUT, IN], 0.01)  # nothing moved: not forwarded, the summary stays
    assert len(sender.summary()) == 2
    sender.reset()
    assert sender.summary() == []

"""Probe statistics, the site-to-site judge and fault argument checks, from synthetic data (no Docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.agent.probe import summarize
from labctl.errors import LabctlError
from labctl.experiment.events import count_log_events
from labctl.experiment.faults import FAULTS, link_network, validate_args
from labctl.experiment.judges.peer import SaIdentity, classify, judge
from labctl.experiment.probe import ProbeResult, direction
from labctl.experiment.verdict import Verdict, attach_recovery
from labctl.model.loader import load_topology

TOPOLOGY = Path(__file__).resolve().parents[2] / "topologies" / "dual-interface.yaml"


# ---------------------------------------------------------------- probe statistics


def steady(n: int, rate: float = 1000.0, start: float = 100.0) -> tuple[list[int], list[float]]:
    return list(range(n)), [start + i / rate for i in range(n)]


def test_clean_stream_has_no_loss_and_a_one_interval_gap() -> None:
    stats = summarize(*steady(1000))
    assert (stats.received, stats.duplicated, stats.reordered, stats.missing) == (1000, 0, 0, 0)
    assert stats.longest_gap_ms == pytest.approx(1.0)


def test_gap_is_measured_between_arrivals_and_located() -> None:
    seqs, arrivals = steady(1000)
    # packets 400..899 lost: nothing arrives for 501 ms after seq 399
    kept = [(s, a) for s, a in zip(seqs, arrivals, strict=True) if not 400 <= s < 900]
    stats = summarize([s for s, _ in kept], [a for _, a in kept])
    assert stats.longest_gap_ms == pytest.approx(501.0)
    assert (stats.gap_from_seq, stats.gap_to_seq) == (399, 900)
    assert stats.gap_start == pytest.approx(100.399)
    assert stats.missing == 500


def test_duplicates_are_counted_once_and_do_not_shorten_gaps() -> None:
    stats = summarize([0, 1, 1, 2, 2, 2, 3], [0.0, 0.001, 0.0015, 0.002, 0.3, 0.31, 0.5])
    assert stats.received == 4
    assert stats.duplicated == 3
    assert stats.longest_gap_ms == pytest.approx(498.0)  # 0.002 -> 0.5: the duplicates are not traffic


def test_reordering_counts_late_arrivals_below_the_highest_seen() -> None:
    stats = summarize([0, 2, 1, 3, 5, 4], [i * 0.001 for i in range(6)])
    assert stats.reordered == 2
    assert stats.missing == 0
    assert stats.received == 6


def test_latency_from_the_senders_timestamps() -> None:
    stats = summarize([0, 1], [10.002, 10.004], [10.0, 10.001])
    assert stats.mean_latency_ms == pytest.approx(2.5)


def report(sent: int, first_send: float, last_send: float, seqs: list[int], arrivals: list[float]) -> dict:
    return {"sent": sent, "first_send": first_send, "last_send": last_send, "send_errors": 0, "wall_offset": 1000.0,
            "received": summarize(seqs, arrivals).to_dict()}


def test_direction_counts_a_silence_until_the_end_of_the_run() -> None:
    seqs, arrivals = steady(100)  # the receiver saw 0..99, the sender went on to 999
    sender = report(1000, 100.0, 100.999, [], [])
    receiver = report(0, 0, 0, seqs, arrivals)
    result = direction("a->b", sender, receiver)
    assert result.lost == 900
    assert result.longest_gap_ms == pytest.approx(900.0, abs=0.2)
    assert result.gap_start == pytest.approx(100.099 + 1000.0)


def test_direction_with_nothing_received_is_one_long_gap() -> None:
    result = direction("a->b", report(500, 50.0, 50.5, [], []), report(0, 0, 0, [], []))
    assert (result.received, result.lost) == (0, 500)
    assert result.longest_gap_ms == pytest.approx(500.0)


# ---------------------------------------------------------------- verdict classification


def sa(uid: str, ispi: str, rspi: str, children: list[tuple[str, str]], state: str = "ESTABLISHED") -> SaIdentity:
    return SaIdentity("site", uid, ispi, rspi, state,
                      [{"name": "net", "uniqueid": "1", "state": "INSTALLED", "spi_in": i, "spi_out": o}
                       for i, o in children])


NO_EVENTS = {"new_ike_sa": 0}
BEFORE = [sa("1", "aa", "bb", [("c1", "c2")])]


def test_same_ike_and_child_spis_is_same() -> None:
    assert classify(BEFORE, [sa("1", "aa", "bb", [("c1", "c2")])], NO_EVENTS) == (True, "same")


def test_same_ike_new_child_spis_is_rekeyed() -> None:
    assert classify(BEFORE, [sa("1", "aa", "bb", [("d1", "d2")])], NO_EVENTS) == (True, "rekeyed")


def test_new_ike_sa_is_renegotiated_and_not_preserved() -> None:
    assert classify(BEFORE, [sa("2", "ee", "ff", [("d1", "d2")])], {"new_ike_sa": 2}) == (False, "renegotiated")


def test_ike_sa_init_in_the_log_means_not_preserved_even_with_the_same_spis() -> None:
    preserved, _child = classify(BEFORE, [sa("1", "aa", "bb", [("c1", "c2")])], {"new_ike_sa": 1})
    assert preserved is False


def test_no_installed_child_is_lost() -> None:
    assert classify(BEFORE, [sa("1", "aa", "bb", [])], NO_EVENTS) == (True, "lost")
    assert classify(BEFORE, [], NO_EVENTS) == (False, "lost")


def test_classify_needs_a_baseline() -> None:
    with pytest.raises(LabctlError, match="no established IKE SA before"):
        classify([], BEFORE, NO_EVENTS)


def test_log_events_from_real_charon_lines() -> None:
    text = "\n".join([
        "13:49:17.578 06[ESP] ESP sequence number verification failed:",
        "13:49:17.591 16[ENC] <site|1> parsed CREATE_CHILD_SA request 26 [ N(REKEY_SA) SA No TSi TSr ]",
        "13:49:25.169 12[IKE] <site|1> sending DPD request",
        "13:49:32.273 14[IKE] <site|1> giving up after 3 retransmits",
        "13:49:32.275 14[ENC] <site|1> generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) ]",
    ])
    events = count_log_events(text)
    assert events["replay_drops"] == 1
    assert events["child_rekey"] == 1
    assert events["new_ike_sa"] == 1
    assert events["retransmit_give_up"] == 1


def probe_result(gaps: dict[str, float]) -> ProbeResult:
    directions = [direction(name, report(1000, 0.0, 1.0, [], []), report(0, 0, 0, *steady(1000)))
                  for name in gaps]
    for d, ms in zip(directions, gaps.values(), strict=True):
        d.longest_gap_ms, d.lost = ms, int(ms)
    return ProbeResult(1000, 10, directions)


def verdict(mode: str = "stateful", **kw: object) -> Verdict:
    v = Verdict("dual", mode, [], "node-kill on gw1", "gw1", "gw1", "gw2", max_outage_ms=3000.0, converged=True,
                ike_sa_preserved=True, child_sa="rekeyed", rri={"gw1": [], "gw2": ["10.2.0.0/24"]})
    for key, value in kw.items():
        setattr(v, key, value)
    return v


GOOD = {"in->out": 500.0, "out->in": 450.0}


def test_a_good_stateful_takeover_passes() -> None:
    v = verdict(peer_log={"replay_drops": 12})  # a few drops before the rekey are normal
    judge(v, probe_result(GOOD), True, ["10.2.0.0/24"], True)
    assert v.verdict == "pass", v.reasons
    assert v.outage_ms == GOOD
    assert v.lost_packets == 950


def test_new_ike_sa_fails_with_the_sync_reason() -> None:
    v = verdict(ike_sa_preserved=False, child_sa="renegotiated", peer_log={"new_ike_sa": 2})
    judge(v, probe_result({"a": 12000.0, "b": 12000.0}), True, ["10.2.0.0/24"], True)
    assert v.verdict == "fail"
    assert any("IKE SA not preserved" in r and "IKE_SA_INIT" in r for r in v.reasons)


def test_unrekeyed_child_with_replay_drops_fails_even_when_the_outage_is_short() -> None:
    # at 1000 pps the peer's replay window is overtaken in ~2 s: the outage alone would not catch it
    v = verdict(child_sa="same", peer_log={"replay_drops": 1218})
    judge(v, probe_result({"in->out": 1927.0, "out->in": 703.0}), True, ["10.2.0.0/24"], True)
    assert v.verdict == "fail"
    assert len(v.reasons) == 1 and "sequence continuity not restored" in v.reasons[0]


def test_replay_outage_fails_with_the_outage_and_replay_reasons() -> None:
    v = verdict(child_sa="rekeyed", peer_log={"replay_drops": 300})
    judge(v, probe_result({"in->out": 10500.0, "out->in": 300.0}), True, ["10.2.0.0/24"], True)
    assert v.verdict == "fail"
    assert any("outage in->out" in r for r in v.reasons)
    assert any("sequence continuity" in r for r in v.reasons)


def test_same_child_without_replay_drops_passes() -> None:
    # a kernel that syncs ESP sequence numbers needs no rekey: same SPIs and no drops is a clean takeover
    v = verdict(child_sa="same", peer_log={"replay_drops": 0})
    judge(v, probe_result(GOOD), True, ["10.2.0.0/24"], True)
    assert v.verdict == "pass", v.reasons


def test_missing_rri_route_fails_with_the_rri_reason() -> None:
    v = verdict(rri={"gw1": [], "gw2": []})
    judge(v, probe_result(GOOD), True, ["10.2.0.0/24"], True)
    assert v.verdict == "fail"
    assert v.reasons == ["RRI: new active gw2 has no injected route to 10.2.0.0/24 (reverse route injection did "
                         "not follow the takeover)"]


def test_no_takeover_and_no_convergence_fail() -> None:
    v = verdict(new_active="gw1", converged=False)
    judge(v, probe_result(GOOD), True, [], False)
    assert any("still Active" in r for r in v.reasons)
    assert any("no convergence" in r for r in v.reasons)


def test_stateless_renegotiation_passes_within_its_threshold_and_says_so() -> None:
    v = verdict("stateless", ike_sa_preserved=False, child_sa="renegotiated", max_outage_ms=30000.0)
    judge(v, probe_result({"a": 12000.0, "b": 12500.0}), True, ["10.2.0.0/24"], True)
    assert v.verdict == "pass", v.reasons
    assert any("re-negotiates" in n for n in v.notes)
    v = verdict("stateless", ike_sa_preserved=False, child_sa="lost", max_outage_ms=30000.0)
    judge(v, probe_result({"a": 12000.0, "b": 12500.0}), True, [], False)
    assert v.verdict == "fail"


def recovery(mode: str = "stateful", **kw: object) -> Verdict:
    kw = {"new_active": "gw1", **kw}
    v = verdict(mode, fault="recover (undo every fault, preempt back)", fault_node="gw2", old_active="gw2",
                rri={"gw1": ["10.2.0.0/24"], "gw2": []}, **kw)
    v.active_after = "gw1"
    return v


def test_a_preempt_that_keeps_the_sessions_passes_and_is_folded_into_the_failover() -> None:
    back = recovery()
    judge(back, probe_result(GOOD), True, ["10.2.0.0/24"], True)
    assert back.verdict == "pass", back.reasons
    first = verdict()
    judge(first, probe_result(GOOD), True, ["10.2.0.0/24"], True)
    attach_recovery(first, back)
    assert first.verdict == "pass" and first.ike_sa_preserved is True
    assert first.recovery["new_active"] == "gw1" and first.active_after == "gw1"


def test_no_preemption_and_a_lost_ike_sa_on_the_way_back_fail_the_experiment() -> None:
    back = recovery(new_active="gw2", ike_sa_preserved=False, child_sa="renegotiated", peer_log={"new_ike_sa": 1})
    judge(back, probe_result(GOOD), True, [], False)
    assert any(r.startswith("no preemption: gw2 is still Active") for r in back.reasons)
    first = verdict()
    judge(first, probe_result(GOOD), True, ["10.2.0.0/24"], True)
    attach_recovery(first, back)
    assert first.verdict == "fail" and first.ike_sa_preserved is False
    assert any(r.startswith("recovery: IKE SA not preserved") for r in first.reasons)


def test_verdict_to_dict_has_the_issue_fields() -> None:
    d = verdict().to_dict()
    for key in ("verdict", "ike_sa_preserved", "child_sa", "outage_ms", "lost_packets", "new_active", "reasons"):
        assert key in d


# ---------------------------------------------------------------- fault arguments


@pytest.fixture(scope="module")
def topo():
    return load_topology(TOPOLOGY)


def test_links_map_to_the_lab_networks(topo) -> None:
    assert (link_network(topo, "outside"), link_network(topo, "inside"), link_network(topo, "sync")) == \
        ("outside", "inside", "sync")
    with pytest.raises(LabctlError, match="unknown link"):
        link_network(topo, "dmz")


def test_fault_defaults_are_filled_in(topo) -> None:
    assert validate_args(topo, "link-down", None, None, None) == (None, "outside", None)
    assert validate_args(topo, "loss", "gw2", "sync", 10) == ("gw2", "sync", 10)
    assert validate_args(topo, "node-kill", "peer", None, None) == ("peer", None, None)


@pytest.mark.parametrize(("fault", "node", "link", "percent", "message"), [
    ("explode", None, None, None, "unknown fault"),
    ("node-kill", "gw9", None, None, "has no node 'gw9'"),
    ("node-kill", None, "outside", None, "takes no --link"),
    ("link-down", None, "dmz", None, "unknown link"),
    ("link-down", None, None, 5, "takes no --percent"),
    ("loss", None, None, None, "needs --percent"),
    ("loss", None, None, 0, "between 1 and 100"),
    ("loss", None, None, 101, "between 1 and 100"),
    ("charon-crash", "inside1", None, None, "needs an HA gateway"),
])
def test_bad_fault_arguments_are_clean_errors(topo, fault, node, link, percent, message) -> None:
    with pytest.raises(LabctlError, match=message):
        validate_args(topo, fault, node, link, percent)


def test_every_fault_has_help_and_the_cli_offers_all_of_them() -> None:
    from labctl.cli.faults import FAULT_NAMES

    assert set(FAULT_NAMES) == set(FAULTS)
    assert all(cls.help for cls in FAULTS.values())


def test_agents_stop_at_the_instant_in_the_stop_file(tmp_path) -> None:
    import time

    from labctl.agent.probe import stop_due

    path = tmp_path / "probe.json.stop"
    assert not stop_due(str(path))  # no file: keep sending
    path.write_text(f"{time.time() + 30:.3f}\n")
    assert not stop_due(str(path))  # the common instant has not come
    path.write_text(f"{time.time() - 0.01:.3f}\n")
    assert stop_due(str(path))
    path.write_text("")  # a bare `touch` still stops at once
    assert stop_due(str(path))

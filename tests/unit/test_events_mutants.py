"""Events around a fault, parsed from a sidecar's Docker log and a charon log (pure): exact event dicts, the
window bounds, midnight, the collapsing of repeated markers. Written against the mutants `make mutation`
left alive in `labctl/experiment/events.py`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from labctl.experiment import events

T0 = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC).timestamp()


def at(h: int, m: int, s: float, day: int = 2) -> float:
    return datetime(2026, 12, day, h, m, 0, tzinfo=UTC).timestamp() + s


# ---------------------------------------------------------------- sidecar (Docker log) events


def test_docker_stamps_are_utc_with_their_fraction() -> None:
    assert events._docker_time("2026-12-02T10:00:00") == T0
    assert events._docker_time("2026-12-02T10:00:01.25") == T0 + 1.25
    assert events._docker_time("2026-12-02T10:00:01.000250000") == pytest.approx(T0 + 1.00025, abs=1e-9)


SIDECAR = """2026-12-02T10:00:01.123456789Z 10:00:01 hsrp: eth1 Grp 1 state Standby -> Active (hold timer expired)
2026-12-02T10:00:01.2Z 10:00:01 role: standby -> active
2026-12-02T10:00:01.3Z 10:00:01 redundancy: my state STANDBY HOT -> ACTIVE
  2026-12-02T10:00:01.4Z 10:00:01 ha: segment 1 activated (by the sidecar)
2026-12-02T10:00:01.5Z 10:00:01 vip: claiming 10.0.0.1 on eth1 (+ gratuitous ARP)
10:00:01 role: active -> standby
"""


def test_sidecar_events_are_exact_dicts_with_hsrp_labels_shortened() -> None:
    found = events.sidecar_events("gw2", SIDECAR, T0, T0 + 10)
    assert found == [
        {"time": round(T0 + 1.123456789, 3), "node": "gw2", "lane": "hsrp", "kind": "hsrp",
         "text": "Grp 1 state Standby -> Active", "detail": "eth1 Grp 1 state Standby -> Active (hold timer expired)"},
        {"time": T0 + 1.2, "node": "gw2", "lane": "hsrp", "kind": "role", "text": "role standby -> active",
         "detail": "standby -> active"},
        {"time": T0 + 1.3, "node": "gw2", "lane": "hsrp", "kind": "redundancy",
         "text": "redundancy my state STANDBY HOT -> ACTIVE", "detail": "my state STANDBY HOT -> ACTIVE"},
        {"time": T0 + 1.4, "node": "gw2", "lane": "hsrp", "kind": "ha", "text": "ha segment 1 activated",
         "detail": "segment 1 activated (by the sidecar)"},
    ]
    assert found[0]["time"] == 1796205601.123


def test_sidecar_events_keep_both_bounds_and_cut_long_labels() -> None:
    text = ("2026-12-02T10:00:01Z 10:00:01 role: init -> standby\n"
            "2026-12-02T10:00:02Z 10:00:02 role: standby -> active\n"
            "2026-12-02T10:00:03Z 10:00:03 role: active -> standby\n"
            f"2026-12-02T10:00:02.5Z 10:00:02 ha: {'x' * 100}\n")
    found = events.sidecar_events("gw1", text, T0 + 1, T0 + 3)
    assert [e["detail"] for e in found] == ["init -> standby", "standby -> active", "active -> standby", "x" * 100]
    assert found[-1]["text"] == "ha " + "x" * 77 and len(found[-1]["text"]) == 80
    assert [e["detail"] for e in events.sidecar_events("gw1", text, T0 + 1.5, T0 + 2.5)] == \
        ["standby -> active", "x" * 100]


def test_a_hsrp_detail_without_interface_keeps_its_words() -> None:
    found = events.sidecar_events("gw1", "2026-12-02T10:00:01Z 10:00:01 hsrp: Grp 1 (x)\n", T0, T0 + 5)
    assert [e["text"] for e in found] == ["1"]


# ---------------------------------------------------------------- charon events


CHARON = """10:00:00.900 05[IKE] <peer|1> initiating IKE_SA peer[2] to 10.0.0.1
10:00:01.000 05[IKE] <peer|1> initiating IKE_SA peer[2] to 10.0.0.1
10:00:01.250 06[IKE] <peer|2> IKE_SA peer[2] established between 10.1.0.2[remote]...10.0.0.1[gw]
10:00:01.300 06[IKE] CHILD_SA peer{3} established with SPIs c1_i c2_o and TS 10.2.0.0/24 === 10.1.0.0/24
not a charon line
10:00:02.000 07[IKE] <peer|2> sending DPD request
10:00:02.500 07[IKE] <peer|2> sending DPD request
10:00:02.600 08[ESP] sequence number verification failed
10:00:02.700 08[ESP] sequence number verification failed
10:00:02.800 08[ESP] sequence number verification failed
10:00:03.000 09[IKE] <peer|2> closing CHILD_SA peer{3} with SPIs c1_i (0 bytes) c2_o (0 bytes)
10:00:03.100 09[IKE] <peer|2> deleting IKE_SA peer[2] between 10.1.0.2[remote]...10.0.0.1[gw]
10:00:03.200 09[IKE] <peer|2> giving up after 5 retransmits
10:00:03.300 09[IKE] <peer|2> initiating Main Mode IKE_SA peer[4] to 10.0.0.1
10:00:03.400 09[IKE] <peer|2> IKE_SA peer[4] established between 10.1.0.2[remote]...10.0.0.1[gw]
10:00:03.500 09[IKE] <peer|2> IKE_SA peer[5] established between 10.1.0.2[remote]...10.0.0.1[gw]
10:00:04.000 09[IKE] <peer|2> IKE_SA peer[6] established between 10.1.0.2[remote]...10.0.0.1[gw]
"""


def test_charon_events_are_exact_markers_within_the_window() -> None:
    found = events.charon_events("remote1", CHARON, at(10, 0, 1.0), at(10, 0, 3.5))
    assert [(e["time"] - T0, e["text"]) for e in found] == [
        (pytest.approx(1.0), "initiating IKE SA"),
        (pytest.approx(1.25), "IKE SA established"),
        (pytest.approx(1.3), "CHILD SA established"),
        (pytest.approx(2.0), "DPD request x2"),
        (pytest.approx(2.6), "ESP replay drop x3"),
        (pytest.approx(3.0), "CHILD SA closed"),
        (pytest.approx(3.1), "IKE SA deleted"),
        (pytest.approx(3.2), "retransmits: gave up"),
        (pytest.approx(3.3), "initiating IKE SA"),
        (pytest.approx(3.4), "IKE SA established"),
        (pytest.approx(3.5), "IKE SA established"),  # only replay drops and DPD requests collapse
    ]
    assert found[0] == {"time": round(at(10, 0, 1.0), 3), "node": "remote1", "lane": "sa", "kind": "sa",
                        "text": "initiating IKE SA", "detail": "initiating IKE_SA peer[2] to 10.0.0.1"}
    assert found[3]["count"] == 2 and found[4]["count"] == 3 and "count" not in found[1]
    assert found[3]["detail"] == "sending DPD request"


def test_charon_times_are_rounded_to_the_millisecond_and_details_cut() -> None:
    text = f"10:00:01.2345 05[IKE] <peer|1> sending DPD request {'y' * 300}\n"
    (event,) = events.charon_events("r", text, T0, T0 + 5)
    assert event["time"] == round(T0 + 1.2345, 3) and event["time"] != round(T0 + 1.2345, 4)
    assert event["detail"] == ("sending DPD request " + "y" * 300)[:200]


def test_a_run_across_midnight_keeps_the_lines_after_it() -> None:
    text = "23:59:59.800 05[IKE] sending DPD request\n00:00:00.400 05[IKE] closing CHILD_SA peer{1}\n"
    start = at(23, 59, 59.5, day=1)
    found = events.charon_events("r", text, start, start + 5)
    assert [(e["time"], e["text"]) for e in found] == [(round(at(23, 59, 59.8, day=1), 3), "DPD request"),
                                                       (round(at(0, 0, 0.4), 3), "CHILD SA closed")]


def test_the_midnight_is_the_one_of_the_margin_before_the_start() -> None:
    # start half a second after midnight: the margin reaches into the previous day, whose lines still count
    start = at(0, 0, 0.5)
    text = "23:59:59.800 05[IKE] sending DPD request\n00:00:00.700 05[IKE] closing CHILD_SA peer{1}\n"
    found = events.charon_events("r", text, start - 1.0, start + 5)
    assert [(e["time"], e["text"]) for e in found] == [(round(at(23, 59, 59.8, day=1), 3), "DPD request"),
                                                       (round(at(0, 0, 0.7), 3), "CHILD SA closed")]


def test_a_replay_marker_does_not_swallow_a_dpd_request_and_other_lines_do_not_match() -> None:
    text = ("10:00:01.000 08[ESP] sequence number verification failed\n"
            "10:00:01.100 07[IKE] sending DPD request\n"
            "10:00:01.200 07[IKE] received DPD response\n"
            "10:00:01.300 08[ESP] sequence number verification failed\n")
    found = events.charon_events("r", text, T0, T0 + 5)
    assert [e["text"] for e in found] == ["ESP replay drop", "DPD request", "ESP replay drop"]
    assert all("count" not in e for e in found)


def test_aggressive_mode_and_ike_sa_deleted_are_markers() -> None:
    text = ("10:00:01.000 05[IKE] initiating Aggressive Mode IKE_SA x[1] to 10.0.0.1\n"
            "10:00:01.100 05[IKE] IKE_SA deleted\n")
    assert [e["text"] for e in events.charon_events("r", text, T0, T0 + 5)] == ["initiating IKE SA",
                                                                                 "IKE SA deleted"]


def test_count_log_events_counts_every_pattern() -> None:
    text = ("IKE_SA_INIT request\nID_PROT request\nAGGRESSIVE request\ninitiating Main Mode\n"
            "CREATE_CHILD_SA response\nQUICK_MODE request\nREPLAY window\nDPD\ngiving up after 3 retransmits\n")
    assert events.count_log_events(text) == {"new_ike_sa": 4, "child_rekey": 2, "replay_drops": 1, "dpd": 1,
                                             "retransmit_give_up": 1}


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A controller whose local time is not UTC (Docker stamps and the lab's charon logs are UTC)."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york")
def test_times_are_utc_whatever_the_controllers_time_zone() -> None:
    assert events._docker_time("2026-12-02T10:00:01.5") == T0 + 1.5
    assert [e["time"] for e in events.charon_events("r", "10:00:01.500 05[IKE] sending DPD request\n",
                                                    T0, T0 + 5)] == [T0 + 1.5]
    # 01:00 UTC is the previous day in New York: the midnight must still be UTC's
    early = at(1, 0, 0.0)
    assert [e["time"] for e in events.charon_events("r", "01:00:01.000 05[IKE] sending DPD request\n",
                                                    early, early + 5)] == [early + 1.0]


def test_a_line_more_than_twelve_hours_before_the_start_is_the_next_day() -> None:
    # a long window (12 h): lines that read earlier than 12 h before the start belong to the next day
    start = at(23, 0, 0.0, day=1)
    text = ("10:30:00.000 05[IKE] sending DPD request\n"  # 12.5 h before the start: day 2, 10:30
            "11:00:00.000 05[IKE] closing CHILD_SA peer{1}\n"  # exactly 12 h before: day 1, before the start
            "10:59:59.000 05[IKE] IKE_SA deleted\n")  # 12 h 1 s before: day 2, 10:59:59
    found = events.charon_events("r", text, start, start + 12 * 3600)
    assert [(e["time"], e["text"]) for e in found] == [(at(10, 30, 0.0), "DPD request"),
                                                       (at(10, 59, 59.0), "IKE SA deleted")]


# ---------------------------------------------------------------- both gateways Active (a preempt's overlap)


def role(node: str, when: float, detail: str) -> dict:
    return {"time": when, "node": node, "lane": "hsrp", "kind": "role", "text": f"role {detail}", "detail": detail}


def test_a_preempt_is_both_active_from_the_new_actives_start_to_the_old_ones_leaving() -> None:
    found = [role("gw1", 10.0, "standby -> active"), role("gw2", 10.047, "active -> transition"),
             {"time": 10.01, "node": "gw1", "lane": "hsrp", "kind": "hsrp", "text": "x", "detail": "active -> x"}]
    assert events.both_active(found, longest=0.7) == [(10.0, 10.047)]  # the old Active's start was not logged


def test_no_both_active_span_for_a_handover_a_kill_or_a_lone_node() -> None:
    handover = [role("gw1", 5.0, "active -> init"), role("gw2", 5.7, "standby -> active")]
    killed = [role("gw2", 5.7, "standby -> active")]  # the killed gw1 never logs leaving
    assert events.both_active(handover, 0.7) == []
    assert events.both_active(killed, 0.7) == []
    assert events.both_active([role("gw1", 1.0, "standby -> active"), role("gw1", 2.0, "active -> standby")], 0.7) == []


def test_a_both_active_span_starts_at_the_later_start_and_is_at_most_a_hold_time() -> None:
    found = [role("gw1", 1.0, "standby -> active"), role("gw2", 2.0, "speak -> active"),
             role("gw2", 2.2, "active -> standby"), role("gw2", 3.0, "standby -> active"),
             role("gw1", 9.0, "active -> standby")]
    assert events.both_active(found, longest=0.7) == [(2.0, 2.2), (3.0, 3.7)]


def test_timed_lines_are_the_messages_within_the_window() -> None:
    text = ("10:00:01.500 07[ESP] ESP sequence number verification failed:\n  src 10.0.0.1\n"
            "10:00:03.000 07[ESP] later\n")
    assert events.timed_lines(text, T0, T0 + 2) == [(T0 + 1.5, "ESP sequence number verification failed:")]


def test_only_replay_drops_inside_a_both_active_span_or_just_after_it_count() -> None:
    from labctl.experiment.judges import overlap
    drop = events.LOG_PATTERNS["replay_drops"]
    lines = [(1.99, "ESP sequence number verification failed"), (2.0, "ESP sequence number verification failed"),
             (2.3, "ESP sequence number verification failed"), (2.31, "ESP sequence number verification failed"),
             (2.1, "CHILD_SA net{1} established"), (5.0, "sequence number verification failed")]
    assert overlap.drops_within(lines, drop, [(2.0, 2.2)]) == 2  # 2.0 and 2.3 (the margin), not 1.99 or 2.31
    assert overlap.drops_within(lines, drop, [(2.0, 2.2), (4.9, 4.95)]) == 3  # 5.0 is in the second's margin
    assert overlap.drops_within(lines, drop, []) == 0
    assert overlap.drops_within([(2.6, "replay")], drop, [(2.0, 2.5)]) == 1  # exactly at the margin's end


def test_replay_drops_split_into_breaks_and_both_active_ones() -> None:
    from labctl.experiment.judges import overlap
    assert overlap.split({"replay_drops": 3, "replay_drops_both_active": 1}) == (2, 1)
    assert overlap.split({"replay_drops": 1, "replay_drops_both_active": 4}) == (0, 1)  # never more than counted
    assert overlap.split({"replay_drops_both_active": 2}) == (0, 0) and overlap.split({"replay_drops": 2}) == (2, 0)

"""Joining the probe agents' reports into DirectionResults (pure): the outage candidates, where the outage
starts and in whose clock, every copied counter and the rounding. Written against the mutants
`make mutation` left alive in the pure part of `labctl/experiment/probe.py`."""

from __future__ import annotations

from typing import Any

import pytest

from labctl.agent.probe import summarize
from labctl.experiment.probe import (
    DirectionResult,
    ProbeResult,
    SeqOutage,
    arrival_gap,
    direction,
    join_reports,
    progress_flowing,
    sequence_outage,
)


def got(**kw: Any) -> dict[str, Any]:
    """A receiver's statistics of one stream: a clean default, overridden by `kw`."""
    base = {"received": 10, "duplicated": 0, "reordered": 0, "max_seq": 9, "missing": 0, "last_arrival": 1.91,
            "longest_gap_ms": 100.0, "gap_start": 1.01, "mean_latency_ms": 1.0, "hole_ms": 0.0,
            "hole_from_seq": None, "hole_to_seq": None, "hole_start": None, "missing_before_hole": 0,
            "missing_after_hole": 0, "first_seq": 0, "first_seq_sent": 1.0, "last_seq_sent": 1.9}
    return {**base, **kw}


SENDER = {"sent": 10, "first_send": 1.0, "last_send": 1.9, "send_errors": 0}


# ---------------------------------------------------------------- sequence_outage


def test_nothing_received_is_one_outage_from_the_first_send_with_all_loss_inside() -> None:
    assert sequence_outage(SENDER, got(received=0, max_seq=-1)) == SeqOutage(pytest.approx(900.0), 1.0, 0, 10, 0, 0)
    assert sequence_outage({"sent": 10}, got(received=0, max_seq=-1)) == SeqOutage(0.0, None, 0, 10, 0, 0)
    assert sequence_outage({"sent": 10, "first_send": 1.0}, got(received=0)) == SeqOutage(0.0, 1.0, 0, 10, 0, 0)
    assert sequence_outage({"sent": 10, "last_send": 1.9}, got(received=0)) == SeqOutage(0.0, None, 0, 10, 0, 0)


def test_an_old_agent_has_no_sequence_outage() -> None:
    old = got()
    old.pop("first_seq")
    assert sequence_outage(SENDER, old) is None
    assert sequence_outage(SENDER, got(first_seq=None)) is None


def test_a_silence_from_the_start_is_lost_before_even_when_longer_than_the_tail() -> None:
    # seqs 0..2 never arrived (300 ms from the first send), 3..7 did, 8 and 9 (the tail, 200 ms) never did
    report = got(received=5, first_seq=3, first_seq_sent=1.3, max_seq=7, missing=3, last_seq_sent=1.7,
                 missing_before_hole=3)
    assert sequence_outage(SENDER, report) == SeqOutage(pytest.approx(200.0), 1.7, 3, 2, 0, 0)
    result = direction("a->b", SENDER, {"received": report})
    assert result.gap_start_mono == 1.7 and result.longest_gap_ms == 200.0
    head_only = got(received=7, first_seq=3, first_seq_sent=1.3, max_seq=9, missing=3, missing_before_hole=3)
    assert sequence_outage(SENDER, head_only) == SeqOutage(0.0, None, 3, 0, 0, 10)
    no_last_send = {"sent": 10, "first_send": 1.0}  # a tail without the sender's last send: no span to measure
    assert sequence_outage(no_last_send, got(received=6, max_seq=5)) == SeqOutage(0.0, None, 0, 0, 4, 10)


def test_a_silence_until_the_end_begins_at_the_last_packet_through() -> None:
    report = got(received=6, max_seq=5, last_seq_sent=1.5, last_arrival=1.51)
    assert sequence_outage(SENDER, report) == SeqOutage(pytest.approx(400.0), 1.5, 0, 4, 0, 0)


def test_without_a_first_send_the_head_is_not_a_candidate() -> None:
    sender = {"sent": 10, "last_send": 1.9}
    report = got(received=5, first_seq=3, first_seq_sent=1.3, max_seq=7, missing=3, last_seq_sent=1.7,
                 missing_before_hole=3)
    assert sequence_outage(sender, report) == SeqOutage(pytest.approx(200.0), 1.7, 3, 2, 0, 0)


def test_an_interior_hole_wins_over_a_shorter_head() -> None:
    report = got(received=5, first_seq=1, first_seq_sent=1.1, missing=5, hole_from_seq=2, hole_to_seq=7,
                 hole_ms=500.0, hole_start=1.2, missing_before_hole=1, missing_after_hole=0)
    assert sequence_outage(SENDER, report) == SeqOutage(500.0, 1.2, 1, 4, 0, 2)


# ---------------------------------------------------------------- arrival_gap


def test_nothing_arrived_is_silent_from_the_first_to_the_last_send() -> None:
    assert arrival_gap(SENDER, got(received=0, max_seq=-1, last_arrival=None, longest_gap_ms=0.0,
                                   gap_start=None)) == (pytest.approx(900.0), 1.0)
    no_first = {"sent": 10, "last_send": 1.9}
    assert arrival_gap(no_first, got(max_seq=-1, last_arrival=None, longest_gap_ms=0.0, gap_start=None)) == \
        (0.0, None)
    assert arrival_gap({"sent": 10, "first_send": 1.0}, got(max_seq=-1, last_arrival=None, longest_gap_ms=0.0,
                                                            gap_start=None)) == (0.0, None)


def test_a_lost_last_packet_sent_late_extends_the_silence_to_the_last_send() -> None:
    # 10 pps; the last packet (seq 9) was sent 150 ms after seq 8 (sender jitter) and lost
    report = got(max_seq=8, received=9, last_arrival=1.751, longest_gap_ms=100.0, gap_start=1.1)
    assert arrival_gap({"sent": 10, "first_send": 1.0, "last_send": 1.901}, report) == (pytest.approx(150.0), 1.751)


def test_a_tail_no_longer_than_the_longest_gap_keeps_the_earlier_gap() -> None:
    report = got(max_seq=7, received=8, last_arrival=2.25, longest_gap_ms=250.0, gap_start=1.5)
    assert arrival_gap({"sent": 10, "first_send": 1.0, "last_send": 2.5}, report) == (250.0, 1.5)


def test_the_tail_is_only_judged_with_both_ends_known() -> None:
    report = got(max_seq=5, received=6, last_arrival=1.51, longest_gap_ms=100.0, gap_start=1.1)
    assert arrival_gap({"sent": 10}, report) == (100.0, 1.1)
    assert arrival_gap({"sent": 10, "last_send": 1.9}, got(max_seq=-1, last_arrival=None, longest_gap_ms=0.0,
                                                           gap_start=None)) == (0.0, None)


# ---------------------------------------------------------------- direction


def test_every_counter_is_copied_and_rounded() -> None:
    sender = {"sent": 10, "first_send": 1.0, "last_send": 1.9, "send_errors": 7, "wall_offset": 5000.0}
    receiver = {"wall_offset": 6000.0, "received": got(
        received=8, duplicated=3, reordered=2, mean_latency_ms=1.25, longest_gap_ms=123.456789, gap_start=1.12345,
        max_seq=9, missing=2, hole_from_seq=3, hole_to_seq=6, hole_ms=55.55555, hole_start=1.3)}
    assert direction("in->out", sender, receiver) == DirectionResult(
        name="in->out", sent=10, received=8, lost=2, duplicated=3, reordered=2, longest_gap_ms=123.5,
        gap_start=6001.123, gap_start_mono=1.12345, send_errors=7, mean_latency_ms=1.25, seq_gap_ms=55.6,
        arrival_gap_ms=123.5, lost_before=0, lost_in_outage=2, lost_after=0, sent_after=3)


def test_the_sequence_outage_is_placed_in_the_senders_clock() -> None:
    sender = {"sent": 10, "first_send": 1.0, "last_send": 1.9, "wall_offset": 5000.0}
    receiver = {"wall_offset": 6000.0, "received": got(
        received=6, missing=4, hole_from_seq=2, hole_to_seq=7, hole_ms=444.44444, hole_start=1.23456,
        longest_gap_ms=100.0)}
    result = direction("x", sender, receiver)
    assert (result.longest_gap_ms, result.seq_gap_ms, result.gap_start, result.gap_start_mono) == \
        (444.4, 444.4, 5001.235, 1.23456)
    assert result.send_errors == 0  # an agent that reports none


def test_without_wall_offsets_the_start_stays_in_the_agents_clock() -> None:
    seq_wins = got(received=6, missing=4, hole_from_seq=2, hole_to_seq=7, hole_ms=444.0, hole_start=1.2)
    assert direction("x", SENDER, {"received": seq_wins}).gap_start == 1.2
    assert direction("x", SENDER, {"received": got()}).gap_start == 1.01


def test_an_old_agent_puts_all_loss_inside_the_outage() -> None:
    report = got(received=7, missing=3)
    report.pop("first_seq")
    result = direction("x", SENDER, {"received": report})
    assert (result.lost_before, result.lost_in_outage, result.lost_after, result.sent_after, result.seq_gap_ms) == \
        (0, 3, 0, 0, None)


def test_a_realistic_stream_keeps_its_latency_duplicates_and_reordering() -> None:
    seqs = [0, 1, 3, 2, 3, 4]
    sends = [1.0 + s / 1000 for s in seqs]
    stats = summarize(seqs, [t + 0.002 for t in sends], sends).to_dict()
    result = direction("x", {"sent": 5, "first_send": 1.0, "last_send": 1.004}, {"received": stats})
    assert (result.duplicated, result.reordered, result.mean_latency_ms, result.lost) == (1, 1, 2.0, 0)


# ---------------------------------------------------------------- results, joining, flowing


def test_probe_result_to_dict() -> None:
    r = ProbeResult(500.0, 4.12345, [DirectionResult("a->b", 1, 1, 0, 0, 0, 1.0, None, None)])
    assert r.to_dict() == {"rate": 500.0, "duration_s": 4.123, "directions": [r.directions[0].to_dict()]}


def test_join_reports_takes_the_duration_from_the_inside_senders_times() -> None:
    def report(**kw: Any) -> dict[str, Any]:
        return {"sent": 10, **kw, "received": got()}

    assert join_reports(1.0, "a", "b", report(first_send=0.25, last_send=0.75), report()).duration_s == 0.5
    assert join_reports(1.0, "a", "b", report(first_send=0.25), report()).duration_s == 0.0
    assert join_reports(1.0, "a", "b", report(last_send=0.5), report()).duration_s == 0.5


def test_flowing_skips_unnamed_receivers_and_allows_exactly_fresh() -> None:
    good = {"last_arrival": 10.25, "last_sent_at": 10.2, "now": 10.5}
    stale = {"last_arrival": 5.0, "last_sent_at": 5.0, "now": 10.5}
    assert progress_flowing({"other": good, "client": stale}, 1.0, 0.25, receivers=["other"])
    assert not progress_flowing({"other": good, "client": stale}, 1.0, 0.25, receivers=["client"])
    assert not progress_flowing({"skipped": good, "client": stale}, 1.0, 0.25, receivers=["client"])
    assert progress_flowing({"a": good}, 10.0, 0.25)  # now - last_arrival == fresh: still fresh


def test_a_later_outage_is_no_scattered_loss() -> None:
    """After the main hole, a second run of losses longer than OUTAGE_RUN_MS (a preempt back, a rekey) is an
    outage (judged by the longest gap), while isolated drops are the steady loss judged after the takeover."""
    from labctl.agent.probe import OUTAGE_RUN_MS, summarize

    rate = 200.0  # 5 ms apart: a 100 ms run is 20 packets
    lost = set(range(100, 200)) | set(range(300, 330)) | {400, 450}  # main hole, a 150 ms hole, two drops
    seqs = [s for s in range(600) if s not in lost]
    stats = summarize(seqs, [s / rate for s in seqs], [s / rate for s in seqs])
    assert OUTAGE_RUN_MS == 100.0
    assert (stats.hole_from_seq, stats.hole_to_seq) == (99, 200)
    assert stats.missing_after_hole == 32 and stats.missing_after_in_outages == 30


def test_losses_in_a_later_outage_are_not_counted_as_scattered_loss_after_the_hole() -> None:
    report = got(received=5, first_seq=0, missing=5, hole_from_seq=1, hole_to_seq=4, hole_ms=500.0,
                 hole_start=1.1, missing_before_hole=0, missing_after_hole=3, missing_after_in_outages=2)
    assert sequence_outage(SENDER, report) == SeqOutage(500.0, 1.1, 0, 2, 1, 5)
    assert sequence_outage(SENDER, {k: v for k, v in report.items() if k != "missing_after_in_outages"}).after == 3


def test_every_loss_run_is_listed_in_time_order_in_the_senders_wall_clock() -> None:
    """Where the loss fell, to set beside the gateways' events: each run of lost sequence numbers with the
    send time of the packet before it (wall clock through the sender's offset), its span and its size; the
    agent keeps the MAX_HOLES largest, in time order."""
    from labctl.agent.probe import MAX_HOLES

    rate = 200.0
    lost = set(range(100, 200)) | {300, 301} | {400}  # the outage, a 2-packet burst, one drop
    seqs = [s for s in range(600) if s not in lost]
    stats = summarize(seqs, [s / rate for s in seqs], [s / rate for s in seqs])
    assert stats.holes == [[99 / rate, 200 / rate, 100], [299 / rate, 302 / rate, 2], [399 / rate, 401 / rate, 1]]
    sender = {**SENDER, "sent": 600, "wall_offset": 1000.0}
    result = direction("x", sender, {"received": {**got(), **stats.to_dict()}})
    assert result.loss_runs == [{"at": 1000.495, "ms": 505.0, "lost": 100}, {"at": 1001.495, "ms": 15.0, "lost": 2},
                                {"at": 1001.995, "ms": 10.0, "lost": 1}]
    many = [*range(0, 4 * MAX_HOLES * 3, 3), 4 * MAX_HOLES * 3 + 50]  # 4 x MAX_HOLES 2-packet holes, one of 52
    kept = summarize(many, [s / rate for s in many], [s / rate for s in many]).holes
    assert len(kept) == MAX_HOLES and kept == sorted(kept) and max(h[2] for h in kept) == 52

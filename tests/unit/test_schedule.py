"""The matrix's cell queue (`schedule.CellQueue`): one cell per group and engine at a time, largest groups
first, nothing handed out twice, an interrupted run drains the rest."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from labctl.matrix.schedule import CellQueue, cost_of, durations


def test_one_cell_of_a_group_per_engine_and_the_largest_group_first() -> None:
    left = CellQueue([["d1", "d2", "d3"], ["s1"]])
    assert left.take("A") == (0, "d1")
    assert left.take("B") == (0, "d2")  # another engine may run the same group at once
    assert left.take("A") == (1, "s1")  # engine A runs d1: the next group, not d3
    left.done("A", 0)
    assert left.take("A") == (0, "d3")
    left.done("A", 0)
    left.done("B", 0)
    left.done("A", 1)
    assert left.take("A") is None and left.take("B") is None


def test_a_worker_waits_while_its_engine_runs_every_group_left() -> None:
    left = CellQueue([["d1", "d2"]])
    assert left.take("A") == (0, "d1")
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(left.take("A")))
    waiter.start()
    waiter.join(0.1)
    assert waiter.is_alive() and got == []  # d2 must not run beside d1 on engine A
    left.done("A", 0)
    waiter.join(2)
    assert got == [(0, "d2")]


def test_drain_hands_back_what_was_not_taken_and_wakes_the_waiters() -> None:
    left = CellQueue([["d1", "d2", "d3"], ["s1"]])
    assert left.take("A") == (0, "d1")
    assert left.take("A") == (1, "s1")
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(left.take("A")))
    waiter.start()
    waiter.join(0.1)
    assert left.drain() == ["d2", "d3"]
    waiter.join(2)
    assert got == [None] and left.drain() == []


def test_with_costs_the_longest_cell_an_engine_may_run_goes_first() -> None:
    """The IOS-timer cells (170 s) must not start last and leave one engine running alone; a group's own
    cells are ordered too, and a group busy on this engine is skipped even with the longest cell."""
    cost = {"d1": 20.0, "d2": 30.0, "s1": 170.0, "s2": 172.0, "r1": 5.0}.__getitem__
    left = CellQueue([["d1", "d2"], ["s1", "s2"], ["r1"]], cost)
    assert left.take("A") == (1, "s2")
    assert left.take("B") == (1, "s1")  # the same group on another engine
    assert left.take("A") == (0, "d2")  # A runs s2: the next longest it may run
    assert left.take("B") == (0, "d1")  # the same group as A's d2, on another engine
    assert left.take("A") == (2, "r1")  # A runs s2 and d2: r1 is all it may take
    assert CellQueue([["x", "y"], ["z"]], lambda _c: 1.0).take("A") == (0, "x")  # a tie: the earlier group


def test_durations_come_from_an_earlier_report_and_unknown_cells_count_as_median(tmp_path: Path) -> None:
    report = tmp_path / "results.json"
    report.write_text(json.dumps({"cells": [{"id": "a", "seconds": 10.0}, {"id": "b", "seconds": 30.5},
                                            {"id": "c", "seconds": 20.0}, {"id": "d"}]}))
    known = durations(report)
    assert known == {"a": 10.0, "b": 30.5, "c": 20.0}
    cost = cost_of(known)
    assert cost("b") == 30.5 and cost("new") == 20.0
    assert cost_of({})("x") == 0.0
    report.write_text("not json")
    with pytest.raises(ValueError, match="not a results.json"):
        durations(report)

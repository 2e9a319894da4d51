"""The matrix's cell queue (`schedule.CellQueue`): one cell per group and engine at a time, largest groups
first, nothing handed out twice, an interrupted run drains the rest."""

from __future__ import annotations

import threading

from labctl.matrix.schedule import CellQueue


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

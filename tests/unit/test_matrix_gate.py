"""The matrix's quiet gate: measurements share it, lab churn shares it, the two never overlap, neither starves."""

from __future__ import annotations

import threading
import time

import pytest

from labctl.matrix.gate import OpenGate, QuietGate, gates_by_host


class Holder:
    """A thread that holds the gate as `kind` until released; records when it got in."""

    def __init__(self, gate: QuietGate, kind: str, log: list[str], name: str) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(gate, kind, log, name), daemon=True)
        self.thread.start()

    def _run(self, gate: QuietGate, kind: str, log: list[str], name: str) -> None:
        with gate.hold(kind):  # type: ignore[arg-type]
            log.append(name)
            self.inside.set()
            self.release.wait(5)

    def done(self) -> None:
        self.release.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


def wait_until(predicate, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.005)


def waiting(gate: QuietGate, kind: str) -> int:
    return gate.state()[2][kind]


def test_holders_of_one_kind_share_the_gate() -> None:
    gate, log = QuietGate(), []
    a, b = Holder(gate, "measure", log, "a"), Holder(gate, "measure", log, "b")
    assert a.inside.wait(2) and b.inside.wait(2)
    assert gate.state()[:2] == ("measure", 2)
    a.done(), b.done()
    assert gate.state() == (None, 0, {"measure": 0, "churn": 0})


def test_churn_waits_for_the_measurement_and_enters_after_it() -> None:
    gate, log = QuietGate(), []
    measuring = Holder(gate, "measure", log, "m")
    assert measuring.inside.wait(2)
    churn = Holder(gate, "churn", log, "c")
    wait_until(lambda: waiting(gate, "churn") == 1)
    time.sleep(0.05)
    assert not churn.inside.is_set()
    measuring.done()
    assert churn.inside.wait(2)
    assert gate.state()[:2] == ("churn", 1)
    churn.done()
    assert log == ["m", "c"]


def test_a_waiting_churn_blocks_new_measurements_so_it_cannot_starve() -> None:
    gate, log = QuietGate(), []
    first = Holder(gate, "measure", log, "m1")
    assert first.inside.wait(2)
    churn = Holder(gate, "churn", log, "c")
    wait_until(lambda: waiting(gate, "churn") == 1)
    second = Holder(gate, "measure", log, "m2")
    wait_until(lambda: waiting(gate, "measure") == 1)
    time.sleep(0.05)
    assert not second.inside.is_set(), "a new measurement overtook a waiting lab setup"
    first.done()
    assert churn.inside.wait(2)
    assert not second.inside.is_set()
    churn.done()
    assert second.inside.wait(2)
    second.done()
    assert log == ["m1", "c", "m2"]


def test_every_waiter_of_the_next_kind_is_admitted_as_one_batch() -> None:
    gate, log = QuietGate(), []
    measuring = Holder(gate, "measure", log, "m1")
    assert measuring.inside.wait(2)
    churns = [Holder(gate, "churn", log, f"c{i}") for i in range(2)]
    wait_until(lambda: waiting(gate, "churn") == 2)
    late = Holder(gate, "measure", log, "m2")
    wait_until(lambda: waiting(gate, "measure") == 1)
    measuring.done()
    assert all(c.inside.wait(2) for c in churns)
    assert gate.state()[:2] == ("churn", 2)
    assert not late.inside.is_set()
    for c in churns:
        c.done()
    assert late.inside.wait(2)
    late.done()
    assert sorted(log[1:3]) == ["c0", "c1"] and log[0] == "m1" and log[3] == "m2"


def test_the_gate_is_released_when_the_block_raises() -> None:
    gate = QuietGate()
    with pytest.raises(RuntimeError), gate.hold("churn"):
        raise RuntimeError("up failed")
    assert gate.state() == (None, 0, {"measure": 0, "churn": 0})
    with gate.hold("measure"):
        assert gate.state()[:2] == ("measure", 1)


def test_the_open_gate_never_waits() -> None:
    gate = OpenGate()
    with gate.hold("measure"), gate.hold("churn"):
        pass


def test_engines_of_one_host_share_a_gate_where_two_labs_can_run_there_at_once() -> None:
    a, b, c = gates_by_host(["h1", "h1", "h2"], jobs=1, groups=5)
    assert a is b and type(a) is QuietGate  # two engines of h1, one lab each: two labs on one host's CPUs
    assert type(c) is OpenGate  # h2 runs one lab at a time
    solo, = gates_by_host(["h1"], jobs=3, groups=5)
    assert type(solo) is QuietGate
    few, = gates_by_host(["h1"], jobs=3, groups=1)  # one group: one lab at a time whatever --jobs says
    assert type(few) is OpenGate
    x, y = gates_by_host(["h1", "h1"], jobs=1, groups=1)
    assert x is y and type(x) is OpenGate

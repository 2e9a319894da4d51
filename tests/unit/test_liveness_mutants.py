"""Session liveness (`judges/liveness.py`): what `make mutation` left alive — the IKEv2 fallback, the skip
note's two ways to know an Active, the refused rekey without output, the thread bound, the answer time
and the timeout boundary (charon and the clock faked)."""

from __future__ import annotations

from typing import Any

import pytest

from labctl.experiment.judges import clients, liveness
from labctl.experiment.judges.liveness import Target, rekey_outcome
from labctl.experiment.verdict import Verdict
from tests.unit.test_liveness import IKE, V2, FakeCharon, sa, targets


class Clock:
    """Monotonic time that moves only when `measure` sleeps between looks."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(liveness, "time", fake)
    return fake


def test_an_unknown_ike_version_looks_for_the_ikev2_response() -> None:
    t = Target("peer", None, "net", dict(IKE), {("c1", "c1o")}, 0)
    assert rekey_outcome(t, [sa([("net", "c1", "c1o"), ("net", "c2", "c2o")])], V2) == (
        True, "new CHILD_SA net c2_i/c2o_o under IKE SA #1; 'parsed CREATE_CHILD_SA response' in its log")


def test_an_sa_without_children_has_none_installed() -> None:
    assert liveness.installed({"uniqueid": "1"}) == set()


@pytest.mark.parametrize(("actives", "active"), [(None, "gw2"), (["gw2"], None), (["gw2"], "gw2")])
def test_either_way_of_knowing_the_active_is_enough(actives: list[str] | None, active: str | None) -> None:
    v = Verdict("dual", "stateful", [], "node-kill on gw1", "gw1", "gw1", "gw2", converged=True,
                actives_after=actives, active_after=active)
    assert liveness.skip_note(v) is None


def test_the_log_offset_is_read_on_each_partys_node(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    fake = FakeCharon(answer_after=0)
    fake.install(monkeypatch)
    nodes: list[Any] = []
    monkeypatch.setattr(liveness.charon, "log_size", lambda node: nodes.append(node) or 100)
    parties = targets(2)
    liveness.measure(parties, timeout=1.0, poll=0.1)
    assert sorted(n.name for n in nodes) == ["p0", "p1"] and all(n is not None for n in nodes)


def test_a_refused_rekey_without_output_says_so(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    FakeCharon().install(monkeypatch)
    monkeypatch.setattr(liveness.charon, "rekey_child", lambda node, child: (False, ""))
    assert liveness.measure(targets(1), timeout=1.0) == {
        "p0": {"answered": False, "ms": None, "detail": "swanctl --rekey --child net failed: no output"}}


def test_the_pool_is_bounded(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    FakeCharon(answer_after=0).install(monkeypatch)
    sizes: list[int | None] = []
    real = liveness.ThreadPoolExecutor

    def pool(max_workers: int | None = None) -> Any:
        sizes.append(max_workers)
        return real(max_workers=max_workers)

    monkeypatch.setattr(liveness, "ThreadPoolExecutor", pool)
    liveness.measure(targets(3), timeout=1.0)
    liveness.measure(targets(40), timeout=1.0)
    assert sizes == [3, liveness.WORKERS]


def test_the_answer_time_is_from_the_rekey_to_the_look_that_saw_it(monkeypatch: pytest.MonkeyPatch,
                                                                    clock: Clock) -> None:
    FakeCharon(answer_after=1).install(monkeypatch)
    result = liveness.measure(targets(1), timeout=5.0, poll=0.12345)
    assert result["p0"]["answered"] is True and result["p0"]["ms"] == 123.5


def test_a_party_is_out_of_time_at_the_timeout_itself(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    fake = FakeCharon(answer_after=None)
    fake.install(monkeypatch)
    result = liveness.measure(targets(1), timeout=0.25, poll=0.125)
    assert fake.looks == {"p0": 3} and result["p0"]["answered"] is False  # looks at +0, +0.125, +0.25


def test_a_client_whose_ike_sa_carries_no_installed_child_is_not_rekeyed() -> None:
    held = {"uniqueid": "1", "initiator_spi": "aa", "responder_spi": "bb",
            "child_sas": [{"spi_in": "c1", "spi_out": "c1o", "state": "REKEYED"}]}
    assert clients.rekey_targets({"c1": {}}, {"c1": {"ike_sa": held}}) == []
    assert clients.rekey_targets({"c1": {}}, {"c1": {}}) == []

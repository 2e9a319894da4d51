"""The failover procedure with recording fakes (no Docker): which fault is chosen and whether it must move the
Active, what every step is handed, the progress lines, and the way back. Written against the mutants
`make mutation` left alive: each test pins an outcome a one-line break of `failover.py` would change."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace as NS
from typing import Any

import pytest

from labctl.errors import LabctlError
from labctl.experiment import failover
from labctl.experiment.probe import ProbeResult
from labctl.experiment.verdict import Verdict


class Clock:
    """Monotonic time that moves only when the code sleeps; the wall clock has sub-millisecond digits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + 1e9 + 0.12345

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(failover, "time", fake)
    return fake


class Probe:
    def __init__(self, flowing: bool = True) -> None:
        self.started_at: float | None = None
        self.is_flowing, self.stopped = flowing, False
        self.flowing_calls: list[tuple[float, float]] = []

    def start(self) -> None:
        self.started_at = 2000.0

    def flowing(self, since: float, fresh: float = 0.3, receivers: list[str] | None = None) -> bool:
        self.flowing_calls.append((since, fresh))
        return self.is_flowing

    def stop(self) -> ProbeResult:
        self.stopped = True
        return ProbeResult(100, 4.0, [])


class Judge:
    """Records what each step is handed; converges when `converges`."""

    def __init__(self, probes: dict[str, Probe], converges: bool = True) -> None:
        self.fake_probes, self.converges = probes, converges
        self.calls: list[Any] = []

    def record_before(self, verdict: Verdict) -> None:
        self.calls.append(("before", verdict))

    def probes(self, rate: float, max_duration: float) -> dict[str, Probe]:
        self.calls.append(("probes", rate, max_duration))
        return self.fake_probes

    def describe(self, rate: float) -> str:
        return f"probing at {rate:g}"

    def not_flowing(self, idle: list[str]) -> str:
        return f"idle: {', '.join(idle)}"

    def converged(self, probes: dict[str, Probe], since: float) -> bool:
        self.calls.append(("converged", probes is self.fake_probes, since))
        return self.converges

    def record_after(self, verdict: Verdict) -> None:
        self.calls.append(("after", verdict))

    def judge(self, verdict: Verdict, results: dict[str, ProbeResult], expect_move: bool) -> None:
        self.calls.append(("judge", verdict, sorted(results), expect_move))
        verdict.verdict = "fail" if verdict.reasons else "pass"


class Fault:
    name, instant, moves_active = "node-kill", False, True

    def __init__(self, node: str = "gw1") -> None:
        self.node, self.injected, self.undone = node, False, False

    def describe(self) -> str:
        return f"{self.name} on {self.node}"

    def inject(self) -> None:
        self.injected = True

    def undo(self) -> None:
        self.undone = True


class Crash(Fault):
    name, instant = "charon-crash", True


class Recover(Fault):
    name = "recover"

    def inject(self) -> None:
        raise LabctlError("gw1 did not preempt back")


@dataclass
class Policy:
    max_outage_ms: int | None = None
    converge_timeout: int = 20000
    takeover_allowance: int = 150
    max_loss_percent: float = 0.5


@dataclass
class Hsrp:
    hold: int = 700
    preempt: bool = True


@dataclass
class Ha:
    nodes: dict[str, Any] = field(default_factory=lambda: {"gw1": None, "gw2": None})
    hsrp: Hsrp = field(default_factory=Hsrp)
    ospf: Any = None  # no OSPF inside: the stateful budget is hold + takeover allowance
    rri: bool = True


@dataclass
class Topo:
    redundancy: str = "stateful"
    failover: Policy = field(default_factory=Policy)
    ha: Ha = field(default_factory=Ha)
    easyvpn: Any = None
    peers: list[str] = field(default_factory=list)
    crypto: Any = field(default_factory=lambda: NS(ike_version=2, dpd=5000))
    first_active_ms: int = 1400


class Node:
    def logs(self, since: float, until: float | None = None) -> str:
        return ""


class Lab:
    """Who is Active at each poll (the last answer repeats)."""

    def __init__(self, actives: list[str | None] | None = None, topo: Topo | None = None) -> None:
        self.actives = list(actives or ["gw2"])
        self.topo, self.sabotage, self.name = topo or Topo(), ("no-rri",), "dual"

    def active_gateway(self) -> str | None:
        return self.actives.pop(0) if len(self.actives) > 1 else self.actives[0]

    def node(self, name: str) -> Node:
        return Node()


@dataclass
class Run:
    verdict: Verdict
    judge: Judge
    fault: Fault
    lab: Lab
    progress: list[str]
    chosen_with: tuple[Any, ...]
    final_state: tuple[Any, ...]
    whole: list[Any]


def run(monkeypatch: pytest.MonkeyPatch, fault: Fault | None = None, judge: Judge | None = None,
        lab: Lab | None = None, expect_move: bool = True, **kw: Any) -> Run:
    fault = fault or Fault()
    judge = judge or Judge({"a": Probe()})
    lab = lab or Lab()
    chosen_with: list[Any] = []
    final: list[Any] = []
    whole: list[Any] = []
    progress: list[str] = []

    def choose(*args: Any) -> tuple[Fault, str, bool]:
        chosen_with.extend(args)
        return fault, "gw1", expect_move

    def record_final(lab_: Any, verdict: Verdict, taken: str | None) -> None:
        final.extend((lab_, verdict, taken))
        verdict.active_after = taken

    monkeypatch.setattr(failover, "choose_fault", choose)
    monkeypatch.setattr(failover, "record_final_state", record_final)
    monkeypatch.setattr(failover, "wait_whole", lambda lab_: whole.append(lab_))
    verdict = failover.failover(lab, judge=judge, progress=progress.append, **kw)  # type: ignore[arg-type]
    return Run(verdict, judge, fault, lab, progress, tuple(chosen_with), tuple(final), whole)


# ---------------------------------------------------------------- the procedure


def test_every_step_is_handed_this_verdict_lab_and_fault(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    r = run(monkeypatch, rate=400.0, converge_timeout=5.0)
    v = r.verdict
    assert r.chosen_with == (r.lab, "node-kill", None, None, None, r.progress.append)
    # asked 5 s, but the wait is never shorter than the 850 ms budget + 10 s: 10.85 s (+ 60 s probe slack)
    assert r.judge.calls == [("before", v), ("probes", 400.0, 70.85), ("converged", True, pytest.approx(1001.05)),
                             ("after", v), ("judge", v, ["a"], True)]
    assert r.final_state == (r.lab, v, "gw2")
    assert r.progress == ["probing at 400", "injecting node-kill on gw1", "converged",
                          "recovering the lab (undo, preempt)"]
    assert r.fault.injected and r.fault.undone and r.whole == [r.lab]
    assert (v.lab, v.mode, v.sabotage, v.fault, v.fault_node, v.old_active) == \
        ("dual", "stateful", ["no-rri"], "node-kill on gw1", "gw1", "gw1")
    assert v.timeline["fault_at"] == 1000001001.123 and v.timeline["converged_at"] == 1000001001.123
    assert v.passed and v.new_active == "gw2" and v.converge_ms == 0.0


def test_only_traffic_sent_once_the_fault_is_in_place_shows_convergence(monkeypatch: pytest.MonkeyPatch,
                                                                        clock: Clock) -> None:
    """An inject that takes 0.3 s (a `docker exec` under load): packets sent meanwhile went through the node
    before it failed, so convergence counts only what was sent after the inject returned."""

    class SlowCrash(Crash):
        def inject(self) -> None:
            clock.sleep(0.3)
            self.injected = True

    r = run(monkeypatch, fault=SlowCrash(), expect_move=False)
    assert [c[2] for c in r.judge.calls if c[0] == "converged"] == [pytest.approx(1001.3)]
    assert r.verdict.converge_ms == pytest.approx(300.0)  # still measured from the fault


def test_the_baseline_asks_every_probe_for_any_traffic_in_the_last_half_second(monkeypatch: pytest.MonkeyPatch,
                                                                                clock: Clock) -> None:
    probes = {"a": Probe(), "b": Probe()}
    run(monkeypatch, judge=Judge(probes))
    assert [p.flowing_calls for p in probes.values()] == [[(0.0, 0.5)], [(0.0, 0.5)]]


class LateProbe(Probe):
    """Carries traffic from its `late`-th check on (a fresh lab on a busy host)."""

    def __init__(self, late: int) -> None:
        super().__init__()
        self.late = late

    def flowing(self, since: float, fresh: float = 0.3, receivers: list[str] | None = None) -> bool:
        super().flowing(since, fresh, receivers)
        return len(self.flowing_calls) > self.late


def test_a_probe_that_flows_late_is_waited_for_and_noted(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    late = LateProbe(late=8)  # 8 idle checks, 0.25 s apart, after the 1 s baseline: flowing at 3.0 s
    r = run(monkeypatch, judge=Judge({"a": late}))
    assert len(late.flowing_calls) == 9 and r.verdict.verdict == "pass"
    assert r.verdict.timeline["fault_at"] - 1e9 == pytest.approx(1003.123, abs=1e-3)
    assert "the probe flowed only 3.0 s after it started (a slow lab before the fault)" in r.verdict.notes


def test_a_probe_that_flows_at_once_adds_no_note(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    r = run(monkeypatch)
    assert not any("flowed only" in note for note in r.verdict.notes)


def test_a_probe_that_never_flows_is_an_error_after_ten_seconds(monkeypatch: pytest.MonkeyPatch,
                                                                 clock: Clock) -> None:
    idle = Probe(flowing=False)
    with pytest.raises(LabctlError, match="^idle: a$"):
        run(monkeypatch, judge=Judge({"a": idle}))
    assert len(idle.flowing_calls) == 41 and clock.now == pytest.approx(1011.0) and idle.stopped


def test_the_fault_arguments_reach_the_choice(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    r = run(monkeypatch, fault=Fault("gw2"), lab=Lab(["gw1"]), node="gw2", link="ha", percent=30)
    assert r.chosen_with[:5] == (r.lab, "node-kill", "gw2", "ha", 30)
    r = run(monkeypatch, fault=Fault(), lab=Lab(["gw2"]))
    assert r.chosen_with[1] == "node-kill"


def test_no_convergence_is_reported_and_the_faulted_node_is_the_one_that_must_move(
        monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    # gw1 (the faulted node) stays Active: traffic alone is no convergence when the Active must move
    r = run(monkeypatch, lab=Lab(["gw1"]), converge_timeout=0.3)
    assert r.progress[2] == "no convergence before the timeout"
    assert not r.verdict.converged and r.final_state[2] is None
    assert r.verdict.new_active is None


def test_a_fault_that_need_not_move_converges_on_the_same_active(monkeypatch: pytest.MonkeyPatch,
                                                                  clock: Clock) -> None:
    r = run(monkeypatch, lab=Lab(["gw1"]), expect_move=False)
    assert r.verdict.converged and r.verdict.new_active == "gw1" and r.progress[2] == "converged"
    assert r.judge.calls[-1][3] is False


def test_a_judge_that_never_converges_times_out(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    r = run(monkeypatch, judge=Judge({"a": Probe()}, converges=False), converge_timeout=0.5)
    assert not r.verdict.converged and r.progress[2] == "no convergence before the timeout"
    assert r.final_state[2] == "gw2"  # the takeover was seen even though traffic never converged


def test_a_recovery_that_cannot_make_the_lab_whole_fails_the_verdict(monkeypatch: pytest.MonkeyPatch,
                                                                     clock: Clock) -> None:
    r = run(monkeypatch, fault=Recover(), lab=Lab(["gw1"]), expect_move=False)
    assert r.verdict.reasons == ["the lab did not become whole again: gw1 did not preempt back"]
    assert not r.verdict.passed and r.whole == []  # a recovery is not recovered from


def test_a_crash_the_node_recovered_from_is_a_note_and_is_not_undone(monkeypatch: pytest.MonkeyPatch,
                                                                     clock: Clock) -> None:
    r = run(monkeypatch, fault=Crash(), lab=Lab(["gw1"]), expect_move=False)
    assert r.verdict.notes == ["no takeover: gw1 recovered from the charon-crash and was Active again before the "
                               "standby took over"]
    assert not r.fault.undone and r.whole == [r.lab]


def test_a_loss_fault_says_its_loss_is_not_judged(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    loss = type("Loss", (Fault,), {"name": "loss"})()
    r = run(monkeypatch, fault=loss)
    assert r.verdict.max_loss_percent is None
    assert r.verdict.notes == ["loss after the outage not judged: the fault (loss on gw1) drops packets itself"]


def test_make_judge_picks_the_clients_only_without_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failover, "ClientsJudge", lambda lab: ("clients", lab))
    monkeypatch.setattr(failover, "PeerJudge", lambda lab: ("peer", lab))
    for easyvpn, peers, kind in [(object(), [], "clients"), (object(), ["r1"], "peer"), (None, [], "peer"),
                                 (None, ["r1"], "peer")]:
        lab = Lab(topo=Topo(easyvpn=easyvpn, peers=peers))
        assert failover.make_judge(lab) == (kind, lab)  # type: ignore[arg-type]


def test_without_a_judge_the_lab_gets_its_own(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    judge = Judge({"a": Probe()})
    labs: list[Any] = []
    monkeypatch.setattr(failover, "make_judge", lambda lab: labs.append(lab) or judge)
    monkeypatch.setattr(failover, "choose_fault", lambda *a: (Fault(), "gw1", True))
    monkeypatch.setattr(failover, "record_final_state", lambda *a: None)
    lab = Lab()
    failover.failover(lab, recover=False)  # type: ignore[arg-type]
    assert labs == [lab] and judge.calls[-1][0] == "judge"


# ---------------------------------------------------------------- choosing the fault


@dataclass
class Chooser:
    made: list[tuple[Any, ...]] = field(default_factory=list)
    whole: list[tuple[Any, ...]] = field(default_factory=list)
    fault: Fault = field(default_factory=Fault)


@pytest.fixture
def chooser(monkeypatch: pytest.MonkeyPatch) -> Chooser:
    c = Chooser()

    def make_fault(*args: Any) -> Fault:
        c.made.append(args)
        return c.fault

    monkeypatch.setattr(failover, "make_fault", make_fault)
    monkeypatch.setattr(failover, "wait_whole", lambda *a, **kw: c.whole.append((a, kw)))
    monkeypatch.setattr(failover, "preferred_gateway", lambda topo: "gw1" if isinstance(topo, Topo) else None)
    return c


def test_link_up_is_no_failover_fault(chooser: Chooser) -> None:
    with pytest.raises(LabctlError) as err:
        failover.choose_fault(Lab(), "link-up", None, "ha", None, lambda m: None)  # type: ignore[arg-type]
    assert str(err.value) == "link-up repairs, it is not a failover fault (`recover` judges the way back)"
    assert chooser.made == []


@pytest.mark.parametrize(("active", "preempt", "target", "move"), [
    ("gw2", True, "gw2", True),  # the standby holds the Active: with preempt the preferred gw1 takes it back
    ("gw2", False, "gw2", False),  # no preempt: nothing moves back
    ("gw1", True, "gw1", False),  # the preferred gateway is Active already
    (None, True, "gw1", False),  # nobody Active: the recovery undoes the faults on the preferred gateway
])
def test_the_way_back_must_move_the_active_only_with_preempt_away_from_the_preferred(
        chooser: Chooser, active: str | None, preempt: bool, target: str, move: bool) -> None:
    lab = Lab([active], Topo(ha=Ha(hsrp=Hsrp(preempt=preempt))))
    lines: list[str] = []
    chosen, old, expect_move = failover.choose_fault(lab, "recover", None, None, None,  # type: ignore[arg-type]
                                                     lines.append)
    assert (chosen, old, expect_move) == (chooser.fault, active, move)
    assert chooser.made == [(lab, "recover", target)] and chooser.whole == [] and lines == []


@pytest.mark.parametrize(("fault", "move"), [
    (Fault("gw1"), True),  # a kill of a gateway must move the Active
    (Crash("gw1"), False),  # the node recovers by itself: the sessions judge
    (type("Link", (Fault,), {"moves_active": False})("gw1"), False),
    (Fault("remote1"), False),  # not an HA gateway
])
def test_a_failover_starts_whole_and_must_move_the_active_for_a_lasting_gateway_fault(
        chooser: Chooser, fault: Fault, move: bool) -> None:
    chooser.fault = fault
    lab = Lab(["gw1"])
    lines: list[str] = []
    chosen, old, expect_move = failover.choose_fault(lab, "node-kill", "gw1", "ha", 20,  # type: ignore[arg-type]
                                                     lines.append)
    assert (chosen, old, expect_move) == (fault, "gw1", move)
    assert chooser.made == [(lab, "node-kill", "gw1", "ha", 20)]
    assert chooser.whole == [((lab,), {"timeout": 60.0})] and lines == ["checking the lab is whole"]


# ---------------------------------------------------------------- the way back


def test_failover_and_back_judges_the_recovery_with_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    lines: list[str] = []

    def fake(*args: Any, **kw: Any) -> Verdict:
        calls.append((args, kw))
        kw["progress"]("step")
        v = Verdict("dual", "stateful", [], str(args[1]), "gw1", "gw1", "gw2", ike_sa_preserved=True)
        if args[1] == "recover":
            v.reasons, v.active_after = ["no preemption"], "gw2"
        return v

    monkeypatch.setattr(failover, "failover", fake)
    lab = object()
    v = failover.failover_and_back(lab, "link-down", "gw1", "ha", 300.0, 900.0, 7.0,  # type: ignore[arg-type]
                                   lines.append, 40, 1.5)
    assert calls == [
        ((lab, "link-down", "gw1", "ha", 300.0, 900.0, 7.0),
         {"recover": False, "progress": lines.append, "percent": 40, "max_loss_percent": 1.5}),
        ((lab, "recover"), {"rate": 300.0, "max_outage_ms": 900.0, "converge_timeout": 7.0, "recover": False,
                            "progress": calls[1][1]["progress"], "max_loss_percent": 1.5}),
    ]
    assert lines == ["step", "way back: step"]
    assert v.reasons == ["recovery: no preemption"] and v.verdict == "fail" and v.active_after == "gw2"
    assert v.recovery is not None and v.recovery["fault"] == "recover"


def test_failover_and_back_defaults_to_a_node_kill(monkeypatch: pytest.MonkeyPatch) -> None:
    faults: list[str] = []

    def fake(lab: Any, fault: str, *args: Any, **kw: Any) -> Verdict:
        faults.append(fault)
        return Verdict("dual", "stateful", [], fault, "gw1", "gw1", "gw2")

    monkeypatch.setattr(failover, "failover", fake)
    failover.failover_and_back(object())  # type: ignore[arg-type]
    assert faults == ["node-kill", "recover"]


def test_the_convergence_wait_covers_the_budget_and_on_the_way_back_the_returning_nodes_start() -> None:
    topo = Topo()
    assert failover.convergence_wait(topo, 40.0, 850.0, returning=False) == 40.0  # asked for more: as asked
    assert failover.convergence_wait(topo, None, 850.0, returning=False) == 20.0  # the topology's 20 s
    assert failover.convergence_wait(topo, 5.0, 22000.0, returning=False) == pytest.approx(32.0)  # 22 s + 10 s
    assert failover.convergence_wait(topo, 5.0, 22000.0, returning=True) == pytest.approx(33.4)  # + 1.4 s start


def test_a_failed_clean_up_after_the_verdict_is_a_note_not_a_lost_verdict(monkeypatch: pytest.MonkeyPatch,
                                                                           clock: Clock) -> None:
    """The seeds' `standby delay reload 120` can outlast the clean-up: the verdict is still printed."""
    def never_whole(lab_: Any) -> None:
        raise LabctlError("gw1 did not preempt back to Active in 60s")

    r = run(monkeypatch, recover=True)  # patches the procedure's steps (fault, final state) for the run below
    monkeypatch.setattr(failover, "wait_whole", never_whole)
    verdict = failover.failover(r.lab, judge=Judge({"a": Probe()}), recover=True)  # type: ignore[arg-type]
    assert verdict.verdict in ("pass", "fail")
    assert verdict.notes[-1] == ("after the verdict the lab did not become whole again: gw1 did not preempt back "
                                 "to Active in 60s")


def test_the_way_back_waits_also_for_the_returning_nodes_own_start(monkeypatch: pytest.MonkeyPatch,
                                                                  clock: Clock) -> None:
    class Back(Fault):
        name = "recover"

    r = run(monkeypatch, fault=Back(), converge_timeout=5.0)
    # 850 ms budget + 10 s margin + the returning node's 1.4 s first election (+ 60 s probe slack)
    assert [c for c in r.judge.calls if c[0] == "probes"] == [("probes", failover.DEFAULT_RATE, pytest.approx(72.25))]


def test_the_final_state_names_each_gateways_groups_and_the_active(monkeypatch: pytest.MonkeyPatch) -> None:
    statuses = {"gw1": {"role": "standby", "hsrp": [{"network": "outside", "group": 1, "state": "Standby"},
                                                   {"network": "inside", "group": 2, "state": "Active"}]},
                "gw2": {"role": "active", "hsrp": [{"network": "outside", "group": 1, "state": "Active"}]},
                "gw3": None}
    monkeypatch.setattr(failover.gateway, "sidecar_status", lambda node: statuses[node])
    monkeypatch.setattr(failover.gateway, "rri_routes", lambda node: [f"10.1.0.0/16 via {node}"])
    lab = Lab(topo=Topo(ha=Ha(nodes=dict.fromkeys(statuses))))
    lab.node = lambda name: name  # type: ignore[method-assign,assignment,return-value]
    v = Verdict("dual", "stateful", [], "node-kill on gw1", "gw1", "gw1", None)
    failover.record_final_state(lab, v, "gw2")  # type: ignore[arg-type]
    assert v.groups_after == {"gw1": {"outside group 1": "Standby", "inside group 2": "Active"},
                              "gw2": {"outside group 1": "Active"}, "gw3": {}}
    assert (v.actives_after, v.active_after, v.new_active) == (["gw2"], "gw2", "gw2")
    assert v.rri == {n: [f"10.1.0.0/16 via {n}"] for n in statuses}

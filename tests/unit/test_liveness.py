"""Session liveness after a takeover (issue 12): each judging party's CHILD_SA rekey must be answered through
the new Active. The pure outcome, the reason texts of both judges, what is rekeyed, the parallel bounded
measurement (charon faked), and where the failover procedure runs it."""

from __future__ import annotations

import time
from types import SimpleNamespace as NS
from typing import Any

import pytest

from labctl.experiment import verdict as shared
from labctl.experiment.judges import clients, liveness, peer
from labctl.experiment.judges.liveness import Target, rekey_outcome
from labctl.experiment.judges.peer import SaIdentity
from labctl.experiment.verdict import LIVENESS_TIMEOUT, Verdict
from tests.unit import test_failover_mutants as proc
from tests.unit.test_judges import BEFORE, GOOD, PROBES, REMOTE, client, ez, make

IKE = {"uniqueid": "1", "initiator_spi": "aa", "responder_spi": "bb"}
V2 = "12:00:01.100 09[ENC] <site|1> parsed CREATE_CHILD_SA response 4 [ SA No KE TSi TSr ]\n"
V1 = "12:00:01.100 09[ENC] <ezvpn|1> parsed QUICK_MODE response 3141592653 [ HASH SA No ID ID ]\n"


def sa(children: list[tuple[str, str, str]], **ike: str) -> dict[str, Any]:
    """An IKE SA as `charon.sas` returns it: children (name, spi_in, spi_out), INSTALLED."""
    return IKE | ike | {"state": "ESTABLISHED", "child_sas": [
        {"name": name, "state": "INSTALLED", "spi_in": i, "spi_out": o} for name, i, o in children]}


def target(version: int = 2, child: str = "net", party: str = "peer") -> Target:
    return Target(party, None, child, dict(IKE), {("c1", "c1o")}, version)


# ---------------------------------------------------------------- the pure outcome


def test_new_spis_under_the_same_ike_sa_and_the_response_in_the_log_is_an_answer() -> None:
    answered, detail = rekey_outcome(target(), [sa([("net", "c1", "c1o"), ("net", "c2", "c2o")])], V2)
    assert answered is True
    assert detail == "new CHILD_SA net c2_i/c2o_o under IKE SA #1; 'parsed CREATE_CHILD_SA response' in its log"


def test_ikev1_looks_for_the_quick_mode_response() -> None:
    t = target(version=1, child="ez", party="client1")
    assert rekey_outcome(t, [sa([("ez", "c2", "c2o")])], V1)[0] is True
    answered, detail = rekey_outcome(t, [sa([("ez", "c2", "c2o")])], V2)
    assert answered is False and detail.endswith("but no 'parsed QUICK_MODE response' in its log")


def test_no_new_spis_is_no_answer_whatever_the_log_says() -> None:
    answered, detail = rekey_outcome(target(), [sa([("net", "c1", "c1o")])], "")
    assert answered is False
    assert detail == "no new CHILD_SA net under IKE SA #1; no 'parsed CREATE_CHILD_SA response' in its log"


@pytest.mark.parametrize("key", ["uniqueid", "initiator_spi", "responder_spi"])
def test_the_answer_must_come_under_the_same_ike_sa(key: str) -> None:
    other = sa([("net", "c2", "c2o")], **{key: "zz"})
    answered, detail = rekey_outcome(target(), [other], V2)
    assert answered is False and detail.startswith("its IKE SA #1 is gone;")


def test_another_childs_new_spis_or_an_uninstalled_child_do_not_count() -> None:
    other_child = sa([("net", "c1", "c1o"), ("other", "c9", "c9o")])
    assert rekey_outcome(target(), [other_child], V2)[0] is False
    rekeying = sa([("net", "c1", "c1o")])
    rekeying["child_sas"].append({"name": "net", "state": "REKEYING", "spi_in": "c2", "spi_out": "c2o"})
    assert rekey_outcome(target(), [rekeying], V2)[0] is False


def test_new_spis_without_the_response_in_the_log_are_no_answer() -> None:
    answered, detail = rekey_outcome(target(), [sa([("net", "c2", "c2o")])], "parsed CREATE_CHILD_SA request\n")
    assert answered is False
    assert detail == ("new CHILD_SA net c2_i/c2o_o under IKE SA #1 but no 'parsed CREATE_CHILD_SA response' "
                      "in its log")


def test_skip_note_only_without_convergence_or_without_an_active() -> None:
    assert liveness.skip_note(make(actives_after=["gw2"], active_after="gw2")) is None
    assert liveness.skip_note(make(converged=False)) == "liveness not checked: the lab did not converge"
    assert liveness.skip_note(make(actives_after=[], active_after=None)) == \
        "liveness not checked: no gateway is HSRP Active at the end"


# ---------------------------------------------------------------- the reasons, in both pure judges

PEER_REASON = ("IKE SA does not work through the new Active: peer's CHILD_SA rekey got no answer within 6 s "
               "(no new CHILD_SA net under IKE SA #1; no 'parsed CREATE_CHILD_SA response' in its log)")


def test_the_reason_names_the_party_the_timeout_and_what_was_seen() -> None:
    assert LIVENESS_TIMEOUT == 6.0
    v = make(liveness={"peer": {"answered": False, "ms": None, "detail": "no new CHILD_SA net under IKE SA #1; "
                                "no 'parsed CREATE_CHILD_SA response' in its log"}})
    assert shared.liveness_reasons(v) == [PEER_REASON]
    assert shared.liveness_reasons(make(liveness={"peer": {"answered": True, "ms": 40.0, "detail": "x"}})) == []
    assert shared.liveness_reasons(make()) == []  # not checked: no reason (a note says why)
    assert shared.liveness_reasons(make(liveness={"peer": {"answered": False, "ms": None}})) == [
        "IKE SA does not work through the new Active: peer's CHILD_SA rekey got no answer within 6 s (no detail)"]


def test_the_peer_judge_fails_an_unanswered_rekey_for_that_reason_only() -> None:
    v = make(liveness={"peer": {"answered": False, "ms": None, "detail": "no new CHILD_SA net under IKE SA #1; "
                                "no 'parsed CREATE_CHILD_SA response' in its log"}})
    peer.judge(v, GOOD, True, REMOTE, True)
    assert (v.verdict, v.reasons) == ("fail", [PEER_REASON])
    ok = make(liveness={"peer": {"answered": True, "ms": 35.0, "detail": "new CHILD_SA"}})
    peer.judge(ok, GOOD, True, REMOTE, True)
    assert (ok.verdict, ok.reasons) == ("pass", [])
    assert ok.liveness == {"peer": {"answered": True, "ms": 35.0, "detail": "new CHILD_SA"}}  # kept as measured


def test_the_clients_judge_names_each_client_whose_rekey_got_no_answer() -> None:
    after = {"client1": client("10.33.0.1", "a", "c1"), "client2": client("10.33.0.2", "b", "c2")}
    v = ez(liveness={"client1": {"answered": True, "ms": 80.0, "detail": "ok"},
                     "client2": {"answered": False, "ms": None, "detail": "its IKE SA #1 is gone; x"}})
    clients.judge(v, BEFORE, after, PROBES, {}, True)
    assert (v.verdict, v.reasons) == ("fail", [
        "IKE SA does not work through the new Active: client2's CHILD_SA rekey got no answer within 6 s "
        "(its IKE SA #1 is gone; x)"])


# ---------------------------------------------------------------- what each judge rekeys


def ident(uid: str, spi: str, children: list[tuple[str, str]]) -> SaIdentity:
    return SaIdentity("site", uid, spi, spi + "r", "ESTABLISHED",
                      [{"name": "net", "uniqueid": "1", "state": "INSTALLED", "spi_in": i, "spi_out": o}
                       for i, o in children])


def test_the_peer_rekeys_the_ike_sa_it_kept_else_the_one_carrying_the_child() -> None:
    old = ident("1", "a", [("c1", "c1o")])
    new = ident("2", "b", [("n1", "n1o")])
    kept = ident("1", "a", [("c2", "c2o")])
    assert peer.rekey_candidate([old], [new, kept]) is kept
    assert peer.rekey_candidate([old], [new]) is new  # stateless: the re-negotiated one
    assert peer.rekey_candidate([old], [ident("1", "a", [])]) is None  # nothing installed to rekey
    assert peer.rekey_candidate([], []) is None
    assert peer.CHILD == "net" and clients.CHILD == "ez"


def test_every_client_still_holding_an_installed_child_is_rekeyed_with_ikev1() -> None:
    after = {"client1": client("10.33.0.1", "a", "c1"), "client2": client(None, "b", "c2")}
    targets = clients.rekey_targets(BEFORE, after)
    assert [(t.party, t.child, t.ike, t.old_spis, t.ike_version) for t in targets] == [
        ("client1", "ez", {"uniqueid": "1", "initiator_spi": "a", "responder_spi": "ar"}, {("c1", "c1o")}, 1)]


def test_the_rendered_child_names_are_the_ones_rekeyed() -> None:
    from labctl.model.loader import load_topology
    from labctl.render import render_lab

    root = proc.__file__.rsplit("/tests/", 1)[0]
    dual = render_lab(load_topology(f"{root}/topologies/dual-interface.yaml"))
    assert f"    children {{\n      {peer.CHILD} {{" in dual["peer"].files["/etc/swanctl/swanctl.conf"]
    ez_lab = render_lab(load_topology(f"{root}/topologies/easy-vpn.yaml"))
    first = next(n for n, c in ez_lab.items() if c.role == "client")
    assert f"    children {{\n      {clients.CHILD} {{" in ez_lab[first].files["/etc/swanctl/swanctl.conf"]


# ---------------------------------------------------------------- the measurement (charon faked)


class FakeCharon:
    """Per node: the rekey is accepted (or not); the new CHILD_SA shows after `answer_after` looks."""

    def __init__(self, answer_after: int | None = 1, accept: bool = True) -> None:
        self.answer_after, self.accept = answer_after, accept
        self.looks: dict[str, int] = {}
        self.rekeyed: list[tuple[str, str]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(liveness.charon, "log_size", lambda node: 100)
        monkeypatch.setattr(liveness.charon, "rekey_child", self.rekey_child)
        monkeypatch.setattr(liveness.charon, "sas", self.sas)
        monkeypatch.setattr(liveness.charon, "log_since", self.log_since)

    def rekey_child(self, node: Any, child: str) -> tuple[bool, str]:
        self.rekeyed.append((node.name, child))
        return self.accept, "" if self.accept else "no matching CHILD_SA found"

    def answered(self, node: Any) -> bool:
        return self.answer_after is not None and self.looks.get(node.name, 0) > self.answer_after

    def sas(self, node: Any) -> list[dict[str, Any]]:
        self.looks[node.name] = self.looks.get(node.name, 0) + 1
        return [sa([("net", "c1", "c1o")] + ([("net", "c2", "c2o")] if self.answered(node) else []))]

    def log_since(self, node: Any, offset: int) -> str:
        assert offset == 100
        return V2 if self.answered(node) else ""


def targets(n: int) -> list[Target]:
    return [Target(f"p{i}", NS(name=f"p{i}"), "net", dict(IKE), {("c1", "c1o")}, 2) for i in range(n)]


def test_an_answer_is_recorded_with_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCharon(answer_after=1)
    fake.install(monkeypatch)
    result = liveness.measure(targets(1), timeout=2.0, poll=0.01)
    assert fake.rekeyed == [("p0", "net")]
    assert result["p0"]["answered"] is True and result["p0"]["ms"] is not None and result["p0"]["ms"] >= 0
    assert result["p0"]["detail"].startswith("new CHILD_SA net c2_i/c2o_o under IKE SA #1")
    assert fake.looks["p0"] == 2  # polled until the answer, then no more


def test_no_answer_within_the_timeout_is_recorded_with_the_last_thing_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeCharon(answer_after=None).install(monkeypatch)
    started = time.monotonic()
    result = liveness.measure(targets(1), timeout=0.15, poll=0.01)
    assert 0.15 <= time.monotonic() - started < 1.0
    assert result == {"p0": {"answered": False, "ms": None, "detail": "no new CHILD_SA net under IKE SA #1; no "
                             "'parsed CREATE_CHILD_SA response' in its log"}}


def test_a_refused_rekey_is_no_answer_and_is_not_polled(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCharon(accept=False)
    fake.install(monkeypatch)
    result = liveness.measure(targets(1), timeout=1.0, poll=0.01)
    assert result == {"p0": {"answered": False, "ms": None,
                             "detail": "swanctl --rekey --child net failed: no matching CHILD_SA found"}}
    assert fake.looks == {}


def test_many_parties_are_rekeyed_at_once_so_the_wait_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCharon(answer_after=None)
    fake.install(monkeypatch)
    started = time.monotonic()
    result = liveness.measure(targets(200), timeout=0.2, poll=0.02)
    assert time.monotonic() - started < 2.0  # one timeout (plus polling), not 200 of them
    assert len(fake.rekeyed) == 200 and list(result) == [f"p{i}" for i in range(200)]
    assert not any(r["answered"] for r in result.values())
    assert liveness.measure([], timeout=0.1) == {}


# ---------------------------------------------------------------- where the procedure runs it


class LiveJudge(proc.Judge):
    def liveness(self, verdict: Verdict) -> None:
        self.calls.append(("liveness", verdict))
        verdict.liveness = {"peer": {"answered": False, "ms": None, "detail": "x"}}

    def judge(self, verdict: Verdict, results: dict[str, Any], expect_move: bool) -> None:
        verdict.reasons += shared.liveness_reasons(verdict)
        super().judge(verdict, results, expect_move)


def test_the_procedure_checks_liveness_after_recording_and_before_judging(monkeypatch: pytest.MonkeyPatch,
                                                                         clock: proc.Clock) -> None:
    judge = LiveJudge({"a": proc.Probe()})
    r = proc.run(monkeypatch, judge=judge)
    steps = [c[0] for c in judge.calls]
    assert steps[-3:] == ["after", "liveness", "judge"]
    assert "liveness: each party rekeys its CHILD_SA through the Active" in r.progress
    assert r.verdict.reasons == ["IKE SA does not work through the new Active: peer's CHILD_SA rekey got no "
                                 "answer within 6 s (x)"] and not r.verdict.passed


clock = proc.clock  # the fixture, shared

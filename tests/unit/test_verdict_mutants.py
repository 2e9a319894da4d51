"""Shared judging, budgets, both judges and the convergence loop (pure, fakes): outcomes and reason texts
pinned against the mutants `make mutation` left alive in verdict.py, budget.py, judges/ and failover.py."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest

from labctl.errors import LabctlError
from labctl.experiment import budget, failover
from labctl.experiment import verdict as shared
from labctl.experiment.judges import clients, peer
from labctl.experiment.judges.peer import SaIdentity
from labctl.experiment.probe import DirectionResult, ProbeResult
from labctl.experiment.verdict import Verdict


def make(mode: str = "stateful", **kw: Any) -> Verdict:
    v = Verdict("dual", mode, [], "node-kill on gw1", "gw1", "gw1", "gw2", max_outage_ms=3000.0, converged=True,
                ike_sa_preserved=True, child_sa="rekeyed", rri={"gw1": [], "gw2": ["10.2.0.0/24"]})
    for key, value in kw.items():
        setattr(v, key, value)
    return v


# ---------------------------------------------------------------- verdict.py


def test_the_after_loss_percent_keeps_two_decimals() -> None:
    v = make()
    shared.record_probes(v, [ProbeResult(1000, 5, [DirectionResult("a->b", 1000, 999, 1, 0, 0, 10.0, None, None,
                                                                   lost_after=1, sent_after=3)])])
    assert v.loss["a->b"]["after_percent"] == 33.33


def test_a_host_route_counts_whether_or_not_it_is_spelled_with_its_prefix_length() -> None:
    """`ip route` prints 172.16.0.1, the host-to-host ACL of the seed names 172.16.0.1/32: the same route."""
    v = make(rri={"gw2": ["172.16.0.1", "10.33.0.7/32"]}, active_after="gw2", new_active="gw2")
    assert shared.rri_reasons(v, ["172.16.0.1/32", "10.33.0.7"], "{holder} lacks {routes}") == []
    assert shared.rri_reasons(v, ["172.16.0.2/32"], "{holder} lacks {routes}") == ["gw2 lacks 172.16.0.2/32"]


def test_rri_reasons_name_every_missing_route_and_every_other_injector() -> None:
    v = make(rri={"gw1": ["10.2.0.0/24", "10.3.0.0/24"], "gw3": []}, active_after=None, new_active="gw2")
    assert shared.rri_reasons(v, ["10.2.0.0/24", "10.3.0.0/24"], "{holder} lacks {routes}") == [
        "gw2 lacks 10.2.0.0/24, 10.3.0.0/24",  # gw2 is not in the RRI map at all
        "RRI: gw1 is not Active but still injects 10.2.0.0/24, 10.3.0.0/24",
    ]


def test_attach_recovery_keeps_the_failovers_own_reasons() -> None:
    first = make(reasons=["outage in->out 900 ms > 850 ms allowed"])
    shared.attach_recovery(first, make(reasons=["no preemption"]))
    assert first.reasons == ["outage in->out 900 ms > 850 ms allowed", "recovery: no preemption"]


# ---------------------------------------------------------------- budget.py


def topo(redundancy: str = "stateless", easyvpn_dpd: float | None = None, peers: tuple[str, ...] = (),
         ike_version: int = 2) -> Any:
    return NS(redundancy=redundancy, failover=NS(max_outage_ms=None, takeover_allowance=150),
              ha=NS(hsrp=NS(hold=700), ospf=None, rri=True), crypto=NS(dpd=5000, ike_version=ike_version),
              peers=list(peers),
              easyvpn=NS(dpd=easyvpn_dpd) if easyvpn_dpd is not None else None)


@pytest.mark.parametrize(("lab", "dpd"), [
    (topo(easyvpn_dpd=9000, peers=("remote1",)), 5000.0),  # a site-to-site peer judges: its DPD
    (topo(peers=("remote1",)), 5000.0),
    (topo(), 5000.0),
])
def test_the_stateless_budget_uses_the_dpd_of_whoever_judges(lab: Any, dpd: float) -> None:
    got = budget.outage_budget(lab)
    assert got["max_outage_ms"] == pytest.approx(dpd + 7104 + 2000)
    assert got["derived_from"].startswith(f"stateless: DPD delay {dpd:.0f} ms + 4 unanswered")


@pytest.mark.parametrize(("lab", "dead"), [
    (topo(easyvpn_dpd=9000), 18000.0),  # remote access only: the IKEv1 clients' DPD, 9 s: timeout 17 s -> 18 s
    (topo(peers=("remote1",), ike_version=1), 15000.0),  # an IKEv1 peer, 5 s: timeout 13 s -> the check at 15 s
])
def test_an_ikev1_far_end_is_declared_dead_by_its_dpd_timeout(lab: Any, dead: float) -> None:
    got = budget.outage_budget(lab)
    assert got["max_outage_ms"] == pytest.approx(dead + 2000)
    assert got["derived_from"].startswith("stateless: IKEv1 DPD every")


def test_the_stateless_budget_is_rounded_to_a_tenth_of_a_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "RETRANSMIT_TIMEOUT_S", 0.0123)
    got = budget.outage_budget(topo())["max_outage_ms"]
    assert isinstance(got, float) and got == round(5000 + 2000 + budget.retransmit_ms(), 1) == 7087.4


# ---------------------------------------------------------------- judges/peer.py


def test_sa_identity_from_a_charon_sa() -> None:
    sa = {"name": "peer", "uniqueid": "3", "initiator_spi": "i1", "responder_spi": "r1", "state": "ESTABLISHED",
          "child_sas": [{"name": "net", "uniqueid": "4", "state": "INSTALLED", "spi_in": "c1", "spi_out": "c2",
                         "bytes_in": 99}]}
    assert SaIdentity.from_sa(sa) == SaIdentity("peer", "3", "i1", "r1", "ESTABLISHED", [
        {"name": "net", "uniqueid": "4", "state": "INSTALLED", "spi_in": "c1", "spi_out": "c2"}])
    assert SaIdentity.from_sa({"name": "bare"}) == SaIdentity("bare", None, None, None, None, [])


def test_classify_without_a_baseline_says_why() -> None:
    with pytest.raises(LabctlError) as err:
        peer.classify([], [], {})
    assert str(err.value) == "the peer had no established IKE SA before the fault: nothing to judge"


def test_a_changed_identity_without_a_new_ike_sa_in_the_log_is_worded_so() -> None:
    v = make(ike_sa_preserved=False, peer_log={})
    peer.judge(v, ProbeResult(1000, 5, []), True, ["10.2.0.0/24"], True)
    assert v.reasons == ["IKE SA not preserved: the peer no longer holds the IKE SA it had (SPIs/unique id changed) "
                         "— the standby had no synchronised IKE/IPsec state"]


# ---------------------------------------------------------------- judges/clients.py


def client(vip: str, ispi: str = "i1", rspi: str = "r1", spis: tuple[str, str] = ("c1", "c2")) -> dict[str, Any]:
    return {"virtual_ip": vip, "ike_sa": {"uniqueid": "1", "initiator_spi": ispi, "responder_spi": rspi,
                                          "child_sas": [{"spi_in": spis[0], "spi_out": spis[1],
                                                         "state": "INSTALLED"}]}}


def ez(**kw: Any) -> Verdict:
    return make(rri={}, **kw)


@pytest.mark.parametrize("changed", [{"ispi": "i2"}, {"rspi": "r2"}])
def test_a_client_with_another_spi_is_not_preserved(changed: dict[str, str]) -> None:
    v = ez()
    clients.judge(v, {"c1": client("10.33.0.1")}, {"c1": client("10.33.0.1", **changed)}, {}, {}, True)
    assert v.ike_sa_preserved is False and v.child_sa == "renegotiated"
    assert v.reasons == ["c1: IKE SA not preserved (the client negotiated a new IKE SA)", "c1: CHILD_SA renegotiated"]


def test_one_client_that_lost_its_ike_sa_is_enough_and_the_same_spis_are_same() -> None:
    v = ez()
    before = {"c1": client("10.33.0.1"), "c2": client("10.33.0.2", "i5", "r5", ("c5", "c6"))}
    after = {"c1": client("10.33.0.1", "i2"), "c2": client("10.33.0.2", "i5", "r5", ("c5", "c6"))}
    clients.judge(v, before, after, {}, {}, True)
    assert v.ike_sa_preserved is False
    v = ez()
    clients.judge(v, {"c2": before["c2"]}, {"c2": after["c2"]}, {}, {}, True)
    assert (v.ike_sa_preserved, v.child_sa, v.reasons, v.verdict) == (True, "same", [], "pass")


def test_the_labs_child_sa_is_its_worst_clients_in_judging_order() -> None:
    v = ez()
    before = {"c1": client("10.33.0.1"), "c2": client("10.33.0.2", "i5", "r5")}
    after = {"c1": client("10.33.0.1", spis=("c7", "c8")), "c2": client("10.33.0.2", "i6", "r6")}
    clients.judge(v, before, after, {}, {}, True)
    assert v.child_sa == "renegotiated"  # rekeyed (c1) is better than renegotiated (c2)


def test_a_client_that_kept_its_address_is_not_readdressed() -> None:
    assert clients.readdressed({"c1": {"virtual_ip": "10.33.0.1"}}, {"c1": {"virtual_ip": "10.33.0.1"}}) == {}


# ---------------------------------------------------------------- failover.py: convergence loop, window


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + 1e9

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Lab:
    def __init__(self, active: str | None, log: str = "") -> None:
        self.active, self.log = active, log
        self.since: list[float] = []
        self.topo = NS(ha=NS(nodes={"gw1": None, "gw2": None}))

    def active_gateway(self) -> str | None:
        return self.active

    def node(self, name: str) -> Any:
        return NS(logs=lambda since: self.since.append(since) or (self.log if name == "gw2" else ""))


def test_the_deadline_itself_is_past(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failover, "time", Clock())
    monkeypatch.setattr(failover, "POLL", 0.25)
    answers = iter([False, False, True])
    v = make(converged=False, new_active=None)
    failover.await_convergence(Lab("gw2"), v, "gw1", True, 1000.0, 1000.5, lambda: next(answers))  # type: ignore
    assert not v.converged  # polls at +0 and +0.25 only


def test_convergence_time_is_rounded_to_a_tenth_of_a_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failover, "time", Clock())
    v = make(converged=False, new_active=None)
    failover.await_convergence(Lab("gw2"), v, "gw1", True, 999.87654, 1005.0, lambda: True)  # type: ignore
    assert v.converge_ms == 123.5


def test_the_sidecar_log_is_read_from_the_fault_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failover, "time", Clock())
    lab = Lab("gw1", "2001-09-09T01:46:45.5Z 01:46:45 role: standby -> active\n")
    v = make(converged=False, new_active=None, timeline={"fault_at": 1e9 + 5})
    assert failover.await_convergence(lab, v, "gw1", True, 1000.0, 1001.0, lambda: True) == "gw2"  # type: ignore
    assert lab.since and set(lab.since) == {1e9 + 5}


def test_probe_window_without_probes_and_with_fractional_starts() -> None:
    assert failover.probe_window({}, {}) == (None, None)
    probes = {"a": NS(started_at=2000.12345), "b": NS(started_at=None)}
    assert failover.probe_window(probes, {"a": ProbeResult(1, 4.0)}) == (2000.12345, 2004.123)  # type: ignore


@pytest.mark.parametrize(("redistribute", "rri", "budget_ms"), [(True, True, 2500.0), (False, True, 850.0),
                                                                (True, False, 850.0)])
def test_an_inside_following_rri_by_ospf_waits_for_the_stale_route_in_words(redistribute: bool, rri: bool,
                                                                          budget_ms: float) -> None:
    lab = topo("stateful")
    lab.ha.ospf, lab.ha.rri = NS(redistribute_rri=redistribute, timers=NS(dead=1000)), rri
    derived = "stateful: HSRP hold 700 ms + takeover allowance 150 ms"
    if budget_ms > 850:
        derived = ("stateful: the later of (HSRP hold 700 ms + takeover allowance 150 ms) and (OSPF dead interval "
                   "1000 ms + FRR's external-route recalculation 1000 ms: the dead Active's route) + reroute "
                   "allowance 500 ms (the inside follows RRI by OSPF)")
    assert budget.outage_budget(lab) == {"max_outage_ms": budget_ms, "derived_from": derived}


@pytest.mark.parametrize(("lab", "budget_ms"), [
    (topo("stateful"), 850.0),
    (topo("stateful", ike_version=1), 1150.0),  # IKEv1: the post-takeover Quick Mode rekey
    (topo("stateful", easyvpn_dpd=9000), 1150.0),  # Easy VPN clients rekey by Quick Mode too
])
def test_an_ikev1_takeover_adds_the_quick_mode_rekey_in_words(lab: Any, budget_ms: float) -> None:
    derived = "stateful: HSRP hold 700 ms + takeover allowance 150 ms"
    if budget_ms > 850:
        derived += " + IKEv1 Quick Mode rekey allowance 300 ms"
    assert budget.outage_budget(lab) == {"max_outage_ms": budget_ms, "derived_from": derived}

"""The sidecar's SSO/role policy on a fake clock: commands out for role, SA, peer and charon inputs.

No sockets, no charon, no Docker: every input carries its `now`, every assertion is on the exact
commands returned and the states reached. The standby cases fixed in the past each have a test.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from labctl.sidecar import policy as p
from labctl.sidecar.config import (
    GroupSettings,
    HsrpSettings,
    ReplayInterval,
    RriSettings,
    SidecarConfig,
    SsoSettings,
)
from labctl.sidecar.contract import Redundancy
from labctl.sidecar.hsrp import fsm
from labctl.sidecar.hsrp.packet import State
from labctl.sidecar.policy import (
    ActivateSegment,
    AwaitVip,
    DeactivateSegment,
    Event,
    HandOverRoutes,
    InjectRoutes,
    JoinHsrp,
    LeaveHsrp,
    ReloadCharon,
    RestartCharon,
    ResyncSegment,
    SendReport,
    SsoPolicy,
    SyncRoutes,
    WithdrawRoutes,
)

VIP = "198.51.100.3"
ROUTES = ("10.2.0.0/24",)
RESYNC_EVENT = Event("ha", "segment 1 resync: CHILD_SAs rekeyed for ESP sequence continuity")
RELOAD = [Event("charon", "reloading charon to resync from the active"), ReloadCharon()]


def config(*, ha_plugin: bool = True, sequence_continuity: str = "rekey", rri: bool = True,
           remote_peer: bool = False, routes: tuple[str, ...] = ROUTES) -> SidecarConfig:
    return SidecarConfig(
        lab="dual", node="gw1", redundancy="stateful", group_name="HA-out", priority=110,
        hsrp=HsrpSettings(version=2, hello_ms=200, hold_ms=700, preempt=True, preempt_delay_ms=0,
                          reload_delay_ms=0, auth="cisco"),
        groups=[GroupSettings(network="outside", group=1, virtual_ip=VIP, local_ip="198.51.100.11", prefixlen=24,
                              track={"inside": 150}, crypto=True),
                GroupSettings(network="inside", group=2, virtual_ip="10.1.0.1", local_ip="10.1.0.11", prefixlen=24,
                              track={"outside": 150}, crypto=False)],
        sso=SsoSettings(local_ip="10.9.0.11", peer_ip="10.9.0.12", key="labctl-sso-key"),
        ha_plugin=ha_plugin, sequence_continuity=sequence_continuity,
        replay_interval=ReplayInterval(inbound=1000, outbound=10000),
        rri=RriSettings(enabled=rri, routes=list(routes), remote_peer=remote_peer),
    )


def sa(ispi: str, rspi: str, *children: tuple[str, str], state: str = "PASSIVE", vips: tuple[str, ...] = (),
       child_state: str = "INSTALLED") -> dict[str, Any]:
    return {"initiator_spi": ispi, "responder_spi": rspi, "state": state, "remote_vips": list(vips),
            "child_sas": [{"spi_in": i, "spi_out": o, "state": child_state} for i, o in children]}


MINE = [sa("a1", "b1", ("c1", "d1"))]
ACTIVE_REPORT = {"node": "gw2", "state": "ACTIVE", "role": "active", "ike": ["a1_b1"], "child": ["c1_d1"],
                 "carrying": ["a1_b1"]}


def events(commands: list[p.Command]) -> list[tuple[str, str]]:
    return [(c.kind, c.detail) for c in commands if isinstance(c, Event)]


def non_events(commands: list[p.Command]) -> list[p.Command]:
    return [c for c in commands if not isinstance(c, Event | SendReport)]


def report(commands: list[p.Command]) -> dict[str, Any]:
    (send,) = [c for c in commands if isinstance(c, SendReport)]
    return send.report


def standby(cfg: SidecarConfig | None = None, now: float = 0.0) -> SsoPolicy:
    """A policy whose node just became standby (COLD: nothing synced, no report yet)."""
    pol = SsoPolicy(cfg or config())
    pol.on_role("standby", now, True)
    return pol


def hot(cfg: SidecarConfig | None = None, now: float = 0.0) -> SsoPolicy:
    pol = standby(cfg, now)
    pol.replay_ready = True  # the sidecar says so once a replay table is continued (replay-sync)
    pol.on_peer_report(ACTIVE_REPORT, now)
    pol.on_sas(MINE, now, True, pol.sas_generation)
    assert pol.redundancy is Redundancy.STANDBY_HOT
    return pol


def active(cfg: SidecarConfig | None = None, now: float = 0.0) -> SsoPolicy:
    pol = SsoPolicy(cfg or config())
    pol.on_role("active", now, True)
    return pol


def poll(pol: SsoPolicy, sas: list[dict[str, Any]], now: float, charon_running: bool = True) -> list[p.Command]:
    return pol.on_sas(sas, now, charon_running, pol.sas_generation)


# ---------------------------------------------------------------------------------------------- pure helpers
def test_sa_identities() -> None:
    sas = [sa("a1", "b1", ("c1", "d1")), sa("a2", "b2", ("c2", "d2"), child_state="REKEYED"), sa("a3", "b3")]
    ike, child = p.sa_keys(sas)
    assert ike == {"a1_b1", "a2_b2", "a3_b3"}
    assert child == {"c1_d1"}  # a REKEYED CHILD_SA (IKEv1 keeps it until it expires) is not needed
    assert p.carrying_keys(sas) == {"a1_b1"}
    no_state = [{"initiator_spi": "x", "responder_spi": "y", "child_sas": [{"spi_in": "i", "spi_out": "o"}]}]
    assert p.carrying_keys(no_state) == {"x_y"} and p.sa_keys(no_state)[1] == {"i_o"}  # no state: installed
    assert p.sa_keys(iter(sas))[0] == ike  # any iterable, consumed once


def test_duplicated_means_same_spi_pair_twice() -> None:
    assert not p.duplicated([sa("a1", "b1"), sa("a1", "b2"), sa("a2", "b1")])
    assert p.duplicated([sa("a1", "b1"), sa("a2", "b2"), sa("a1", "b1", ("c", "d"))])
    assert not p.duplicated([])


def test_client_routes() -> None:
    sas = [sa("a", "b", state="ESTABLISHED", vips=("10.33.0.2/32", "fd00::2/128")),
           sa("c", "d", state="PASSIVE", vips=("10.33.0.1",)), sa("e", "f", state="CONNECTING", vips=("10.33.0.9",))]
    assert p.client_routes(sas) == ["10.33.0.2"]  # IPv6 virtual IPs get no route
    assert p.client_routes(sas, ("ESTABLISHED", "PASSIVE")) == ["10.33.0.1", "10.33.0.2"]
    assert p.client_routes([{"state": "ESTABLISHED"}]) == []


def test_hot_needs_every_peer_ike_sa_and_a_child_wherever_the_peer_has_one() -> None:
    report = {"state": "ACTIVE", "ike": ["a1_b1", "a2_b2"], "carrying": ["a1_b1"]}
    both = [sa("a1", "b1", ("c9", "d9")), sa("a2", "b2")]
    assert p.derive_state("standby", True, True, both, report) is Redundancy.STANDBY_HOT
    assert p.derive_state("standby", True, True, both[:1], report) is Redundancy.STANDBY_COLD  # an IKE SA missing
    bare = [sa("a1", "b1"), sa("a2", "b2")]
    assert p.derive_state("standby", True, True, bare, report) is Redundancy.STANDBY_COLD  # a CHILD_SA missing
    # an older report without `carrying` asks for a child on every IKE SA
    assert p.derive_state("standby", True, True, both, {"state": "ACTIVE", "ike": ["a1_b1", "a2_b2"]}) \
        is Redundancy.STANDBY_COLD
    assert p.derive_state("standby", True, True, both[:1], {"state": "ACTIVE", "ike": ["a1_b1"]}) \
        is Redundancy.STANDBY_HOT
    assert p.derive_state("standby", True, True, [], {"state": "ACTIVE"}) is Redundancy.STANDBY_HOT  # nothing to hold
    assert p.derive_state("standby", True, True, both, {**report, "state": "STANDBY HOT"}) is Redundancy.STANDBY_COLD
    assert p.derive_state("standby", False, True, both, report) is Redundancy.STANDBY_COLD
    assert p.derive_state("standby", True, False, both, report) is Redundancy.INITIALIZATION
    assert p.derive_state("transition", True, True, both, report) is Redundancy.INITIALIZATION
    assert p.derive_state("active", True, False, [], None) is Redundancy.ACTIVE


def test_a_cold_standby_says_what_it_lacks() -> None:
    report = {"state": "ACTIVE", "ike": ["a1_b1", "a2_b2"], "carrying": ["a1_b1"]}
    both = [sa("a1", "b1", ("c9", "d9")), sa("a2", "b2")]
    assert p.cold_reason(True, both, report) == ""
    assert p.cold_reason(True, both[1:], report) == "1 of 2 IKE SAs of the Active not synced here"
    assert p.cold_reason(True, [], report) == "2 of 2 IKE SAs of the Active not synced here"
    assert p.cold_reason(True, [sa("a1", "b1"), sa("a2", "b2")], report) == \
        "1 IKE SAs without the CHILD_SA the Active has"
    assert p.cold_reason(True, both, None) == "no fresh SSO report from the Active"
    assert p.cold_reason(True, both, {**report, "state": "STANDBY HOT"}) == \
        "the peer reports STANDBY HOT, not ACTIVE"
    assert p.cold_reason(False, both, report) == "stateless: nothing is synced"
    # an older report without `carrying` asks for a child on every IKE SA; one without `ike` holds nothing
    assert p.cold_reason(True, both, {"state": "ACTIVE", "ike": ["a1_b1", "a2_b2"]}) == \
        "1 IKE SAs without the CHILD_SA the Active has"
    assert p.cold_reason(True, both[:1], {"state": "ACTIVE", "ike": ["a1_b1"]}) == ""
    assert p.cold_reason(True, [], {"state": "ACTIVE"}) == ""
    assert p.cold_reason(True, [], {"state": "ACTIVE", "carrying": ["a1_b1"]}) == \
        "1 IKE SAs without the CHILD_SA the Active has"


@pytest.mark.parametrize(("ha_plugin", "hold_ms", "grace"), [
    (True, 300, 0.9),  # msec timers: 1.5 s - 2 x 300 ms
    (True, 100, 1.3),
    (True, 700, 0.1),  # shipped 200/700: the election (1.4 s) covers nearly all of it
    (True, 750, 0.0),
    (True, 10_000, 0.0),
    (False, 300, 0.0),  # no ha plugin, no startup resync to wait for
])
def test_startup_resync_grace(ha_plugin: bool, hold_ms: int, grace: float) -> None:
    assert p.startup_grace(ha_plugin, hold_ms) == pytest.approx(grace, abs=1e-9)
    assert p.startup_grace(ha_plugin, hold_ms, restarted=False, hello_ms=200) == pytest.approx(grace, abs=1e-9)
    assert p.HA_STARTUP_RESYNC_GRACE == 1.5
    assert p.startup_grace(True, 700, restarted=True) == pytest.approx(0.7, abs=1e-9)  # no hello given: hold alone


@pytest.mark.parametrize(("ha_plugin", "hold_ms", "hello_ms", "grace"), [
    (True, 700, 200, 0.9),  # shipped: the peer's active timer (hold) has expired, plus a hello
    (True, 300, 100, 0.9),  # msec timers: the resync grace is the longer
    (True, 10_000, 3000, 13.0),  # IOS timers
    (False, 300, 100, 0.4),  # without the ha plugin too: the node's charon restarted empty
])
def test_a_restarted_sidecar_stays_silent_until_the_peer_took_over(ha_plugin: bool, hold_ms: int, hello_ms: int,
                                                                   grace: float) -> None:
    assert p.startup_grace(ha_plugin, hold_ms, restarted=True, hello_ms=hello_ms) == pytest.approx(grace, abs=1e-9)


def test_timing_constants() -> None:
    """The timers the container tests were tuned with; changing one is a behaviour change."""
    assert (p.SA_POLL, p.PEER_FRESH, p.COLD_GRACE, p.BULK_RESYNC_BACKOFF) == (0.4, 2.0, 6.0, 15.0)


def test_hsrp_config_carries_the_configured_group() -> None:
    cfg = config()
    got = p.hsrp_config(cfg, cfg.groups[1])
    assert got == fsm.GroupConfig(group=2, name="HA-out", virtual_ip="10.1.0.1", priority=110, preempt=True,
                                  preempt_delay_ms=0, hello_ms=200, hold_ms=700, auth="cisco", version=2,
                                  track={"outside": 150}, reload_delay_ms=0)
    md5 = dataclasses.replace(cfg, hsrp=dataclasses.replace(cfg.hsrp, auth_md5_key="k3y", minimum_delay_ms=50,
                                                            preempt_delay_ms=5, reload_delay_ms=7, version=1))
    got = p.hsrp_config(md5, md5.groups[0])
    assert (got.auth_md5_key, got.minimum_delay_ms, got.preempt_delay_ms, got.reload_delay_ms, got.version) == \
        ("k3y", 50, 5, 7, 1)


def test_hsrp_events_are_the_lines_readers_parse() -> None:
    assert p.hsrp_events(fsm.ClaimVip("10.1.0.1", ifname="eth1")) == \
        [Event("vip", "claiming 10.1.0.1 on eth1 (+ gratuitous ARP)")]
    assert p.hsrp_events(fsm.ReleaseVip("10.1.0.1", ifname="eth1")) == [Event("vip", "releasing 10.1.0.1 on eth1")]
    changed = fsm.StateChanged(group=1, old=State.STANDBY, new=State.ACTIVE, reason="active timer expired",
                               ifname="eth0")
    assert p.hsrp_events(changed) == [Event("hsrp", "eth0 Grp 1 state Standby -> Active (active timer expired)")]
    assert p.hsrp_events(fsm.Action()) == []


def test_ha_commands_are_the_fifo_strings() -> None:
    assert (ActivateSegment().fifo, DeactivateSegment().fifo, ResyncSegment().fifo) == ("+1", "-1", "*1")
    assert ActivateSegment(segment=2).fifo == "+2"


def test_commands_compare_by_value_and_hash() -> None:
    """Executors and tests may collect commands in sets; a report's dict does not make it unhashable."""
    commands = {SendReport({"node": "gw1"}), SendReport({"node": "gw1"}), Event("ha", "x"), Event("ha", "x"),
                ReloadCharon(), AwaitVip(VIP), SyncRoutes(ROUTES), SyncRoutes(ROUTES, takeover=True)}
    assert len(commands) == 6
    assert SendReport({"node": "gw1"}) != SendReport({"node": "gw2"})


# ---------------------------------------------------------------------------------------------- start, stop
def test_start_and_shutdown() -> None:
    assert SsoPolicy(config()).on_start() == [Event("charon", "started (ha plugin on)"), WithdrawRoutes()]
    assert SsoPolicy(config(ha_plugin=False)).on_start()[0] == Event("charon", "started (ha plugin off)")
    assert SsoPolicy(config()).on_shutdown() == [Event("sidecar", "shutting down: resigning")]


def test_initial_state() -> None:
    pol = SsoPolicy(config())
    assert (pol.role, pol.redundancy, pol.rri_routes) == ("init", Redundancy.INITIALIZATION, [])
    assert pol.reloading is False and pol.dedup_done is False and pol.sas_generation == 0
    assert (pol.cold_since, pol.last_bulk_resync, pol.peer_report, pol.sas) == (None, None, None, [])
    assert pol.fresh_peer(1e9) is None and pol.peer_age(5.0) is None
    assert not pol.preempt_allowed()


# ---------------------------------------------------------------------------------------------- role changes
def test_same_role_does_nothing() -> None:
    pol = standby()
    assert pol.on_role("standby", 1.0, True) == []


def test_becoming_standby_reports_cold() -> None:
    pol = SsoPolicy(config())
    out = pol.on_role("standby", 0.0, True)
    assert out == [Event("role", "init -> standby"),
                   Event("redundancy", "my state INITIALIZATION -> STANDBY COLD"),
                   SendReport({"node": "gw1", "state": "STANDBY COLD", "role": "standby", "ike": [], "child": [],
                               "carrying": []})]
    assert pol.redundancy is Redundancy.STANDBY_COLD


def test_role_change_with_charon_down_is_initialization() -> None:
    pol = SsoPolicy(config())
    assert report(pol.on_role("standby", 0.0, False))["state"] == "INITIALIZATION"
    assert pol.redundancy is Redundancy.INITIALIZATION


def test_takeover_activates_segment_waits_for_vip_injects_routes_then_rekeys() -> None:
    pol = hot()
    out = pol.on_role("active", 1.0, True)
    assert out == [Event("role", "standby -> active"), Event("redundancy", "my state STANDBY HOT -> ACTIVE"),
                   SendReport({"node": "gw1", "state": "ACTIVE", "role": "active", "ike": ["a1_b1"],
                               "child": ["c1_d1"], "carrying": ["a1_b1"]}),
                   ActivateSegment(), Event("ha", "segment 1 activated"), AwaitVip(VIP)]
    assert pol.vip_ready() == [InjectRoutes(ROUTES)]
    assert pol.routes_installed(InjectRoutes(ROUTES), ["10.2.0.0/24"]) == \
        [Event("rri", "injected 10.2.0.0/24"), ResyncSegment(), RESYNC_EVENT]
    assert pol.rri_routes == ["10.2.0.0/24"]
    assert not pol.reloading


def test_replay_sync_continues_the_sas_before_the_segment_and_never_rekeys() -> None:
    pol = hot(config(sequence_continuity="replay-sync"))
    out = non_events(pol.on_role("active", 1.0, True))
    # the synced sequence state first: from ActivateSegment on, charon owns the SAs and ESP flows
    assert out == [p.ContinueReplayState(), ActivateSegment(), AwaitVip(VIP)]
    assert pol.vip_ready() == [InjectRoutes(ROUTES)]
    assert pol.routes_installed(InjectRoutes(ROUTES), list(ROUTES)) == [Event("rri", "injected 10.2.0.0/24")]
    pol = active(config(sequence_continuity="replay-sync", rri=False))
    assert pol.vip_ready() == []


@pytest.mark.parametrize("mode", ["rekey", "off"])
def test_no_replay_state_without_replay_sync(mode: str) -> None:
    pol = hot(config(sequence_continuity=mode))
    assert p.ContinueReplayState() not in pol.on_role("active", 1.0, True)


def test_replay_sync_needs_the_ha_plugin() -> None:
    cfg = config(sequence_continuity="replay-sync", ha_plugin=False)
    assert not cfg.replay_sync
    assert p.ContinueReplayState() not in SsoPolicy(cfg).on_role("active", 1.0, True)


def test_takeover_reports_missing_routes() -> None:
    pol = active()
    assert pol.routes_installed(InjectRoutes(ROUTES), []) == \
        [Event("rri", "injected nothing (tunnel device missing?)"), ResyncSegment(), RESYNC_EVENT]
    assert pol.rri_routes == []


def test_resync_only_with_sequence_continuity_and_the_ha_plugin() -> None:
    pol = active(config(sequence_continuity="off"))
    assert pol.routes_installed(InjectRoutes(ROUTES), list(ROUTES)) == [Event("rri", "injected 10.2.0.0/24")]
    pol = active(config(ha_plugin=False))
    assert pol.routes_installed(InjectRoutes(ROUTES), list(ROUTES)) == [Event("rri", "injected 10.2.0.0/24")]
    pol = active(config(rri=False))
    assert pol.vip_ready() == [ResyncSegment(), RESYNC_EVENT]
    pol = active(config(rri=False, sequence_continuity="off"))
    assert pol.vip_ready() == []


def test_takeover_without_ha_plugin_claims_no_segment() -> None:
    pol = SsoPolicy(config(ha_plugin=False))
    assert non_events(pol.on_role("active", 0.0, True)) == [AwaitVip(VIP)]


def test_takeover_abandoned_when_active_was_lost_during_the_vip_wait() -> None:
    pol = active()
    pol.on_role("transition", 1.0, True)
    assert pol.vip_ready() == []


def test_takeover_with_remote_peer_adds_a_route_per_synced_client() -> None:
    pol = standby(config(remote_peer=True, routes=()))
    poll(pol, [sa("a", "b", ("c", "d"), vips=("10.33.0.1/32",)), sa("e", "f", state="ESTABLISHED", vips=("10.33.0.2",)),
               sa("g", "h", state="CONNECTING", vips=("10.33.0.3",))], 0.1)
    pol.on_role("active", 1.0, True)
    assert pol.vip_ready() == [InjectRoutes(())]
    follow = pol.routes_installed(InjectRoutes(()), [])
    assert follow == [SyncRoutes(("10.33.0.1", "10.33.0.2"), takeover=True)]
    assert pol.routes_installed(follow[0], ["10.33.0.1", "10.33.0.2"]) == \
        [Event("rri", "injected 10.33.0.1, 10.33.0.2"), ResyncSegment(), RESYNC_EVENT]
    assert pol.rri_routes == ["10.33.0.1", "10.33.0.2"]


def test_leaving_active_withdraws_routes_deactivates_and_reloads_charon() -> None:
    pol = active()
    pol.routes_installed(InjectRoutes(ROUTES), ["10.2.0.0/24", "10.3.0.0/24"])
    out = pol.on_role("transition", 2.0, True)
    assert out == [Event("role", "active -> transition"), Event("redundancy", "my state ACTIVE -> INITIALIZATION"),
                   SendReport({"node": "gw1", "state": "INITIALIZATION", "role": "transition", "ike": [], "child": [],
                               "carrying": []}),
                   HandOverRoutes(("10.2.0.0/24", "10.3.0.0/24")), WithdrawRoutes(), DeactivateSegment(),
                   Event("ha", "segment 1 deactivated"), *RELOAD]
    assert pol.reloading
    assert pol.routes_withdrawn() == [Event("rri", "withdrew 10.2.0.0/24, 10.3.0.0/24")]
    assert pol.rri_routes == [] and pol.routes_withdrawn() == []
    gen = pol.sas_generation
    pol.forget_sas()
    pol.reload_finished()
    assert pol.reloading is False and pol.sas_generation == gen + 1


def test_leaving_active_without_ha_plugin_only_withdraws() -> None:
    pol = active(config(ha_plugin=False))
    assert non_events(pol.on_role("standby", 1.0, True)) == [WithdrawRoutes()]
    assert not pol.reloading


def test_routes_are_handed_over_only_when_there_are_rri_routes_to_hand_over() -> None:
    pol = active(config(ha_plugin=False))
    pol.routes_installed(InjectRoutes(ROUTES), ["10.2.0.0/24"])
    assert non_events(pol.on_role("standby", 1.0, True)) == [HandOverRoutes(("10.2.0.0/24",)), WithdrawRoutes()]
    off = active(config(ha_plugin=False, rri=False))
    off.rri_routes = ["10.2.0.0/24"]  # RRI disabled: nothing of ours to hand over, whatever is listed
    assert non_events(off.on_role("standby", 1.0, True)) == [WithdrawRoutes()]


def test_changes_between_non_active_roles_touch_nothing() -> None:
    pol = standby()
    assert non_events(pol.on_role("transition", 1.0, True)) == []
    assert non_events(pol.on_role("standby", 2.0, True)) == []
    assert not pol.reloading


# ---------------------------------------------------------------------------------------------- HOT and preempt
def test_hot_from_a_fresh_active_report_and_every_sa() -> None:
    pol = standby()
    assert events(poll(pol, MINE, 0.5)) == []  # no report yet: COLD stays
    pol.on_peer_report(ACTIVE_REPORT, 1.0)
    out = poll(pol, MINE, 1.2)
    assert events(out) == [("redundancy", "my state STANDBY COLD -> STANDBY HOT")]
    assert report(out) == {"node": "gw1", "state": "STANDBY HOT", "role": "standby", "ike": ["a1_b1"],
                           "child": ["c1_d1"], "carrying": ["a1_b1"]}
    assert events(poll(pol, MINE, 2.99)) == []  # still fresh: no event, the report is sent every poll
    assert events(poll(pol, MINE, 3.0)) == [("redundancy", "my state STANDBY HOT -> STANDBY COLD")]  # stale


def test_peer_report_freshness_and_age() -> None:
    pol = standby()
    pol.on_peer_report(ACTIVE_REPORT, 10.0)
    assert pol.fresh_peer(10.0) == ACTIVE_REPORT and pol.fresh_peer(11.999) == ACTIVE_REPORT
    assert pol.fresh_peer(12.0) is None
    assert pol.peer_age(12.3456) == 2.346


def test_sas_in_other_states_do_not_count() -> None:
    pol = standby()
    pol.on_peer_report(ACTIVE_REPORT, 0.0)
    poll(pol, [sa("a1", "b1", ("c1", "d1"), state="CONNECTING")], 0.1)
    assert pol.redundancy is Redundancy.STANDBY_COLD and pol.sas == []
    poll(pol, [sa("a1", "b1", ("c1", "d1"), state="ESTABLISHED")], 0.2)
    assert pol.redundancy is Redundancy.STANDBY_HOT


def test_no_hot_from_a_restarted_charons_previous_sas() -> None:
    pol = hot()
    asked = pol.sas_generation
    pol.forget_sas()  # charon reloaded while swanctl was answering
    assert pol.sas == []
    assert pol.on_sas(MINE, 0.5, True, asked) == []  # the answer describes the old charon
    assert pol.sas == []
    assert events(pol.on_sas([], 0.6, True, pol.sas_generation)) == \
        [("redundancy", "my state STANDBY HOT -> STANDBY COLD")]


def test_charon_down_is_initialization() -> None:
    pol = hot()
    assert events(poll(pol, MINE, 0.5, charon_running=False)) == \
        [("redundancy", "my state STANDBY HOT -> INITIALIZATION")]


def test_preempt_only_once_standby_hot_with_the_ha_plugin() -> None:
    pol = standby()
    assert not pol.preempt_allowed()  # COLD
    pol.on_peer_report(ACTIVE_REPORT, 0.0)
    poll(pol, MINE, 0.1)
    assert pol.preempt_allowed()  # HOT
    poll(pol, MINE, 2.5)  # the report went stale: COLD again
    assert not pol.preempt_allowed()


def test_preempt_always_allowed_without_the_ha_plugin() -> None:
    pol = SsoPolicy(config(ha_plugin=False))
    assert pol.preempt_allowed()
    pol.on_role("standby", 0.0, True)
    assert pol.redundancy is Redundancy.STANDBY_COLD and pol.preempt_allowed()


# ---------------------------------------------------------------------------------------------- bulk resync
def test_cold_standby_is_resynced_after_the_grace_even_without_any_sso_report() -> None:
    pol = standby()
    assert non_events(poll(pol, [], 100.0)) == []  # COLD since 100
    assert non_events(poll(pol, [], 106.0)) == []  # exactly the grace: not yet
    out = poll(pol, [], 106.01)
    assert out[-3:] == [Event("sso", "bulk resync: STANDBY COLD for over 6s"), *RELOAD]
    assert pol.reloading and pol.last_bulk_resync == 106.01 and pol.cold_since is None
    assert not pol.dedup_done


def test_a_standby_whose_active_went_silent_keeps_its_state() -> None:
    """The Active is killed: its SSO reports stop, HSRP times it out only after the hold (10 s at IOS
    timers). Meanwhile the standby is COLD (no fresh report) but must not reload charon: the synced SAs
    are what the takeover needs. Once the Active reports again, a lasting COLD is resynced as before."""
    pol = standby()
    pol.on_peer_report(ACTIVE_REPORT, 0.0)
    poll(pol, MINE, 0.0)
    assert pol.redundancy is Redundancy.STANDBY_HOT
    for t in (2.5, 5.0, 8.6, 9.9):  # COLD from 2.5 (report stale), the grace long over at 8.6
        assert non_events(poll(pol, MINE, t)) == []
    assert pol.redundancy is Redundancy.STANDBY_COLD and not pol.reloading
    lacking = {**ACTIVE_REPORT, "ike": ["zz_yy"]}  # alive again, with an SA we lack: the grace starts now
    for t in (10.0, 13.0, 16.0):
        pol.on_peer_report(lacking, t)
        assert non_events(poll(pol, MINE, t)) == []
    pol.on_peer_report(lacking, 16.01)
    assert ReloadCharon() in poll(pol, MINE, 16.01)


def test_bulk_resyncs_back_off() -> None:
    pol = standby()
    poll(pol, [], 0.0)
    assert ReloadCharon() in poll(pol, [], 6.5)
    pol.reload_finished()
    assert non_events(poll(pol, [], 10.0)) == []
    assert non_events(poll(pol, [], 21.25)) == []  # 14.75 s after: still backing off, COLD not even timed
    assert pol.cold_since is None
    assert non_events(poll(pol, [], 21.5)) == []  # exactly the backoff later: over, the grace starts now
    assert pol.cold_since == 21.5
    assert non_events(poll(pol, [], 27.5)) == []
    assert ReloadCharon() in poll(pol, [], 27.75)
    assert pol.last_bulk_resync == 27.75


def test_a_hot_spell_restarts_the_cold_grace() -> None:
    pol = standby()
    poll(pol, [], 0.0)
    pol.on_peer_report(ACTIVE_REPORT, 3.0)
    poll(pol, MINE, 3.0)  # HOT
    assert pol.cold_since is None
    for t in (5.0, 10.0, 11.0):  # COLD again (the SA went), the Active reporting all along
        pol.on_peer_report(ACTIVE_REPORT, t)
        assert non_events(poll(pol, [], t)) == []  # at 10: 10 s after the first COLD, 5 s after this one
    pol.on_peer_report(ACTIVE_REPORT, 11.01)
    assert ReloadCharon() in poll(pol, [], 11.01)


def test_no_bulk_resync_unless_standby_with_the_ha_plugin_and_not_reloading() -> None:
    stateless = standby(config(ha_plugin=False))
    for t in (0.0, 7.0, 30.0, 60.0):
        assert non_events(poll(stateless, [], t)) == []
    pol = standby()
    poll(pol, [], 0.0)
    pol.on_role("transition", 1.0, True)
    poll(pol, [], 1.0)  # not standby: the COLD timer stops
    assert pol.cold_since is None
    pol.on_role("standby", 4.0, True)
    assert non_events(poll(pol, [], 7.0)) == []  # grace starts again at 7
    assert non_events(poll(pol, [], 13.0)) == []
    assert ReloadCharon() in poll(pol, [], 13.01)


def test_no_bulk_resync_while_charon_reloads() -> None:
    pol = active()
    pol.on_role("standby", 1.0, True)  # leaving Active: reload running
    assert pol.reloading
    for t in (1.0, 8.0, 20.0):
        assert non_events(poll(pol, [], t)) == []
    assert pol.cold_since is None
    pol.reload_finished()
    poll(pol, [], 21.0)
    assert ReloadCharon() in poll(pol, [], 27.01)


def test_duplicate_synced_sas_are_resynced_once_per_standby_period() -> None:
    twins = [sa("a1", "b1", ("c1", "d1")), sa("a1", "b1", ("c0", "d0"))]
    pol = standby()
    pol.on_peer_report(ACTIVE_REPORT, 0.0)
    out = poll(pol, twins, 0.1)
    assert pol.redundancy is Redundancy.STANDBY_COLD  # not HOT with copies a takeover would activate twice
    assert pol.cold_why == "duplicate synced IKE SAs (a bulk resync clears them)"
    assert events(out) == [("sso", "bulk resync: duplicate synced IKE_SAs"),
                           ("charon", "reloading charon to resync from the active")]
    assert report(out)["state"] == "STANDBY COLD"
    assert pol.dedup_done and pol.reloading
    pol.reload_finished()
    for t in (1.0, 16.0, 40.0):  # the copies came back: accepted for this standby period
        pol.on_peer_report(ACTIVE_REPORT, t)
        assert non_events(poll(pol, twins, t)) == []
        assert pol.redundancy is Redundancy.STANDBY_HOT
    # a COLD that lasts is still resynced, and does not re-arm the duplicate check
    pol.on_peer_report({**ACTIVE_REPORT, "ike": ["zz_yy"]}, 41.0)
    poll(pol, twins, 41.0)
    pol.on_peer_report({**ACTIVE_REPORT, "ike": ["zz_yy"]}, 47.0)
    assert events(poll(pol, twins, 47.01))[-2][1] == "bulk resync: STANDBY COLD for over 6s"
    assert pol.dedup_done
    pol.reload_finished()
    # a new standby period (Active in between) may resync duplicates again
    pol.on_role("active", 70.0, True)
    poll(pol, twins, 70.1)
    assert not pol.dedup_done
    pol.on_role("standby", 71.0, True)
    pol.reload_finished()
    pol.on_peer_report(ACTIVE_REPORT, 72.0)
    assert ("sso", "bulk resync: duplicate synced IKE_SAs") in events(poll(pol, twins, 72.0))


def test_duplicate_resync_waits_for_the_backoff() -> None:
    twins = [sa("a1", "b1", ("c1", "d1")), sa("a1", "b1", ("c1", "d1"))]
    pol = standby()
    poll(pol, [], 0.0)
    assert ReloadCharon() in poll(pol, [], 6.01)  # a COLD resync first
    pol.reload_finished()
    pol.on_peer_report(ACTIVE_REPORT, 10.0)
    assert non_events(poll(pol, twins, 10.0)) == []  # duplicates, but the last resync was 4 s ago
    assert pol.redundancy is Redundancy.STANDBY_COLD and not pol.dedup_done
    pol.on_peer_report(ACTIVE_REPORT, 21.01)
    assert ReloadCharon() in poll(pol, twins, 21.01)
    assert pol.dedup_done


# ---------------------------------------------------------------------------------------------- charon supervision
def test_dead_charon_takes_the_node_out_of_hsrp_and_back() -> None:
    pol = active()
    assert pol.on_tick(1.0, True) == []
    assert pol.on_tick(1.0, False) == [Event("charon", "charon is not running: leaving HSRP, restarting charon"),
                                       LeaveHsrp(), WithdrawRoutes(), RestartCharon(), JoinHsrp()]
    pol.on_role("transition", 1.0, False)  # LeaveHsrp: the reload charon gets on leaving Active
    assert pol.on_tick(1.1, False) == []  # a charon we are reloading is not dead


# ---------------------------------------------------------------------------------------------- RRI remote-peer
def test_remote_peer_routes_follow_client_sas_on_the_active_only() -> None:
    cfg = config(remote_peer=True)
    pol = active(cfg)
    pol.routes_installed(SyncRoutes(ROUTES, takeover=True), list(ROUTES))
    alice = sa("a", "b", state="ESTABLISHED", vips=("10.33.0.2/32",))
    bob = sa("c", "d", state="ESTABLISHED", vips=("10.33.0.3",))
    assert non_events(poll(pol, [alice, sa("e", "f", vips=("10.33.0.9",))], 1.0)) == \
        [SyncRoutes(("10.2.0.0/24", "10.33.0.2"))]  # PASSIVE SAs are not ours to route
    assert pol.routes_installed(SyncRoutes(("10.2.0.0/24", "10.33.0.2")), ["10.2.0.0/24", "10.33.0.2"]) == \
        [Event("rri", "remote-peer routes +10.33.0.2")]
    assert non_events(poll(pol, [alice], 1.4)) == []  # nothing changed
    assert non_events(poll(pol, [bob], 1.8)) == [SyncRoutes(("10.2.0.0/24", "10.33.0.3"))]
    assert pol.routes_installed(SyncRoutes(("10.2.0.0/24", "10.33.0.3")), ["10.2.0.0/24", "10.33.0.3"]) == \
        [Event("rri", "remote-peer routes +10.33.0.3 -10.33.0.2")]
    both = ["10.2.0.0/24", "10.33.0.2", "10.33.0.3", "10.33.0.4"]
    assert pol.routes_installed(SyncRoutes(tuple(both)), both) == \
        [Event("rri", "remote-peer routes +10.33.0.2, +10.33.0.4")]
    assert pol.routes_installed(SyncRoutes(ROUTES), list(ROUTES)) == \
        [Event("rri", "remote-peer routes -10.33.0.2, -10.33.0.3, -10.33.0.4")]
    assert pol.routes_installed(SyncRoutes(ROUTES), list(ROUTES)) == []  # the same routes: no event
    assert pol.rri_routes == list(ROUTES)


def test_remote_peer_routes_not_followed_off_active_or_when_disabled() -> None:
    alice = sa("a", "b", state="ESTABLISHED", vips=("10.33.0.2",))
    for pol in (standby(config(remote_peer=True)), active(config(remote_peer=False)),
                active(config(remote_peer=True, rri=False))):
        assert [c for c in non_events(poll(pol, [alice], 1.0)) if isinstance(c, SyncRoutes)] == []


def test_remote_peer_routes_written_after_losing_active_are_withdrawn_again() -> None:
    pol = active(config(remote_peer=True))
    pol.routes_installed(SyncRoutes(ROUTES, takeover=True), list(ROUTES))
    (sync,) = non_events(poll(pol, [sa("a", "b", state="ESTABLISHED", vips=("10.33.0.2",))], 1.0))
    pol.on_role("transition", 1.1, True)
    assert pol.routes_withdrawn() == [Event("rri", "withdrew 10.2.0.0/24")]
    assert pol.routes_installed(sync, ["10.2.0.0/24", "10.33.0.2"]) == [WithdrawRoutes()]
    assert pol.rri_routes == []


def test_replay_sync_standby_is_not_hot_until_the_replay_table_is_continued() -> None:
    """A standby holding every SA but not yet the Active's ESP sequence state would restart the SAs at
    sequence number 1 if it took over (or preempted): COLD, so HSRP does not preempt, until the sidecar
    reports the table continued; a charon restart takes that back."""
    cfg = config(sequence_continuity="replay-sync")
    pol = standby(cfg)
    assert pol.replay_ready is False
    pol.on_peer_report(ACTIVE_REPORT, 0.0)
    pol.on_sas(MINE, 0.0, True, pol.sas_generation)
    assert pol.redundancy is Redundancy.STANDBY_COLD and not pol.preempt_allowed()
    assert pol.cold_why == "ESP replay state of the Active not continued here yet"
    pol.replay_ready = True
    pol.on_sas(MINE, 0.5, True, pol.sas_generation)
    assert pol.redundancy is Redundancy.STANDBY_HOT and pol.preempt_allowed() and pol.cold_why == ""
    pol.on_sas([], 0.6, True, pol.sas_generation)
    assert pol.cold_why == "1 of 1 IKE SAs of the Active not synced here"
    pol.forget_sas()  # charon restarted
    assert pol.replay_ready is False
    pol.on_sas(MINE, 1.0, True, pol.sas_generation)
    assert pol.redundancy is Redundancy.STANDBY_COLD


def test_rekey_continuity_needs_no_replay_table_for_hot() -> None:
    pol = standby(config(sequence_continuity="rekey"))
    pol.forget_sas()
    pol.on_peer_report(ACTIVE_REPORT, 0.0)
    pol.on_sas(MINE, 0.0, True, pol.sas_generation)
    assert pol.redundancy is Redundancy.STANDBY_HOT


def test_takeover_routes_are_the_configured_ones_and_one_per_synced_client() -> None:
    """What the sidecar installs with the VIP claim: nothing without RRI, the configured routes, and with
    `remote-peer` one per live client SA (PASSIVE synced ones too, not one still connecting)."""
    assert SsoPolicy(config(rri=False)).takeover_routes() == ()
    assert standby(config()).takeover_routes() == ROUTES
    pol = standby(config(remote_peer=True))
    poll(pol, [sa("a", "b", ("c", "d"), vips=("10.33.0.1/32",)), sa("e", "f", state="ESTABLISHED", vips=("10.33.0.2",)),
               sa("g", "h", state="CONNECTING", vips=("10.33.0.3",))], 0.1)
    assert pol.takeover_routes() == (*ROUTES, "10.33.0.1", "10.33.0.2")


def test_a_takeover_abandoned_before_it_was_active_withdraws_its_claims_routes() -> None:
    """Seen under 10 % loss on the outside link: gw2's crypto group went Active for 25 ms (its claim put the RRI
    routes in), a Coup took it back; the node was never Active, so nothing withdrew them and the standby
    injected routes beside the Active."""
    pol = hot()
    pol.routes_claimed(pol.takeover_routes())  # the driver claims first, then reports the state change
    assert pol.rri_routes == list(ROUTES)
    assert non_events(pol.on_role("transition", 1.0, True)) == []
    out = pol.on_role("standby", 1.1, True)
    assert non_events(out) == [p.WithdrawRoutes()]
    assert Event(p.EVENT_RRI, "takeover abandoned before it completed: its claim's routes go") in out
    assert non_events(pol.routes_withdrawn()) == [] and pol.rri_routes == []
    assert non_events(pol.on_role("transition", 1.2, True)) == []  # nothing claimed: nothing to withdraw
    pol.routes_claimed(("10.9.0.0/16",))
    assert non_events(pol.on_role("init", 1.3, True)) == [p.WithdrawRoutes()]


def test_routes_a_claim_put_in_stay_while_the_takeover_goes_on_and_are_handed_over_when_active_ends() -> None:
    pol = hot()
    pol.routes_claimed(ROUTES)
    pol.on_role("transition", 1.0, True)
    pol.routes_claimed(ROUTES)  # a claim repeated (the VIP re-added): each route once
    assert pol.rri_routes == list(ROUTES)
    assert p.WithdrawRoutes() not in pol.on_role("active", 1.1, True)
    out = non_events(pol.on_role("standby", 2.0, True))
    assert out[:2] == [p.HandOverRoutes(ROUTES), p.WithdrawRoutes()]

"""SSO redundancy states and the authenticated sidecar channel (pure, no Docker)."""

from __future__ import annotations

import json

from labctl.sidecar.sso import Channel, Redundancy, carrying_keys, derive_state, sa_keys


def sa(ispi: str, rspi: str, *children: tuple[str, str], state: str = "PASSIVE") -> dict:
    return {"initiator_spi": ispi, "responder_spi": rspi, "state": state,
            "child_sas": [{"spi_in": i, "spi_out": o} for i, o in children]}


ACTIVE_SAS = [sa("a1", "b1", ("c1", "d1"), state="ESTABLISHED")]


def active_report(sas: list[dict]) -> dict:
    ike, child = sa_keys(sas)
    return {"state": "ACTIVE", "ike": sorted(ike), "child": sorted(child), "carrying": sorted(carrying_keys(sas))}


def test_roles_map_to_ios_states() -> None:
    assert derive_state("active", True, True, ACTIVE_SAS, None) is Redundancy.ACTIVE
    assert Redundancy.ACTIVE.number == 13 and Redundancy.STANDBY_HOT.number == 8
    assert derive_state("transition", True, True, [], None) is Redundancy.INITIALIZATION
    assert derive_state("standby", True, False, [], None) is Redundancy.INITIALIZATION  # charon down


def test_standby_is_hot_only_with_every_active_sa() -> None:
    report = active_report(ACTIVE_SAS)
    assert derive_state("standby", True, True, [sa("a1", "b1", ("c1", "d1"))], report) is Redundancy.STANDBY_HOT
    assert derive_state("standby", True, True, [sa("a1", "b1")], report) is Redundancy.STANDBY_COLD  # no child
    assert derive_state("standby", True, True, [], report) is Redundancy.STANDBY_COLD
    # stateless (no ha plugin) or no active peer heard: never HOT
    assert derive_state("standby", False, True, [sa("a1", "b1", ("c1", "d1"))], report) is Redundancy.STANDBY_COLD
    assert derive_state("standby", True, True, [sa("a1", "b1", ("c1", "d1"))], None) is Redundancy.STANDBY_COLD


def test_child_spis_need_not_match_but_a_child_must_exist() -> None:
    """The takeover rekeys every CHILD_SA, so a re-pushed stale copy or an older child is still HOT."""
    report = active_report(ACTIVE_SAS)
    doubled = [sa("a1", "b1", ("c1", "d1")), sa("a1", "b1", ("c0", "d0"))]
    assert derive_state("standby", True, True, doubled, report) is Redundancy.STANDBY_HOT
    assert derive_state("standby", True, True, [sa("a1", "b1", ("c0", "d0"))], report) is Redundancy.STANDBY_HOT
    extra = [sa("a1", "b1", ("c1", "d1")), sa("zz", "yy")]
    assert derive_state("standby", True, True, extra, report) is Redundancy.STANDBY_HOT


def test_channel_accepts_only_authentic_fresh_messages() -> None:
    key = b"labctl-sso-key"
    sender = Channel("10.9.0.11", "10.9.0.12", 4520, key)
    receiver = Channel("10.9.0.12", "10.9.0.11", 4520, key)
    data = sender.seal({"node": "gw1", "state": "ACTIVE"})
    assert receiver.open_message(data, "10.9.0.11")["state"] == "ACTIVE"
    assert receiver.open_message(data, "10.9.0.11") is None  # replayed
    forged_body = data.split(b"\n", 1)[1].replace(b"ACTIVE", b"STANDBY")
    assert receiver.open_message(data.split(b"\n", 1)[0] + b"\n" + forged_body, "10.9.0.11") is None
    wrong_key = Channel("10.9.0.11", "10.9.0.12", 4520, b"another-key").seal({"node": "gw1"})
    assert receiver.open_message(wrong_key, "10.9.0.11") is None
    assert receiver.open_message(sender.seal({"node": "gw1"}), "10.9.0.99") is None  # not the peer
    assert receiver.rejected == 4
    assert json.loads(sender.seal({"x": 1}).split(b"\n", 1)[1])["seq"] == 3

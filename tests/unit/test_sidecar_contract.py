"""The producer/reader contract: the sidecar's event line parses back, and the shared values stay put."""

from __future__ import annotations

import re
import time

import pytest

from labctl.sidecar import contract, rri, sso
from labctl.sidecar.contract import EventLine, Redundancy, format_event, parse_event


def test_event_line_round_trip() -> None:
    when = time.mktime((2026, 12, 2, 3, 4, 5, 0, 0, -1))
    line = format_event("role", "standby -> active", when)
    assert line == "03:04:05 role: standby -> active"
    assert parse_event(line) == EventLine("03:04:05", "role", "standby -> active")
    assert parse_event(line + "\n") == EventLine("03:04:05", "role", "standby -> active")
    detail = "eth0 Grp 1 state Standby -> Active (active timer expired: peer silent)"
    assert parse_event(format_event("hsrp", detail, when)).detail == detail  # colons in the detail stay


def test_format_event_defaults_to_now() -> None:
    now = time.time()
    clock = parse_event(format_event("sso", "x")).clock
    assert clock in {time.strftime("%H:%M:%S", time.localtime(now + d)) for d in (0, 1)}


@pytest.mark.parametrize("line", ["", "Traceback (most recent call last):", "03:04:05 role standby",
                                  "3:04:05 role: x", "03:04:05 Role: x", "x 03:04:05 role: x"])
def test_other_lines_are_not_events(line: str) -> None:
    assert parse_event(line) is None


def test_event_line_pattern_composes_with_a_docker_timestamp() -> None:
    docker = re.compile(rf"^(\S+)Z {contract.EVENT_LINE_PATTERN}$")
    match = docker.match("2026-12-02T03:04:05.123456789Z 03:04:05 redundancy: my state STANDBY COLD -> STANDBY HOT")
    assert match is not None and match.groups()[1:] == ("03:04:05", "redundancy",
                                                        "my state STANDBY COLD -> STANDBY HOT")


def test_event_kinds() -> None:
    assert set(contract.EVENT_TIMELINE_KINDS) <= set(contract.EVENT_KINDS)
    assert contract.EVENT_TIMELINE_KINDS == ("hsrp", "role", "redundancy", "ha")
    assert len(set(contract.EVENT_KINDS)) == len(contract.EVENT_KINDS) == 10
    assert all(contract.EVENT_LINE.match(f"00:00:00 {kind}: x") for kind in contract.EVENT_KINDS)


def test_shared_values() -> None:
    """Readers on the host depend on these; changing one changes what a running lab looks like."""
    assert contract.STATUS_PATH == "/run/labctl/sidecar-status.json"
    assert contract.CONFIG_PATH == "/etc/labctl/sidecar.json"
    assert contract.CHARON_LOG == "/var/log/charon.log"
    assert (contract.SSO_PORT, contract.RRI_PROTO, contract.TUNNEL_DEVICE) == (4520, "77", "ipsec0")
    assert (rri.RRI_PROTO, rri.TUNNEL_DEVICE, sso.SSO_PORT) == ("77", "ipsec0", 4520)  # older names still import
    assert (contract.ROLE_ACTIVE, contract.ROLE_STANDBY, contract.ROLE_INIT, contract.ROLE_TRANSITION) == \
        ("active", "standby", "init", "transition")


def test_redundancy_states() -> None:
    assert [(s.number, s.label) for s in Redundancy] == [
        (1, "DISABLED"), (2, "INITIALIZATION"), (4, "STANDBY COLD"), (8, "STANDBY HOT"), (13, "ACTIVE")]
    assert Redundancy.from_label("STANDBY HOT") is Redundancy.STANDBY_HOT
    assert Redundancy.from_label("bogus") is Redundancy.DISABLED

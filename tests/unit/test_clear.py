"""`labctl clear crypto ...`: which SAs are deleted, in which order, how, and the honest report."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.sidecar.swanctl import ike_sas_from_text
from labctl.views import clear

FIXTURES = Path(__file__).parent / "fixtures" / "show"


def sas(node: str) -> list[dict]:
    return ike_sas_from_text((FIXTURES / f"{node}-list-sas.txt").read_text())


@pytest.mark.parametrize(("words", "expected"), [(["crypto", "sa"], ("sa", None)),
                                                 (["cry", "isa", "act"], ("isakmp", "active")),
                                                 (["crypto", "sess", "stand"], ("session", "standby"))])
def test_parse(words: list[str], expected: tuple[str, str | None]) -> None:
    assert clear.parse(words) == expected


@pytest.mark.parametrize("words", [["crypto"], ["crypto", "s"], ["crypto", "sa", "both"], ["ip", "sa"]])
def test_parse_rejects(words: list[str]) -> None:
    with pytest.raises(LabctlError, match="clear crypto"):
        clear.parse(words)


def test_session_on_the_active_deletes_children_first_then_the_ike_sa() -> None:
    actions = clear.plan(sas("gw1"), "session", None)
    assert [(a["kind"], a["id"], a["force"], a["skip"]) for a in actions] == [("child", "1", False, None),
                                                                             ("ike", "1", False, None)]
    assert clear.plan(sas("gw1"), "session", "standby") == []
    assert [a["kind"] for a in clear.plan(sas("gw1"), "sa", "active")] == ["child"]
    assert [a["kind"] for a in clear.plan(sas("gw1"), "isakmp", None)] == ["ike"]


def test_on_the_standby_the_passive_ike_sa_is_forced_and_a_child_alone_is_refused() -> None:
    session = clear.plan(sas("gw2"), "session", "standby")
    assert [(a["kind"], a["force"], a["skip"]) for a in session] == [("child", False, "removed with its IKE_SA"),
                                                                     ("ike", True, None)]
    only_sa = clear.plan(sas("gw2"), "sa", "standby")
    assert len(only_sa) == 1 and only_sa[0]["skip"] == clear.PASSIVE_CHILD


def test_report_of_a_cleared_active_session() -> None:
    actions = clear.outcome(clear.plan(sas("gw1"), "session", None), [])
    assert clear.render("gw1", "session", None, actions) == (
        "gw1# clear crypto session\n"
        "cleared IPsec SA net{1} with 10.51.0.50 (spi in 0xAE1F08B3, out 0x544872F6)\n"
        "cleared IKE SA site[1] with 10.51.0.50 (3c9c0a007873ae27_i 2d190a28c0219521_r, ESTABLISHED, 1 CHILD_SA)\n"
        "! the peer was sent a DELETE; `show crypto isakmp sa` on it shows what it does next\n")


def test_report_says_what_was_not_cleared() -> None:
    after = sas("gw2")
    actions = clear.plan(after, "session", "standby")
    actions[1]["output"] = "terminate failed: IKE_SA 1 not found\n"
    report = clear.render("gw2", "session", "standby", clear.outcome(actions, after))
    assert report.splitlines() == [
        "gw2# clear crypto session standby",
        "! not cleared: IPsec SA net{1} with 10.51.0.50 (spi in 0xAE1F08B3, out 0x544872F6): removed with its IKE_SA",
        "! NOT cleared: IKE SA site[1] with 10.51.0.50 (3c9c0a007873ae27_i 2d190a28c0219521_r, PASSIVE, 1 CHILD_SA): "
        "still listed by charon (terminate failed: IKE_SA 1 not found)"]
    gone = clear.outcome(clear.plan(sas("gw2"), "isakmp", "standby"), [])
    assert clear.render("gw2", "isakmp", "standby", gone).splitlines()[1:] == [
        "cleared IKE SA site[1] with 10.51.0.50 (3c9c0a007873ae27_i 2d190a28c0219521_r, PASSIVE, 1 CHILD_SA) "
        "(synced copy destroyed locally; the peer is not told)",
        "! labctl: strongSwan deletes an IKE SA's CHILD SAs with it (IOS would keep the IPsec SAs)",
        "! the standby holds no copy of these SAs until the Active rekeys or resyncs them"]


def test_a_child_rekeyed_under_the_same_id_is_not_reported_cleared_by_mistake() -> None:
    actions = clear.plan(sas("gw1"), "sa", None)
    after = copy.deepcopy(sas("gw1"))
    assert clear.outcome(actions, after)[0]["cleared"] is False  # same id and SPI still there
    after[0]["child_sas"][0]["spi_in"] = "c0ffee01"  # a new CHILD_SA (the peer re-created it)
    assert clear.outcome(clear.plan(sas("gw1"), "sa", None), after)[0]["cleared"] is True


def test_nothing_to_clear() -> None:
    assert clear.render("gw1", "sa", "standby", []) == ("gw1# clear crypto sa standby\n"
                                                        "! nothing to clear: no synced (PASSIVE) SA on gw1\n")

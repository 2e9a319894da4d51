"""A vpnc client's session judged from its own side (pure): every outcome of `vpnc_session` with its exact
reason text, and the notes. Written against the mutants `make mutation` left alive in the vpnc branch of
`labctl/experiment/judges/clients.py`."""

from __future__ import annotations

from typing import Any

import pytest

from labctl.experiment.judges.clients import judge, vpnc_notes, vpnc_session
from labctl.experiment.probe import DirectionResult, ProbeResult
from labctl.experiment.verdict import Verdict


def client(pid: int | None = 97, state: str = "connected") -> dict[str, Any]:
    return {"kind": "vpnc", "state": state, "pid": pid, "virtual_ip": "10.67.0.2"}


def test_the_same_process_without_a_new_session_or_spi_is_the_same_child() -> None:
    assert vpnc_session("c2", client(), client(), {}, ["ignored"]) == (True, "same", [])
    assert vpnc_session("c2", client(), client(), {"new_spis": 0, "new_ike_sa": 0}, []) == (True, "same", [])


def test_a_quick_mode_vpnc_started_itself_is_rekeyed_and_noted() -> None:
    assert vpnc_session("c2", client(), client(), {"new_spis": 2}, []) == (True, "rekeyed", [])
    assert vpnc_notes("c2", {"new_spis": 2}) == ["c2 (vpnc): 2 new IPsec SA(s) in its log during the run (a Quick "
                                                 "Mode vpnc started itself: same session, new SPIs)"]
    assert vpnc_notes("c2", {"new_spis": 0}) == [] and vpnc_notes("c2", {}) == []


def test_replay_drops_are_a_reason_quoting_the_log_once() -> None:
    same, child, why = vpnc_session("c2", client(), client(), {"replay_drops": 3}, ["vpnc: a", "vpnc: b"])
    assert (same, child) == (True, "same")
    assert why == ["c2 (vpnc): 3 ESP packet(s) from the gateway discarded as replays (the new Active restarted "
                   "the CHILD_SA's outbound sequence numbers: no replay-state sync): vpnc: a; vpnc: b"]


def test_replay_drops_while_two_gateways_were_active_are_noted_not_a_reason() -> None:
    log = {"replay_drops": 3, "replay_drops_both_active": 1}
    _, _, why = vpnc_session("c2", client(), client(), log, [])
    assert why == ["c2 (vpnc): 2 ESP packet(s) from the gateway discarded as replays (the new Active restarted "
                   "the CHILD_SA's outbound sequence numbers: no replay-state sync)"]
    assert vpnc_session("c2", client(), client(), {"replay_drops": 1, "replay_drops_both_active": 1}, []) == \
        (True, "same", [])
    assert vpnc_notes("c2", {"replay_drops": 1, "replay_drops_both_active": 1}) == [
        "c2 (vpnc): 1 ESP packet(s) discarded as replays while two gateways were Active (a preempt makes before it "
        "breaks: the old Active's last packets land after the new Active's first); judged as lost packets"]
    assert vpnc_notes("c2", {"replay_drops": 1, "replay_drops_both_active": 4})[0].startswith("c2 (vpnc): 1 ESP")
    assert vpnc_notes("c2", {"replay_drops": 0, "replay_drops_both_active": 2}) == []
    assert vpnc_notes("c2", {"replay_drops_both_active": 2}) == []  # no drops counted: none to excuse
    assert vpnc_notes("c2", {"replay_drops": 2}) == []  # none in a both-Active span


@pytest.mark.parametrize(("log", "counts"), [({"unknown_spi": 2}, "2x 'unknown spi', 0x 'HMAC mismatch'"),
                                             ({"hmac_mismatch": 1}, "0x 'unknown spi', 1x 'HMAC mismatch'")])
def test_esp_vpnc_cannot_use_loses_the_child(log: dict[str, int], counts: str) -> None:
    same, child, why = vpnc_session("c2", client(), client(), log, [])
    assert (same, child) == (True, "lost")
    assert why == ["c2 (vpnc): the gateway's takeover rekey (a server-initiated Quick Mode) did not reach vpnc's "
                   f"ESP: {counts} in its log"]


def test_an_exit_and_its_restart_is_another_session() -> None:
    log = {"dpd_terminated": 1, "new_ike_sa": 2}
    same, child, why = vpnc_session("c2", client(), client(140), log, ["vpnc: dpd"])
    assert (same, child) == (False, "renegotiated")
    assert why == ["c2 (vpnc): vpnc exited (1x dead peer detection), its restart loop started 2 new session(s): "
                   "vpnc: dpd"]
    assert vpnc_session("c2", client(), client(), {"exits": 1}, [])[2] == \
        ["c2 (vpnc): vpnc exited (0x dead peer detection), its restart loop started 0 new session(s)"]


def test_a_new_pid_or_a_new_phase_1_is_another_session() -> None:
    assert vpnc_session("c2", client(), client(140), {}, []) == \
        (False, "renegotiated", ["c2 (vpnc): another vpnc session (pid 97 -> 140)"])
    assert vpnc_session("c2", client(), client(), {"new_ike_sa": 1}, [])[:2] == (False, "renegotiated")
    assert vpnc_session("c2", client(None), client(None), {}, [])[:2] == (False, "renegotiated")


def test_a_client_no_longer_connected_lost_its_child_without_a_pid_reason() -> None:
    assert vpnc_session("c2", client(), client(state="connecting"), {}, []) == (False, "lost", [])


# ---------------------------------------------------------------- the judge's vpnc branch


def judged(old: dict[str, Any], new: dict[str, Any] | None, log: dict[str, int], mode: str = "stateful") -> Verdict:
    verdict = Verdict("ezvpnc", mode, [], "node-kill", "gw1", "gw1", "gw2", converged=True, max_outage_ms=3000,
                      rri={"gw1": [], "gw2": ["10.67.0.2"]})
    probe = ProbeResult(100, 5, [DirectionResult("inside1->c2", 500, 500, 0, 0, 0, 100.0, None, None),
                                 DirectionResult("c2->inside1", 500, 500, 0, 0, 0, 100.0, None, None)])
    judge(verdict, {"c2": old}, {"c2": new} if new is not None else {}, {"c2": probe}, {"c2": log}, True)
    return verdict


def test_the_judge_passes_a_kept_vpnc_session_and_notes_its_own_quick_mode() -> None:
    verdict = judged(client(), client(), {"new_spis": 1})
    assert verdict.passed and verdict.ike_sa_preserved and verdict.child_sa == "rekeyed", verdict.reasons
    assert any(note.startswith("c2 (vpnc): 1 new IPsec SA(s)") for note in verdict.notes)


def test_the_judge_names_a_vanished_or_restarted_vpnc_and_its_tun_address() -> None:
    gone = judged(client(), None, {})
    assert gone.reasons[:3] == ["c2 (vpnc): session not preserved (not connected any more)",
                                "c2 (vpnc): tun address 10.67.0.2 -> none", "c2 (vpnc): CHILD_SA lost"]
    assert not gone.ike_sa_preserved and gone.child_sa == "lost"
    restarted = judged(client(), {**client(140), "virtual_ip": "10.67.0.9"}, {"new_ike_sa": 0})
    assert restarted.reasons[0] == "c2 (vpnc): another vpnc session (pid 97 -> 140)"
    assert "c2 (vpnc): tun address 10.67.0.2 -> 10.67.0.9" in restarted.reasons
    assert "c2 (vpnc): CHILD_SA renegotiated" not in restarted.reasons  # its own reason already says why
    quiet = judged(client(), client(state="connecting"), {})
    assert "c2 (vpnc): session not preserved (not connected any more)" in quiet.reasons
    no_pid = judged(client(None), client(None), {})  # connected, but no process to compare: not the same session
    assert no_pid.reasons == ["c2 (vpnc): another vpnc session (pid None -> None)"] and not no_pid.ike_sa_preserved


def test_stateless_the_judge_gives_no_vpnc_session_reasons() -> None:
    verdict = judged(client(), {**client(140), "virtual_ip": "10.67.0.9"}, {"dpd_terminated": 1, "new_ike_sa": 1},
                     mode="stateless")
    assert not any("(vpnc)" in reason for reason in verdict.reasons)
    assert verdict.child_sa == "renegotiated" and not verdict.ike_sa_preserved


def test_every_client_after_a_vpnc_one_is_judged_and_one_lost_session_is_not_preserved() -> None:
    """Two vpnc clients, the first restarted, the second kept, then a strongSwan client that lost its IKE SA: the
    verdict is not preserved (one lost session is enough) and the client after the vpnc ones is judged too."""
    verdict = Verdict("ezvpnc", "stateful", [], "node-kill", "gw1", "gw1", "gw2", converged=True,
                      max_outage_ms=3000, rri={"gw1": [], "gw2": ["10.67.0.2", "10.67.0.3", "10.67.0.4"]})
    probe = ProbeResult(100, 5, [DirectionResult("inside1->c", 500, 500, 0, 0, 0, 100.0, None, None),
                                 DirectionResult("c->inside1", 500, 500, 0, 0, 0, 100.0, None, None)])
    swan = {"kind": "strongswan", "virtual_ip": "10.67.0.4", "ike_sa": {"uniqueid": "1"}}
    before = {"c1": client(97), "c2": client(98), "c3": swan}
    after = {"c1": client(140), "c2": client(98), "c3": {"kind": "strongswan", "virtual_ip": "10.67.0.4"}}
    judge(verdict, before, after, {n: probe for n in before}, {n: {} for n in before}, True)
    assert verdict.ike_sa_preserved is False
    assert "c1 (vpnc): another vpnc session (pid 97 -> 98)" not in verdict.reasons
    assert "c1 (vpnc): another vpnc session (pid 97 -> 140)" in verdict.reasons
    assert "c3: IKE SA not preserved (no IKE SA any more)" in verdict.reasons
    only_second = Verdict("ezvpnc", "stateful", [], "node-kill", "gw1", "gw1", "gw2", converged=True,
                          max_outage_ms=3000, rri={"gw1": [], "gw2": ["10.67.0.2", "10.67.0.3"]})
    judge(only_second, {"c1": client(97), "c2": client(98)}, {"c1": client(140), "c2": client(98)},
          {"c1": probe, "c2": probe}, {"c1": {}, "c2": {}}, True)
    assert only_second.ike_sa_preserved is False  # the kept second session does not make up for the first

"""`labctl show` against a real lab: real charon SAs, real HSRP election, real ha-plugin sync."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from labctl.cli import main

from .conftest import LabFactory

pytestmark = pytest.mark.docker

@pytest.fixture(scope="module")
def lab(lab_factory: LabFactory) -> str:
    """A fresh lab (gw1 Active, gw2 STANDBY HOT: `up` waits for both), removed by the factory afterwards."""
    return lab_factory()


def labctl_show(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["show", *args])
    return result.exit_code, result.output


def test_redundancy_states_active_with_standby_hot_peer(lab: str) -> None:
    code, out = labctl_show(lab, "gw1", "redundancy", "states")
    assert code == 0, out
    assert re.search(r"^\s+my state = 13 -ACTIVE$", out, re.M), out
    assert re.search(r"^\s+peer state = 8  -STANDBY HOT$", out, re.M), out
    assert re.search(r"^\s+Communications = Up$", out, re.M), out
    code, out = labctl_show(lab, "gw1", "redundancy", "states", "--json")
    assert code == 0 and json.loads(out)["data"]["peer_state"] == {"number": 8, "label": "STANDBY HOT"}


def test_standby_lists_the_synced_ike_sa_as_stdby(lab: str) -> None:
    code, out = labctl_show(lab, "gw2", "crypto", "isakmp", "sa", "standby")
    assert code == 0, out
    assert re.search(r"^\S+\s+\S+\s+QM_IDLE\s+\d+\s+0 STDBY$", out, re.M), out
    _, active = labctl_show(lab, "gw1", "crypto", "isakmp", "sa", "active", "--json")
    _, standby = labctl_show(lab, "gw2", "crypto", "isakmp", "sa", "standby", "--json")
    spis = [{(r["initiator_spi"], r["responder_spi"]) for r in json.loads(doc)["data"]} for doc in (active, standby)]
    assert spis[0] and spis[0] == spis[1]  # the very same IKE SA, synced by the ha plugin


def test_sync_security_is_reported_honestly(lab: str) -> None:
    code, out = labctl_show(lab, "gw1", "redundancy")
    assert code == 0, out
    assert "Redundancy inter-device state: RF_INTERDEV_STATE_ACT" in out
    assert "cleartext on the isolated sync network" in out


def test_peer_has_crypto_but_no_hsrp(lab: str) -> None:
    code, out = labctl_show(lab, "peer", "crypto", "session")
    assert code == 0 and "Session status: UP-ACTIVE" in out, out
    code, out = labctl_show(lab, "peer", "standby")
    assert code == 1 and "runs no HSRP" in out


# ------------------------------------------------------------------------------------------ issue 13 commands
def labctl(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def peer_ike_spis(lab: str) -> set[tuple[str, str]]:
    code, out = labctl_show(lab, "peer", "crypto", "isakmp", "sa", "--json")
    assert code == 0, out
    return {(r["initiator_spi"], r["responder_spi"]) for r in json.loads(out)["data"] if r["status"] == "ACTIVE"}


def test_running_config_of_gw1_has_the_topologys_standby_lines(lab: str) -> None:
    from labctl.lab import load

    from .conftest import topology_path

    topo = load(topology_path())
    code, out = labctl_show(lab, "gw1", "running-config")
    assert code == 0, out
    assert "hostname gw1" in out and f" scheme standby {topo.ha.group_name}" in out
    hsrp = topo.ha.hsrp
    for group in topo.ha.interfaces:
        n = group.group
        assert f" standby {n} ip {group.virtual_ip}\n" in out, out
        assert f" standby {n} name {topo.ha.group_name}\n" in out, out
        if (hsrp.hello, hsrp.hold) != (3000, 10000):
            assert f" standby {n} timers" in out, out
        if topo.ha.nodes["gw1"].priority != 100:
            assert f" standby {n} priority {topo.ha.nodes['gw1'].priority}\n" in out, out
        if hsrp.preempt:
            assert f" standby {n} preempt" in out, out
        for decrement in group.track.values():
            assert re.search(rf"^ standby {n} track \S+( decrement {decrement})?$", out, re.M), out
    assert f" crypto map site redundancy {topo.ha.group_name}" in out, out
    assert f"  local-ip {topo.ha.nodes['gw1'].addresses[topo.ha.sync_network]}" in out, out


def test_clear_crypto_session_on_gw1_deletes_the_sas_and_the_peer_renegotiates(lab: str) -> None:
    """gw1 sends DELETEs; the peer's close_action = start brings up a new IKE SA (new SPIs) to the VIP."""
    import time

    before = peer_ike_spis(lab)
    assert before, "the peer has no ACTIVE IKE SA to clear"
    code, out = labctl("clear", lab, "gw1", "crypto", "session", "active", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["cleared"] >= 2 and report["not_cleared"] == 0, out  # >= 1 CHILD SA and its IKE SA
    deadline = time.monotonic() + 45
    after: set[tuple[str, str]] = set()
    while time.monotonic() < deadline:
        after = peer_ike_spis(lab)
        if after and not (after & before):
            break
        time.sleep(1)
    assert after and not (after & before), f"no new IKE SA on the peer: before {before}, after {after}"
    _, gw1 = labctl_show(lab, "gw1", "crypto", "isakmp", "sa", "active", "--json")
    assert {(r["initiator_spi"], r["responder_spi"]) for r in json.loads(gw1)["data"]} & after


def test_clear_crypto_sa_standby_says_a_synced_child_sa_cannot_be_deleted_alone(lab: str) -> None:
    code, out = labctl("clear", lab, "gw2", "crypto", "sa", "standby")
    assert code == 0, out
    assert "nothing to clear" in out or "refuses to delete a CHILD_SA of a PASSIVE" in out, out


def test_debug_standby_events_after_an_inside_link_down_and_its_undo(lab: str) -> None:
    import time

    code, out = labctl("fail", lab, "link-down", "--node", "gw1", "--link", "inside")
    assert code == 0, out
    try:
        time.sleep(3)
        code, out = labctl("debug", lab, "gw1", "standby", "events", "--since", "1m")
        assert code == 0, out
        assert out.startswith("gw1# debug standby events\nHSRP Events debugging is on\n"), out
        assert re.search(r"^\*\d\d:\d\d:\d\d\.\d{3}: HSRP: \S+ Interface down$", out, re.M), out
        assert re.search(r"^\*\S+: %HSRP-5-STATECHANGE: \S+ Grp \d+ state Active -> \w+$", out, re.M), out
    finally:
        code, undo = labctl("fail", lab, "link-down", "--node", "gw1", "--link", "inside", "--undo")
        assert code == 0, undo
    time.sleep(3)
    code, out = labctl("debug", lab, "gw1", "standby", "events", "--since", "30s")
    assert code == 0 and re.search(r"HSRP: \S+ Interface up$", out, re.M), out
    code, out = labctl("fail", lab, "recover")
    assert code == 0, out

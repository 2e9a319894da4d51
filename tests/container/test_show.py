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

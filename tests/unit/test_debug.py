"""`labctl debug` formatting over a sidecar's Docker-timestamped event lines and charon ha-plugin log lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.sidecar.contract import format_event
from labctl.views import debug

FIXTURES = Path(__file__).parent / "fixtures" / "show"


def run(command: str, fixture: str) -> list[str]:
    return list(debug.debug_lines(command, (FIXTURES / fixture).read_text().splitlines()))


@pytest.mark.parametrize(("words", "command"), [(["stand", "ev"], "standby events"), (["red"], "redundancy"),
                                                (["cry", "ha"], "crypto ha"), (["cry", "ips", "ha"], "crypto ipsec ha"),
                                                (["crypto", "isakmp", "ha"], "crypto isakmp ha")])
def test_parse_command(words: list[str], command: str) -> None:
    assert debug.parse_command(words) == command


@pytest.mark.parametrize(("words", "reason"), [(["cry", "i", "ha"], "ambiguous `i` (ipsec, isakmp)"),
                                               (["standby"], "incomplete"), (["foo"], "unknown word `foo`")])
def test_parse_command_rejects(words: list[str], reason: str) -> None:
    with pytest.raises(LabctlError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        debug.parse_command(words)


def test_standby_events_like_the_tech_note() -> None:
    assert run("standby events", "gw2-docker-events.txt") == [
        "*10:00:08.101: HSRP: eth0 Interface down",
        "*10:00:08.101: %LINEPROTO-5-UPDOWN: Line protocol on Interface eth0, changed state to down",
        "*10:00:08.101: %TRACK-6-STATE: interface eth0 line-protocol Up -> Down ! labctl network inside",
        "*10:00:08.700: HSRP: eth1 Grp 1 Standby: active timer expired (198.51.100.11)",
        "*10:00:08.700: HSRP: eth1 Grp 1 Standby -> Active",
        "*10:00:08.700: %HSRP-5-STATECHANGE: eth1 Grp 1 state Standby -> Active",
        "*10:00:08.700: HSRP: eth1 API Add active HSRP addresses to ARP table (198.51.100.3, gratuitous ARP sent)"]


def test_redundancy_and_crypto_ha() -> None:
    assert run("redundancy", "gw2-docker-events.txt") == [
        "*10:00:08.700: RF: HSRP role of the node standby -> active",
        "*10:00:08.900: RF: my state = 8 -STANDBY HOT -> 13 -ACTIVE",
        "*10:00:09.000: RF: SSO bulk resync: peer came back"]
    assert run("crypto ha", "gw2-docker-events.txt") == [
        "*10:00:08.701: Crypto HA: ha plugin segment 1 activated (IKE/IPsec SAs ACTIVE)",
        "*10:00:08.750: IPSEC(rte_mgr): VPN Route Added 10.2.0.0/24",
        "*10:00:08.900: RF: my state = 8 -STANDBY HOT -> 13 -ACTIVE",
        "*10:00:09.000: RF: SSO bulk resync: peer came back"]


def test_an_undocked_event_line_uses_the_sidecar_clock_and_a_transition_to_listen_has_no_statechange() -> None:
    line = format_event("hsrp", "eth1 Grp 1 state Speak -> Listen (higher priority speaker)", 0)
    out = list(debug.debug_lines("standby events", [line, "Traceback (most recent call last):"]))
    clock = line.split()[0]
    assert out == [f"*{clock}.000: HSRP: eth1 Grp 1 Speak: higher priority speaker",
                   f"*{clock}.000: HSRP: eth1 Grp 1 Speak -> Listen"]
    withdrew = format_event("rri", "withdrew 10.2.0.0/24, 10.3.0.0/24", 0)
    assert [x.split(": ", 1)[1] for x in debug.debug_lines("crypto ha", [withdrew])] == [
        "IPSEC(rte_mgr): VPN Route Removed 10.2.0.0/24", "IPSEC(rte_mgr): VPN Route Removed 10.3.0.0/24"]


def test_isakmp_ha_from_the_standby_charon_log() -> None:
    assert run("crypto isakmp ha", "gw2-charon-ha.log") == [
        "*10:00:02.010: IKE HA:(198.51.100.3) Adding STANDBY IKE SA",
        "*10:00:02.010: IKE HA:Create peer struct for local 198.51.100.3 remote 198.51.100.50",
        "*10:00:02.010: IKE HA:IKE SA inserted on standby with src = 198.51.100.50, dst = 198.51.100.3",
        "*10:00:03.000: IKE HA:passive HA IKE_SA to update not found",
        "*10:00:09.000: IKE HA:HA segment 1 activated, now active: 1"]


def test_ipsec_ha_from_the_standby_and_active_charon_logs() -> None:
    assert run("crypto ipsec ha", "gw2-charon-ha.log") == [
        "*10:00:02.020: IPSec HA (crypto_ha_ipsec_mgr_recv_add_sas):HA mgr wants to insert the following bundle",
        "*10:00:02.020: IPSec HA (crypto_ha_ipsec_mgr_recv_add_sas):net{1} 10.1.0.0/24 === 10.2.0.0/24 "
        "(segment in 1, out 1)",
        "*10:00:02.020: IPSec HA (crypto_ha_ipsec_notify_add_sa):operation not performed as standby",
        "*10:00:09.000: IPSec HA:HA segment 1 activated, now active: 1"]
    assert run("crypto ipsec ha", "gw1-charon-ha.log") == [
        "*10:00:01.500: IPSec HA:HA segment 1 activated, now active: 1",
        "*10:00:01.550: IPSec HA:resyncing HA segment 1",
        "*10:00:01.552: IPSec HA:resyncing CHILD_SA"]


def test_since_clock_skips_older_charon_lines() -> None:
    lines = (FIXTURES / "gw2-charon-ha.log").read_text().splitlines()
    assert list(debug.debug_lines("crypto isakmp ha", lines, "10:00:05")) == [
        "*10:00:09.000: IKE HA:HA segment 1 activated, now active: 1"]


def test_lines_of_joins_chunks() -> None:
    assert list(debug.lines_of([b"ab", b"c\nde", b"f\r\n", b"g"])) == ["abc", "def", "g"]

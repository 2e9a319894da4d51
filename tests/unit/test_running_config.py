"""`show running-config` of the shipped dual-interface lab (its effective topology + live interfaces/sidecar
fixtures in its addressing), read against the seed's Ha-R1 sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.lab import load
from labctl.views import running_config as rc
from labctl.views import show

FIXTURES = Path(__file__).parent / "fixtures" / "show"


def gw1(**ha_hsrp: object) -> show.Live:
    topo = load("dual-interface").model_dump(mode="json")
    topo["ha"]["hsrp"].update(ha_hsrp)
    return {"node": "gw1", "role": "ha-gateway", "sas": [], "topology": topo,
            "sidecar": json.loads((FIXTURES / "dual-gw1-sidecar-status.json").read_text()),
            "interfaces": show.interfaces_from_ip((FIXTURES / "dual-gw1-ip.txt").read_text())}


def block(text: str, head: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(head)
    end = lines.index("!", start)
    return lines[start:end]


def test_interfaces_carry_the_standby_lines_of_the_topology() -> None:
    text = show.render(gw1(), "running-config")[1]
    assert block(text, "interface eth1") == [
        "interface eth1", " description labctl network outside", " ip address 198.51.100.11 255.255.255.192",
        " no ip unreachables", " standby version 2", " standby 1 ip 198.51.100.3",
        " standby 1 timers msec 200 msec 700",
        " standby 1 priority 110", " standby 1 preempt", " standby 1 name HA-out",
        " standby 1 track eth0 decrement 150", " crypto map site redundancy HA-out stateful"]
    assert block(text, "interface eth0")[5:] == [
        " standby 2 ip 10.1.0.1", " standby 2 timers msec 200 msec 700", " standby 2 priority 110",
        " standby 2 preempt", " standby 2 name HA-out", " standby 2 track eth1 decrement 150"]
    assert block(text, "interface eth2") == ["interface eth2",
                                             " description labctl network sync (sync: SSO channel + ha plugin)",
                                             " ip address 10.9.0.11 255.255.255.0"]


def test_crypto_redundancy_and_ipc_sections() -> None:
    text = show.render(gw1(), "running-config")[1]
    assert text.startswith("Building configuration...\n\nCurrent configuration : ")
    assert "\nhostname gw1\n" in text and text.endswith("!\nend\n")
    assert block(text, "redundancy inter-device")[:2] == ["redundancy inter-device", " scheme standby HA-out"]
    ipc = block(text, "ipc zone default")
    assert "  local-ip 10.9.0.11" in ipc and "  remote-ip 10.9.0.12" in ipc
    assert block(text, "crypto isakmp policy 1") == [
        "crypto isakmp policy 1", " encr aes 256", " hash sha256", " group 14", " authentication pre-share",
        "! labctl: IKEv2 (swanctl `version = 2`); the policy above is its IKE proposal",
        "crypto isakmp key lab-psk-0123456789 address 198.51.100.50", "crypto isakmp keepalive 10",
        "! labctl: strongSwan DPD (dpd_delay), sent when the SA is idle"]
    assert block(text, "crypto ipsec transform-set ts1 esp-aes 256 esp-sha256-hmac")[1:] == [" mode tunnel"]
    assert block(text, "crypto map site redundancy replay-interval inbound 1000 outbound 10000") == [
        "crypto map site redundancy replay-interval inbound 1000 outbound 10000", "crypto map site 10 ipsec-isakmp",
        " set peer 198.51.100.50", " set transform-set ts1", " match address site", " reverse-route"]
    assert block(text, "ip access-list extended site") == ["ip access-list extended site",
                                                           " permit ip 10.1.0.0 0.0.0.255 10.2.0.0 0.0.0.255"]
    size = int(text.splitlines()[2].split(": ")[1].split()[0])
    assert size == len("\n".join(text.splitlines()[3:]).encode()) + 1


def test_ios_defaults_are_hidden_and_other_values_shown() -> None:
    node = gw1(hello="3000ms", hold="10000ms", auth="s3cret", preempt_delay="30000ms", reload_delay="120000ms")
    node["topology"]["ha"]["nodes"]["gw1"]["priority"] = 100
    node["topology"]["ha"]["interfaces"][0]["track"] = {"inside": 10}
    lines = block(show.render(node, "running-config")[1], "interface eth1")
    assert lines[3:] == [" no ip unreachables", " standby version 2", " standby 1 ip 198.51.100.3",
                         " standby 1 preempt delay minimum 30",
                         " standby 1 authentication s3cret", " standby 1 name HA-out", " standby 1 track eth0",
                         " standby delay reload 120", " crypto map site redundancy HA-out stateful"]


def test_md5_authentication_and_delay_minimum_and_stateless() -> None:
    node = gw1(auth_md5="k3y-string", delay_minimum="5000ms", reload_delay="60000ms")
    node["topology"]["redundancy"] = "stateless"
    lines = block(show.render(node, "running-config")[1], "interface eth1")
    assert " standby 1 authentication md5 key-string k3y-string" in lines
    assert " standby delay minimum 5 reload 60" in lines
    assert lines[-1] == " crypto map site redundancy HA-out"


def test_ospf_static_routes_and_tunnel_sources() -> None:
    node = gw1()
    ha = node["topology"]["ha"]
    ha["routes"] = [{"to": "10.64.0.0/24", "via": "10.1.0.20"}]
    ha["ospf"] = {"area": 0, "network": "inside", "redistribute_rri": True,
                  "timers": {"hello": "250ms", "dead": "1000ms"}}
    ha["tunnel_sources"] = ["10.64.0.253"]
    text = show.render(node, "running-config")[1]
    assert " ip ospf dead-interval minimal hello-multiplier 4" in block(text, "interface eth0")
    assert block(text, "interface Loopback0")[1] == " ip address 10.64.0.253 255.255.255.255"
    assert "\nip route 10.64.0.0 255.255.255.0 10.1.0.20\n" in text
    assert block(text, "router ospf 1")[:3] == ["router ospf 1", " network 10.1.0.0 0.0.0.255 area 0",
                                               " redistribute static subnets"]


def test_peer_config_points_its_crypto_map_at_the_vip() -> None:
    topo = load("dual-interface").model_dump(mode="json")
    node = {"node": "peer", "role": "peer", "sas": [], "topology": topo, "sidecar": None, "interfaces": {}}
    text = show.render(node, "running-config")[1]
    assert " set peer 198.51.100.3" in text and "redundancy" not in text and "standby" not in text
    assert block(text, "ip access-list extended site")[1] == " permit ip 10.2.0.0 0.0.0.255 10.1.0.0 0.0.0.255"
    assert block(text, "interface outside")[1:] == [" description labctl network outside",
                                                    " ip address 198.51.100.50 255.255.255.192", " crypto map site"]


@pytest.mark.parametrize(("proposal", "lines"), [
    ("aes256-sha256-modp2048", [" encr aes 256", " hash sha256", " group 14"]),
    ("3des-md5-modp1024", [" encr 3des", " hash md5", " group 2"]),
    ("aes128-sha1-ecp256", [" encr aes", " hash sha", " group 19"]),
    ("aes256gcm16-prfsha384-ecp384", [" encr aes-gcm 256", " group 20"]),
    ("aes256-foo", [" encr aes 256", " ! labctl: no IOS word for foo (strongSwan proposal aes256-foo)"]),
])
def test_isakmp_policy_words(proposal: str, lines: list[str]) -> None:
    assert rc.isakmp_policy(proposal) == lines


@pytest.mark.parametrize(("proposal", "words", "pfs"), [
    ("aes256-sha256", ["esp-aes 256", "esp-sha256-hmac"], None),
    ("aes128-sha1-modp2048", ["esp-aes", "esp-sha-hmac"], 14),
    ("3des-md5", ["esp-3des", "esp-md5-hmac"], None),
    ("aes128gcm16", ["esp-gcm 128"], None),
])
def test_transform_set_words(proposal: str, words: list[str], pfs: int | None) -> None:
    assert rc.transform_set(proposal) == (words, pfs)

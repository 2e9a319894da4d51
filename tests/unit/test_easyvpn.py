"""Easy VPN (remote access): model, checks, rendered configs, failure reasons, RRI per client, verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.errors import TopologyError
from labctl.experiment.judges.clients import judge as judge_clients
from labctl.experiment.probe import DirectionResult, ProbeResult
from labctl.experiment.verdict import Verdict
from labctl.model.loader import load_topology
from labctl.nodes.client import expected_clients, failed_since_established, failure_reason, inside_host
from labctl.render import render_lab
from labctl.sidecar import rri
from tests.unit.test_render import conf_sections

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "topologies" / "easy-vpn.yaml"
FAILURES = ROOT / "tests" / "container" / "topologies" / "easyvpn-failures.yaml"


def variant(tmp_path: Path, old: str, new: str, source: Path = SHIPPED) -> Path:
    text = source.read_text()
    assert old in text, old
    path = tmp_path / "ez.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_clients_are_generated_with_users_and_addresses() -> None:
    topo = load_topology(SHIPPED)
    assert topo.easyvpn is not None
    assert topo.easyvpn_nodes() == {"client1": "client", "client2": "client", "client3": "client"}
    assert [topo.easyvpn.client_login(n)["user"] for n in topo.easyvpn.client_names()] == ["alice", "bob", "carol"]
    assert {str(a) for a in topo.addresses_of("client3").values()} == {"10.31.0.103"}
    assert expected_clients(topo) == ["client1", "client2", "client3"]
    assert inside_host(topo) == ("inside1", "10.32.0.10")
    assert "radius" not in topo.node_names()  # local XAuth by default


def test_failure_overrides_are_expected_failures() -> None:
    topo = load_topology(FAILURES)
    ez = topo.easyvpn
    assert ez is not None and topo.role_of("radius") == "radius"
    assert ez.client_login("client2")["expect_failure"] and ez.client_login("client3")["expect_failure"]
    assert not ez.client_login("client8")["connect"] and not ez.client_login("client8")["expect_failure"]
    assert expected_clients(topo) == ["client1", "client4", "client5", "client6", "client7"]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("pool: {name: client-address-pool, subnet: 10.33.0.0/24}", "pool: {subnet: 10.32.0.0/25}",
     "overlaps network inside"),
    ("pool: {name: client-address-pool, subnet: 10.33.0.0/24}", "pool: {subnet: 10.33.0.0/30}",
     "too small for the synced"),
    ("count: 3 ", "count: 4 ", "would both log in as 'alice'"),
    ("first_address: 10.31.0.101", "first_address: 10.31.0.11", "already used by gw1"),
    ("xauth: local ", "xauth: radius\n  nothing: 1 ", "nothing"),
    ("nas_ip: 10.34.0.1", "nas_ip: 10.32.0.99", "loopback address outside every lab network"),
])
def test_bad_easyvpn_sections_are_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        load_topology(variant(tmp_path, old, new))


def test_site_to_site_fields_still_required_with_peers(tmp_path: Path) -> None:
    dual = ROOT / "topologies" / "dual-interface.yaml"
    with pytest.raises(TopologyError, match="crypto.peer_id: Field required"):
        load_topology(variant(tmp_path, "  peer_id: peer.example\n", "", dual))


def test_gateway_renders_easy_vpn_server_with_synced_pool() -> None:
    nodes = render_lab(load_topology(SHIPPED))
    swanctl = nodes["gw1"].files["/etc/swanctl/swanctl.conf"]
    assert swanctl == nodes["gw2"].files["/etc/swanctl/swanctl.conf"]
    conf = conf_sections(swanctl)
    assert "site" not in conf["connections"]  # no site-to-site peer in this lab
    ez = conf["connections"]["ezvpn"]
    assert (ez["version"], ez["aggressive"], ez["local_addrs"], ez["pools"]) == ("1", "yes", "10.31.0.3",
                                                                                 "client-address-pool")
    assert ez["remote-xauth"]["auth"] == "xauth-generic" and ez["children"]["ez"]["local_ts"] == "10.32.0.0/24"
    assert {s["id"] for k, s in conf["secrets"].items() if k.startswith("xauth-")} == {"alice", "bob", "carol"}
    assert "pools" not in conf  # the ha plugin holds the pool (leases synced)
    strongswan = conf_sections(nodes["gw1"].files["/etc/strongswan.conf"])
    assert strongswan["charon"]["plugins"]["ha"]["pools"] == {"client-address-pool": "10.33.0.0/24"}
    assert strongswan["charon"]["cisco_unity"] == "yes"
    assert '"remote_peer": true' in nodes["gw1"].files["/etc/labctl/sidecar.json"]


def test_stateless_lab_gets_a_local_pool(tmp_path: Path) -> None:
    nodes = render_lab(load_topology(variant(tmp_path, "redundancy: stateful", "redundancy: stateless")))
    conf = conf_sections(nodes["gw1"].files["/etc/swanctl/swanctl.conf"])
    assert conf["pools"]["client-address-pool"]["addrs"] == "10.33.0.0/24"


def test_client_and_radius_configs() -> None:
    nodes = render_lab(load_topology(FAILURES))
    client2 = conf_sections(nodes["client2"].files["/etc/swanctl/swanctl.conf"])
    assert client2["connections"]["ezvpn"]["local-xauth"]["xauth_id"] == "bob"
    assert client2["secrets"]["xauth-user"]["secret"] == '"not-bobs-password"'
    assert client2["connections"]["ezvpn"]["vips"] == "0.0.0.0"
    client8 = conf_sections(nodes["client8"].files["/etc/swanctl/swanctl.conf"])
    assert client8["connections"]["ezvpn"]["children"]["ez"]["start_action"] == "none"
    gw = conf_sections(nodes["gw2"].files["/etc/swanctl/swanctl.conf"])
    assert gw["connections"]["ezvpn"]["remote-xauth"]["auth"] == "xauth-radius"
    assert not any(k.startswith("xauth-") for k in gw["secrets"])  # users live on the RADIUS server
    radius = conf_sections(nodes["gw2"].files["/etc/strongswan.conf"])["charon"]["plugins"]["eap-radius"]
    assert (radius["accounting"], radius["servers"]["lab"]["auth_port"]) == ("yes", "1845")
    init = nodes["gw1"].files["/etc/labctl/init.sh"]
    assert "ip addr replace 10.34.100.1/32 dev lo" in init and "src 10.34.100.1" in init
    assert nodes["radius"].role == "radius"
    assert "ipaddr = 10.34.100.1" in nodes["radius"].files["/etc/freeradius/3.0/clients.conf"]
    assert 'dave\tCleartext-Password := "d-pass"' in nodes["radius"].files[
        "/etc/freeradius/3.0/mods-config/files/authorize"]
    assert "via 10.36.0.1" in nodes["radius"].files["/etc/labctl/init.sh"]


def test_dual_interface_render_has_no_easy_vpn() -> None:
    nodes = render_lab(load_topology(ROOT / "topologies" / "dual-interface.yaml"))
    assert "ezvpn" not in nodes["gw1"].files["/etc/swanctl/swanctl.conf"]
    assert "eap-radius { load = no }" in nodes["gw1"].files["/etc/strongswan.conf"]


@pytest.mark.parametrize(("log", "reason"), [
    ("10:00 [IKE] calculated HASH does not match HASH payload\n", "wrong group PSK"),
    ("10:00 [IKE] received AUTHENTICATION_FAILED error notify\n", "rejected the group key"),
    ("10:00 [IKE] <ezvpn|1> XAuth authentication of 'bob' (myself) failed\n", "XAuth failed"),
    ("10:00 [IKE] no virtual IP found for %any requested by 'ivan'\n", "pool exhausted"),
    ("10:00 [IKE] giving up after 3 retransmits\n", "does not answer"),
    ("10:00 [IKE] giving up after 3 retransmits\n10:01 [IKE] XAuth authentication of 'x' (myself) failed\n",
     "XAuth failed"),
    ("10:00 [IKE] CHILD_SA ez{1} established\n", None),
])
def test_failure_reason_from_client_log(log: str, reason: str | None) -> None:
    found = failure_reason(log)
    assert (found is None) if reason is None else (reason in (found or ""))


UP = "10:00 [IKE] IKE_SA ezvpn[1] established between 10.31.0.11[keyid:labgroup]...10.31.0.1[gw]\n"
REFUSED = "10:00 [IKE] <ezvpn|2> XAuth authentication of 'bob' (myself) failed\n"


@pytest.mark.parametrize(("log", "failed"), [
    (REFUSED, True),  # never up: refused at every try, retrying
    (REFUSED + "10:01 [IKE] initiating Aggressive Mode IKE_SA ezvpn[3] to 10.31.0.1\n", True),
    (UP, False),
    (REFUSED + UP, False),  # refused once (the server was not ready), up since
    (UP + REFUSED, True),  # up, lost, and refused since
    ("", False),
])
def test_a_client_retrying_after_a_failure_is_failed(log: str, failed: bool) -> None:
    assert (failed_since_established(log) is not None) is failed
    if failed:
        assert "XAuth failed" in failed_since_established(log)  # type: ignore[operator]


def test_rri_client_routes_from_remote_vips() -> None:
    sas = [{"state": "ESTABLISHED", "remote_vips": ["10.33.0.2"]}, {"state": "PASSIVE", "remote_vips": ["10.33.0.1"]},
           {"state": "ESTABLISHED", "remote_vips": []}]
    assert rri.client_routes(sas) == ["10.33.0.2"]
    assert rri.client_routes(sas, ("ESTABLISHED", "PASSIVE")) == ["10.33.0.1", "10.33.0.2"]


def _client(vip: str, spi: str, child_spi: str) -> dict:
    return {"virtual_ip": vip, "ike_sa": {"uniqueid": "1", "initiator_spi": spi, "responder_spi": "r" + spi,
                                          "child_sas": [{"state": "INSTALLED", "spi_in": child_spi, "spi_out": "o"}]}}


def _probe(name: str, gap: float) -> ProbeResult:
    return ProbeResult(100, 5, [DirectionResult(f"inside1->{name}", 500, 450, 50, 0, 0, gap, None, None),
                                DirectionResult(f"{name}->inside1", 500, 450, 50, 0, 0, gap, None, None)])


def test_judge_clients_pass_and_each_failure_named() -> None:
    before = {"client1": _client("10.33.0.1", "a", "c1"), "client2": _client("10.33.0.2", "b", "c2")}
    good_after = {"client1": _client("10.33.0.1", "a", "n1"), "client2": _client("10.33.0.2", "b", "n2")}
    verdict = Verdict("easyvpn", "stateful", [], "node-kill", "gw1", "gw1", "gw2", converged=True,
                      max_outage_ms=3000, rri={"gw1": [], "gw2": ["10.33.0.1", "10.33.0.2"]})
    judge_clients(verdict, before, good_after, {"client1": _probe("client1", 600), "client2": _probe("client2", 650)},
                  {}, True)
    assert verdict.passed and verdict.ike_sa_preserved and verdict.child_sa == "rekeyed"

    bad_after = {"client1": _client("10.33.0.1", "a", "n1"), "client2": _client("10.33.0.5", "new", "n2")}
    verdict = Verdict("easyvpn", "stateful", [], "node-kill", "gw1", "gw1", "gw2", converged=True,
                      max_outage_ms=3000, rri={"gw1": ["10.33.0.1"], "gw2": ["10.33.0.1"]})
    judge_clients(verdict, before, bad_after, {"client1": _probe("client1", 600), "client2": _probe("client2", 9000)},
                  {"client2": {"new_ike_sa": 1}}, True)
    text = " | ".join(verdict.reasons)
    assert not verdict.passed and not verdict.ike_sa_preserved
    for expected in ("client2: IKE SA not preserved", "client2: virtual IP 10.33.0.2 -> 10.33.0.5",
                     "outage inside1->client2 9000 ms", "no route to client(s) 10.33.0.5",
                     "gw1 is not Active but still injects 10.33.0.1"):
        assert expected in text


def test_stateless_client_with_a_new_virtual_ip_is_judged_by_its_own_stream() -> None:
    before = {"client1": _client("10.33.0.1", "a", "c1"), "client2": _client("10.33.0.2", "b", "c2")}
    swapped = {"client1": _client("10.33.0.2", "x", "n1"), "client2": _client("10.33.0.1", "y", "n2")}
    probes = {"client1": _probe("client1", 7000), "client2": _probe("client2", 7000)}
    probes["client1"].directions[0].longest_gap_ms = 60000.0  # inside1 kept sending to the old address
    verdict = Verdict("easyvpn", "stateless", [], "node-kill", "gw1", "gw1", "gw2", converged=True,
                      max_outage_ms=30000, rri={"gw1": [], "gw2": ["10.33.0.1", "10.33.0.2"]})
    judge_clients(verdict, before, swapped, probes, {"client1": {"new_ike_sa": 1}, "client2": {"new_ike_sa": 1}}, True)
    assert verdict.passed, verdict.reasons
    assert verdict.child_sa == "renegotiated" and not verdict.ike_sa_preserved
    assert "inside1->client1" not in verdict.outage_ms and verdict.outage_ms["client1->inside1"] == 7000
    assert any("client1 re-negotiated with another virtual IP (10.33.0.1 -> 10.33.0.2" in n for n in verdict.notes)

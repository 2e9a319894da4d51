"""The seeds' own examples shipped as topologies (issue 13): they validate and render as the seeds say; AH is
refused naming ESP with integrity; a stateful lab whose far-end DPD gives up before the takeover is refused with
the fix; the guide's address-ordering warning; every shipped lab can run beside every other one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from netaddr import IPNetwork

from labctl.errors import TopologyError
from labctl.model import dpd
from labctl.model.helpers import inside_and_remote_hosts, preferred_gateway
from labctl.model.loader import load_topology, load_with_warnings
from labctl.render import CHARON_RETRANSMIT, render_lab

from .test_model_rules import line_with, variant

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = ROOT / "labctl" / "topologies"
SEED_HA = TOPOLOGIES / "seed-ha-dual.yaml"
SEED_RAHA = TOPOLOGIES / "seed-raha-easyvpn.yaml"
TECHNOTE = TOPOLOGIES / "seed-technote-ospf.yaml"
DUAL = TOPOLOGIES / "dual-interface.yaml"
EASY = TOPOLOGIES / "easy-vpn.yaml"
SEEDS = [SEED_HA, SEED_RAHA, TECHNOTE]


def refusal(path: Path) -> str:
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    return str(caught.value)


# ------------------------------------------------------------------ the seed topologies as written


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_each_seed_topology_validates_without_warnings_and_renders(path: Path) -> None:
    topo, warnings = load_with_warnings(path)
    assert warnings == []
    nodes = render_lab(topo, str(path))
    assert set(nodes) == set(topo.node_names())
    inside, remote = inside_and_remote_hosts(topo)
    assert inside is not None and (remote is not None or topo.easyvpn is not None)  # probe endpoints exist
    assert path.read_text().startswith("# The seed's") or "tech note" in path.read_text().splitlines()[0]


def test_seed_ha_is_ha_r1_and_ha_r2() -> None:
    topo = load_topology(SEED_HA)
    hsrp = topo.ha.hsrp
    assert (hsrp.version, hsrp.hello, hsrp.hold, hsrp.preempt, hsrp.reload_delay) == (1, 3000, 10000, True, 120_000)
    assert [n.priority for n in topo.ha.nodes.values()] == [100, 100]
    assert topo.first_active_ms == 120_000 + 2 * 10_000  # `up` must wait this long for a first Active
    assert load_topology(DUAL).first_active_ms == 1400
    assert preferred_gateway(topo) == "ha-r2"  # equal priorities: the higher address (209.165.201.2 -> .66)
    assert [(i.network, i.group, str(i.virtual_ip), i.track) for i in topo.ha.interfaces] == [
        ("outside", 1, "198.51.100.67", {"inside": 10}), ("inside", 2, "10.0.0.3", {"outside": 10})]
    assert topo.ha.sync_network == "inside" and topo.redundancy == "stateful"
    assert (topo.crypto.ike_version, topo.crypto.psk) == (1, "cisco123")
    assert [str(s) for s in topo.crypto.local_subnets + topo.crypto.remote_subnets] == ["192.168.0.1/32",
                                                                                        "172.16.0.1/32"]


def test_seed_ha_renders_ikev1_psk_host_to_host_and_sync_over_inside() -> None:
    topo = load_topology(SEED_HA)
    nodes = render_lab(topo, "seed-ha-dual.yaml")
    gw = nodes["ha-r1"].files
    swanctl = gw["/etc/swanctl/swanctl.conf"]
    for line in ("version = 1", "auth = psk", 'secret = "cisco123"', "local_ts = 192.168.0.1/32",
                 "remote_ts = 172.16.0.1/32", "esp_proposals = 3des-md5", "proposals = 3des-sha1-modp1024",
                 "local_addrs = 198.51.100.67", "remote_addrs = 198.51.100.97"):
        assert line in swanctl, line
    assert "ah" not in swanctl.split("esp_proposals = ")[1].split()[0]
    strongswan = gw["/etc/strongswan.conf"]
    assert "local = 10.0.0.1" in strongswan and "remote = 10.0.0.2" in strongswan  # the ha plugin over inside
    sso = json.loads(gw["/etc/labctl/sidecar.json"])["sso"]
    assert (sso["local_ip"], sso["peer_ip"]) == ("10.0.0.1", "10.0.0.2")  # the SSO channel over inside too
    init = gw["/etc/labctl/init.sh"]
    assert "ip addr replace 192.168.0.1/32 dev lo" in init
    assert "ip route del local" not in init  # kernel-libipsec's route needs the address local (its source)
    assert "ip rule add pref 10 iif ipsec0 to 192.168.0.1 lookup main" in init  # the tunnel's packets: to inside1
    assert "ip route replace 192.168.0.0/16 via 10.0.0.5" in init
    peer = nodes["peer"].files
    assert "ip rule del pref 0 lookup local" in peer["/etc/labctl/init.sh"]  # the rule moves behind rule 10
    assert "ip rule add pref 10 iif ipsec0 to 172.16.0.1 lookup main" in peer["/etc/labctl/init.sh"]
    assert "local_ts = 172.16.0.1/32" in peer["/etc/swanctl/swanctl.conf"]
    other = json.loads(nodes["ha-r2"].files["/etc/labctl/sidecar.json"])["sso"]
    assert (other["local_ip"], other["peer_ip"]) == ("10.0.0.2", "10.0.0.1")


def test_seed_raha_is_the_easy_vpn_example(tmp_path: Path) -> None:
    topo = load_topology(SEED_RAHA)
    ez = topo.easyvpn
    assert ez is not None and ez.radius is not None
    assert (ez.group, ez.group_psk, ez.pool.name, ez.xauth) == ("unity", "cisco123", "client-address-pool", "local")
    assert (ez.radius.auth_port, ez.radius.acct_port, ez.radius.secret) == (1845, 1846, "radius123")
    assert ez.users == {"remote_user": "letmein"}
    assert (topo.crypto.ike_proposals, topo.crypto.esp_proposals) == (["3des-md5-modp1024"], ["3des-sha1"])
    radius = load_topology(variant(tmp_path, SEED_RAHA, ("xauth: local", "xauth: radius"))[0])
    text = render_lab(radius, "x")["raha-r1"].files["/etc/strongswan.conf"]
    assert "auth_port = 1845" in text and "acct_port = 1846" in text


def test_technote_is_the_stateless_ospf_pair() -> None:
    topo = load_topology(TECHNOTE)
    assert topo.redundancy == "stateless" and topo.ha.hsrp.preempt
    assert {n: s.priority for n, s in topo.ha.nodes.items()} == {"c7204vxr-1": 200, "c7204vxr-2": 100}
    assert topo.ha.interfaces[0].track == {"inside": 150} and topo.crypto.dpd == 10_000  # keepalive 10
    assert [i.group for i in topo.ha.interfaces] == [1, 1]  # the same group number inside and outside
    assert topo.ha.ospf is not None and topo.ha.ospf.redistribute_rri and topo.ha.rri
    frr = render_lab(topo, "x")["c7204vxr-1"].files["/etc/labctl/frr.conf.in"]
    assert "10.52.0.0/24" in frr  # the RRI route is redistributed


# ------------------------------------------------------------------ AH refused, naming the alternative


@pytest.mark.parametrize("proposal", ["ah-md5-hmac", "ah-sha-hmac", "ah", "md5-ah"])
def test_ah_in_esp_proposals_is_refused_naming_esp_with_integrity(tmp_path: Path, proposal: str) -> None:
    path, text = variant(tmp_path, SEED_HA, ("esp_proposals: [3des-md5]", f"esp_proposals: [{proposal}, 3des]"))
    message = refusal(path)
    assert f"{path}:{line_with(text, 'esp_proposals:')}: field crypto.esp_proposals.0: " in message
    assert "AH is not available" in message and "ESP with integrity" in message and "3des-md5" in message


def test_ah_proposals_field_is_refused(tmp_path: Path) -> None:
    path, text = variant(tmp_path, SEED_HA, ("  esp_proposals: [3des-md5]", "  esp_proposals: [3des-md5]\n"
                                                                          "  ah_proposals: [md5]"))
    message = refusal(path)
    assert "field crypto.ah_proposals: " in message and "ESP with integrity" in message


def test_esp_proposals_with_ah_like_letters_are_not_refused(tmp_path: Path) -> None:
    path, _ = variant(tmp_path, SEED_HA, ("esp_proposals: [3des-md5]", "esp_proposals: [aes256-sha256, 3des-sha1]"))
    assert load_topology(path).crypto.esp_proposals == ["aes256-sha256", "3des-sha1"]


# ------------------------------------------------------------------ the peers' DPD against the takeover


def test_the_dpd_model_follows_charons_schedule() -> None:
    assert CHARON_RETRANSMIT is dpd.CHARON_RETRANSMIT  # render writes the schedule the check uses
    assert dpd.retransmit_offsets_ms() == pytest.approx([0, 1000, 2400, 4360])
    assert dpd.give_up_ms() == pytest.approx(7104)


IOS_TIMERS = (("hello: 200ms", "hello: 3s"), ("hold: 700ms", "hold: 10s"))


def test_ikev2_peer_dpd_that_gives_up_before_the_takeover_is_refused_with_the_fix(tmp_path: Path) -> None:
    path, text = variant(tmp_path, DUAL, *IOS_TIMERS, ("  remote_subnets: [10.2.0.0/24]",
                                                      "  remote_subnets: [10.2.0.0/24]\n  dpd: 6s"))
    message = refusal(path)
    assert f"{path}:{line_with(text, 'dpd: 6s')}: field crypto.dpd: " in message
    assert "takes 10150 ms" in message and "gives up first" in message
    assert "last DPD retransmission leaves 9360 ms" in message
    assert "Fix: crypto.dpd: 7s or more" in message


def test_the_smallest_dpd_named_by_the_fix_is_accepted_and_the_default_outlasts_ios_timers(tmp_path: Path) -> None:
    path, _ = variant(tmp_path, DUAL, *IOS_TIMERS, ("  remote_subnets: [10.2.0.0/24]",
                                                   "  remote_subnets: [10.2.0.0/24]\n  dpd: 7s"))
    assert load_topology(path).crypto.dpd == 7000  # 7000 - 1000 + 4360 = 10360 >= 10150
    path, _ = variant(tmp_path, DUAL, *IOS_TIMERS)
    topo = load_topology(path)  # the defaults: DPD 10 s
    (margin,) = dpd.dpd_margins(topo)
    assert margin.survives and margin.last_chance_ms == pytest.approx(13360) and margin.takeover_ms == 10150
    for seed in SEEDS:
        assert all(m.survives for m in dpd.dpd_margins(load_topology(seed))), seed


def test_a_larger_takeover_allowance_needs_a_longer_dpd(tmp_path: Path) -> None:
    edits = (*IOS_TIMERS, ("  remote_subnets: [10.2.0.0/24]", "  remote_subnets: [10.2.0.0/24]\n  dpd: 7s\n"
                                                               "failover: {takeover_allowance: 400ms}"))
    path, _ = variant(tmp_path, DUAL, *edits)
    assert "Fix: crypto.dpd: 8s or more" in refusal(path)


def test_a_stateless_lab_is_not_held_to_the_takeover(tmp_path: Path) -> None:
    path, _ = variant(tmp_path, DUAL, *IOS_TIMERS, ("redundancy: stateful ", "redundancy: stateless "),
                      ("  remote_subnets: [10.2.0.0/24]", "  remote_subnets: [10.2.0.0/24]\n  dpd: 2s"))
    assert load_topology(path).crypto.dpd == 2000


def test_a_dpd_below_a_second_is_off_and_gives_nothing_up(tmp_path: Path) -> None:
    path, _ = variant(tmp_path, DUAL, *IOS_TIMERS, ("  remote_subnets: [10.2.0.0/24]",
                                                   "  remote_subnets: [10.2.0.0/24]\n  dpd: 500ms"))
    assert load_topology(path).crypto.dpd == 500  # rendered `dpd_delay = 0s`: no DPD


def test_ikev1_waits_the_whole_schedule_for_inbound_traffic(tmp_path: Path) -> None:
    # IKEv1: one R-U-THERE, then the whole schedule: 5000 - 1000 + 7104 = 11104 >= 10150 + 300 (Quick Mode)
    path, _ = variant(tmp_path, SEED_HA, ("  psk: cisco123", "  psk: cisco123\n  dpd: 5s"))
    (margin,) = dpd.dpd_margins(load_topology(path))
    assert margin.ike_version == 1 and margin.last_chance_ms == pytest.approx(11104) and margin.takeover_ms == 10450
    path, text = variant(tmp_path, SEED_HA, ("  psk: cisco123", "  psk: cisco123\n  dpd: 4s"))
    message = refusal(path)
    assert f"{path}:{line_with(text, 'dpd: 4s')}: field crypto.dpd: " in message
    assert "one R-U-THERE" in message and "Fix: crypto.dpd: 5s or more" in message


def test_easy_vpn_clients_dpd_is_checked_too(tmp_path: Path) -> None:
    path, text = variant(tmp_path, SEED_RAHA, ("  clients:", "  dpd: 3s\n  clients:"))
    message = refusal(path)
    assert f"{path}:{line_with(text, 'dpd: 3s')}: field easyvpn.dpd: " in message
    assert "the clients' DPD (3s) gives up first" in message and "Fix: easyvpn.dpd: 5s or more" in message
    # the site-to-site default lab with Easy VPN (easy-vpn.yaml) at its fast timers passes
    assert dpd.dpd_margins(load_topology(EASY))[0].survives


# ------------------------------------------------------------------ sync, groups, host sources, ordering


def test_sync_over_an_hsrp_lan_and_the_same_group_number_are_accepted(tmp_path: Path) -> None:
    path, _ = variant(tmp_path, DUAL, ("  sync_network: sync", "  sync_network: inside"), ("group: 2", "group: 1"))
    topo = load_topology(path)
    assert topo.ha.sync_network == "inside" and [i.group for i in topo.ha.interfaces] == [1, 1]
    path, _ = variant(tmp_path, DUAL, ("group: 2", "group: 1"), ("network: inside\n", "network: outside\n"))
    assert "HSRP group 1 is already configured on outside" in refusal(path)  # twice on one LAN is not


def test_host_sources_must_be_hosts_and_tunnel_sources_must_not(tmp_path: Path) -> None:
    path, _ = variant(tmp_path, SEED_HA, ("host_sources: [192.168.0.1]", "host_sources: []"))
    message = refusal(path)
    assert "field crypto.local_subnets.0: the gateways have no address in 192.168.0.1/32" in message
    assert "ha.host_sources" in message
    path, _ = variant(tmp_path, SEED_HA, ("host_sources: [172.16.0.1]", "host_sources: []"))
    assert "field crypto.remote_subnets.0: peer peer has no address in 172.16.0.1/32" in refusal(path)
    path, _ = variant(tmp_path, SEED_HA, ("host_sources: [192.168.0.1]", "tunnel_sources: [192.168.0.1]"))
    assert "field ha.tunnel_sources.0: 192.168.0.1 is a node's address" in refusal(path)
    path, _ = variant(tmp_path, SEED_HA, ("host_sources: [192.168.0.1]", "host_sources: [192.168.0.1, 192.168.0.5]"))
    message = refusal(path)
    assert "field ha.host_sources.1: 192.168.0.5 is not inside a crypto.local_subnets prefix" in message
    assert "192.168.0.5 is no host's address" in message


def test_the_ordering_warning_fires_for_a_mis_ordered_seed_pair(tmp_path: Path) -> None:
    path, text = variant(tmp_path, SEED_HA, ("inside: 10.0.0.1}", "inside: 10.0.0.9}"))
    _topo, warnings = load_with_warnings(path)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{path}:{line_with(text, 'inside: 10.0.0.2}')}: field ha.nodes.ha-r2.addresses"
                                  ".inside: warning: ")
    assert "ordered differently on inside than on outside" in warnings[0]


# ------------------------------------------------------------------ every shipped lab beside every other


def test_shipped_topologies_have_unique_names_and_pairwise_disjoint_subnets() -> None:
    topos = [load_topology(p) for p in sorted(TOPOLOGIES.glob("*.yaml"))]
    names = [t.name for t in topos]
    assert len(names) == len(set(names)) and len(topos) >= 7
    owned: list[tuple[IPNetwork, str]] = []
    for topo in topos:
        subnets = [IPNetwork(str(n.subnet)) for n in topo.networks.values()]
        if topo.easyvpn:
            subnets.append(IPNetwork(str(topo.easyvpn.pool.subnet)))
        for subnet in subnets:
            for other, owner in owned:
                assert not (subnet in other or other in subnet), f"{topo.name} {subnet} overlaps {owner} {other}"
        owned += [(s, topo.name) for s in subnets]
    reserved = IPNetwork("10.71.0.0/16").first, IPNetwork("10.99.0.0/16").last  # other helpers' test labs
    assert not any(s.last >= reserved[0] and s.first <= reserved[1] for s, _ in owned)


# ------------------------------------------------------------------ the default matrix runs the seeds


def test_the_default_matrix_has_the_seed_cells_with_their_expectations() -> None:
    from labctl.matrix.model import load_matrix

    cells = {c.id: c for c in load_matrix(ROOT / "labctl" / "matrices" / "default.yaml").cells}
    for cell_id in ("seed-ha/node-kill/stateful/default", "seed-raha/node-kill/stateful/default",
                    "seed-ha/link-down-inside/stateful/default", "dual/link-down-inside/stateful/default",
                    "dual/node-stop/stateful/default", "dual/link-flap-outside/stateful/default",
                    "dual/node-kill/stateful/ios"):
        assert cells[cell_id].expect.ike_sa_preserved is True, cell_id
    for cell_id in ("technote/node-kill/stateless/default", "technote/node-kill-recover/stateless/default",
                    "technote/link-down-inside/stateless/default", "dual/node-kill-recover/stateless/default"):
        assert cells[cell_id].expect.ike_sa_preserved is False and cells[cell_id].expect.child_sa == ["renegotiated"]
    assert cells["dual/link-flap-outside/stateful/default"].fault.recover  # down, then up and preempt back
    assert cells["dual/node-kill/stateful/ios"].timers == {"hello": "3000ms", "hold": "10000ms"}
    assert cells["technote/node-kill-recover/stateless/default"].fault.recover


def test_ikev1_refuses_more_than_one_subnet_pair(tmp_path) -> None:
    """charon's IKEv1 proposes only the first subnet of a list: a second one would silently pass no traffic."""
    text = (ROOT / "labctl/topologies/seed-technote-ospf.yaml").read_text().replace(
        "local_subnets: [10.51.0.0/24]", "local_subnets: [10.1.1.0/24, 10.51.0.0/24]")
    path = tmp_path / "two.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError, match=r"crypto.local_subnets.*IKEv1 negotiates one subnet pair"):
        load_topology(path)

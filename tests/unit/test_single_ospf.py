"""Single-interface and RRI-into-OSPF: the model fields, their validation, and what the nodes are rendered with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labctl.errors import TopologyError
from labctl.model.loader import load_topology
from labctl.render import render_lab

ROOT = Path(__file__).resolve().parents[2]
SINGLE = ROOT / "topologies" / "single-interface.yaml"
OSPF = ROOT / "topologies" / "dual-interface-ospf.yaml"


def variant(tmp_path: Path, source: Path, *replacements: tuple[str, str]) -> Path:
    text = source.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "variant.yaml"
    path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# ---- single-interface ----


def test_single_interface_model() -> None:
    topo = load_topology(SINGLE)
    assert [i.network for i in topo.ha.interfaces] == ["lan"]
    assert str(topo.crypto_interface.virtual_ip) == "10.22.0.1"
    assert topo.role_of("edge") == "router" and "edge" in topo.node_names()
    assert {k: str(v) for k, v in topo.addresses_of("edge").items()} == {"outside": "10.21.0.2", "lan": "10.22.0.2"}
    # the peer is not on the VIP's network: it talks IKE from its outside address
    assert topo.peer_ike_address("peer") == "10.21.0.50"


def test_single_interface_rendering() -> None:
    nodes = render_lab(load_topology(SINGLE))
    gateway_conf = nodes["gw1"].files["/etc/swanctl/swanctl.conf"]
    assert "local_addrs = 10.22.0.1" in gateway_conf and "remote_addrs = 10.21.0.50" in gateway_conf
    peer_conf = nodes["peer"].files["/etc/swanctl/swanctl.conf"]
    assert "local_addrs = 10.21.0.50" in peer_conf and "remote_addrs = 10.22.0.1" in peer_conf
    # the peer reaches the VIP through the edge router, set before charon starts
    peer_init = nodes["peer"].files["/etc/labctl/init.sh"]
    assert peer_init.index("ip route replace 10.22.0.0/24 via 10.21.0.2") < peer_init.index("/usr/lib/ipsec/charon")
    gateway_init = nodes["gw2"].files["/etc/labctl/init.sh"]
    assert gateway_init.index("ip route replace 0.0.0.0/0 via 10.22.0.2") < gateway_init.index("python3 -m labctl")
    assert "frr.sh" not in gateway_init
    edge = nodes["edge"]
    assert edge.role == "router" and edge.capabilities == [] and set(edge.files) == {"/etc/labctl/init.sh"}
    # one HSRP group, nothing to track
    assert '"track": {}' in nodes["gw1"].files["/etc/labctl/sidecar.json"]


# ---- RRI into OSPF ----


def test_ospf_model() -> None:
    topo = load_topology(OSPF)
    assert topo.ha.ospf is not None and topo.ha.ospf.network == "inside" and topo.ha.ospf.redistribute_rri
    router = topo.routers["r-inside"]
    assert router.ospf is not None and router.ospf.networks == ["inside", "inside-lan"] and not router.routes
    assert (topo.ha.ospf.timers.hello, topo.ha.ospf.timers.dead, topo.ha.ospf.timers.hello_multiplier) == (250, 1000, 4)
    assert [str(a) for a in topo.ha.tunnel_sources] == ["10.64.0.253"]


def test_gateways_redistribute_rri_as_external_type_2() -> None:
    nodes = render_lab(load_topology(OSPF))
    for name in ("gw1", "gw2"):
        frr = nodes[name].files["/etc/labctl/frr.conf.in"]
        assert "ip prefix-list RRI seq 5 permit 10.63.0.0/24" in frr
        assert "redistribute kernel metric-type 2 route-map RRI" in frr
        assert "network 10.62.0.0/24 area 0" in frr and "10.64.0.0" not in frr
        assert "ip ospf priority 0" in frr  # a gateway never becomes the DR
        assert "ip ospf dead-interval minimal hello-multiplier 4" in frr
        assert nodes[name].capabilities == ["SYS_ADMIN"]
        init = nodes[name].files["/etc/labctl/init.sh"]
        # FRR and the tunnel source are up before the sidecar starts charon
        assert init.index("/bin/sh /etc/labctl/frr.sh") < init.index("python3 -m labctl.sidecar")
        assert "ip addr replace 10.64.0.253/32 dev lo" in init
    assert "ospf router-id 10.62.0.11" in nodes["gw1"].files["/etc/labctl/frr.conf.in"]
    start = nodes["gw1"].files["/etc/labctl/frr.sh"]
    assert 's/@inside@/$(ifname 10.62.0.11)/' in start and "/usr/lib/frr/ospfd -d" in start and "vtysh -b" in start


def test_inside_router_learns_only_by_ospf() -> None:
    nodes = render_lab(load_topology(OSPF))
    router = nodes["r-inside"]
    frr = router.files["/etc/labctl/frr.conf.in"]
    assert "network 10.62.0.0/24 area 0" in frr and "network 10.64.0.0/24 area 0" in frr
    assert "redistribute" not in frr and "ip ospf priority" not in frr
    assert "ip route" not in router.files["/etc/labctl/init.sh"]  # no static route by hand
    assert router.capabilities == ["SYS_ADMIN"]
    assert "gateway" not in router.files["/etc/labctl/init.sh"]


def test_redistribution_can_be_turned_off(tmp_path: Path) -> None:
    path = variant(tmp_path, OSPF, ("redistribute_rri: true", "redistribute_rri: false"))
    frr = render_lab(load_topology(path))["gw1"].files["/etc/labctl/frr.conf.in"]
    assert "redistribute" not in frr and "prefix-list" not in frr and "network 10.62.0.0/24 area 0" in frr


def test_slow_ospf_timers_render_whole_seconds(tmp_path: Path) -> None:
    slow = "timers: {hello: 10s, dead: 40s}"
    path = variant(tmp_path, OSPF, ("redistribute_rri: true", f"redistribute_rri: true\n    {slow}"),
                   ("ospf: {area: 0, networks: [inside, inside-lan]}",
                    f"ospf: {{area: 0, networks: [inside, inside-lan], {slow}}}"))
    frr = render_lab(load_topology(path))["r-inside"].files["/etc/labctl/frr.conf.in"]
    assert "ip ospf hello-interval 10" in frr and "ip ospf dead-interval 40" in frr and "minimal" not in frr


@pytest.mark.parametrize(
    ("source", "replacements", "needle", "message"),
    [
        (SINGLE, [("{to: 10.22.0.0/24, via: 10.21.0.2}", "{to: 10.22.0.0/24, via: 10.22.0.2}")],
         "- {to: 10.22.0.0/24", r"field peers.peer.routes.0.via: 10.22.0.2 is not on a network this node is attached"),
        (SINGLE, [("{to: 0.0.0.0/0, via: 10.22.0.2}", "{to: 0.0.0.0/0, via: 10.21.0.2}")],
         "- {to: 0.0.0.0/0", r"field ha.routes.0.via: 10.21.0.2 is not on a network"),
        (SINGLE, [("{to: 0.0.0.0/0, via: 10.22.0.2}", "{to: 0.0.0.0/0, via: nowhere}")],
         "- {to: 0.0.0.0/0", r"field ha.routes.0.via: value is not a valid IPv4 or IPv6 address"),
        (SINGLE, [("addresses: {outside: 10.21.0.2, lan: 10.22.0.2}", "addresses: {outside: 10.21.0.50}")],
         "addresses: {outside: 10.21.0.50}", r"field routers.edge.addresses.outside: 10.21.0.50 is already used"),
        (OSPF, [("networks: [inside, inside-lan]", "networks: [inside, outside]")],
         "networks: [inside, outside]", r"field routers.r-inside.ospf.networks.1: r-inside has no address on"),
        (OSPF, [("networks: [inside, inside-lan]", "networks: [inside-lan]")],
         "  ospf:  ", r"field ha.ospf: no router runs OSPF on 'inside'"),
        (OSPF, [("{area: 0, networks: [inside, inside-lan]}", "{area: 1, networks: [inside, inside-lan]}")],
         "    area: 0", r"field ha.ospf.area: area 0 differs from the area of the routers on 'inside'"),
        (OSPF, [("redistribute_rri: true", "redistribute_rri: true\n    timers: {hello: 500ms}")],
         "timers: {hello: 500ms}", r"field ha.ospf.timers: hello/dead timers differ from the routers"),
        (OSPF, [("redistribute_rri: true", "redistribute_rri: true\n    timers: {hello: 300ms}")],
         "timers: {hello: 300ms}", r"field ha.ospf.timers: Value error, with dead: 1s, hello must divide a second"),
        (OSPF, [("network: inside\n    redistribute_rri", "network: sync\n    redistribute_rri")],
         "    network: sync", r"field ha.ospf.network: OSPF must not run on the sync network"),
        (OSPF, [("network: inside\n    redistribute_rri", "network: inside-lan\n    redistribute_rri")],
         "    network: inside-lan", r"field ha.ospf.network: both gateways need an address on 'inside-lan'"),
        (OSPF, [("sync_network: sync\n", "sync_network: sync\n  rri: false\n")],
         "redistribute_rri: true", r"field ha.ospf.redistribute_rri: needs ha.rri: true"),
        (OSPF, [("tunnel_sources: [10.64.0.253]", "tunnel_sources: [10.62.0.253]")],
         "tunnel_sources:", r"field ha.tunnel_sources.0: 10.62.0.253 is not inside a crypto.local_subnets prefix"),
        (OSPF, [("tunnel_sources: [10.64.0.253]", "tunnel_sources: [10.64.0.10]")],
         "tunnel_sources:", r"field ha.tunnel_sources.0: 10.64.0.10 is a node's address"),
        (OSPF, [("tunnel_sources: [10.64.0.253]", "tunnel_sources: []")],
         "local_subnets:", r"field crypto.local_subnets.0: the gateways have no address in 10.64.0.0/24"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, source: Path, replacements: list[tuple[str, str]], needle: str, message: str
) -> None:
    path = variant(tmp_path, source, *replacements)
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert f"{path}:{line_of(path, needle)}: " in str(caught.value), str(caught.value)
    assert re.search(message, str(caught.value)), str(caught.value)

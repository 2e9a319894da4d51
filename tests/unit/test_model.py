"""Topology model: the shipped files load, and bad input is refused naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.errors import TopologyError
from labctl.model.loader import load_topology
from labctl.model.topology import parse_duration_ms

ROOT = Path(__file__).resolve().parents[2]
DUAL = ROOT / "topologies" / "dual-interface.yaml"


def variant(tmp_path: Path, old: str, new: str) -> Path:
    text = DUAL.read_text()
    assert old in text, old
    path = tmp_path / "variant.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(needle) or
                (needle in line and not needle.endswith(":")))


def test_shipped_topologies_load() -> None:
    for path in (ROOT / "topologies").glob("*.yaml"):
        topo = load_topology(path)
        assert len(topo.ha.nodes) == 2
        assert topo.crypto_interface.crypto or len(topo.ha.interfaces) == 1


def test_dual_interface_values_and_defaults() -> None:
    topo = load_topology(DUAL)
    assert topo.name == "dual"
    assert topo.ha.hsrp.hello == 200 and topo.ha.hsrp.hold == 700
    assert topo.ha.hsrp.auth == "cisco"  # from defaults.yaml
    assert topo.crypto.ike_proposals == ["aes256-sha256-modp2048"]
    assert str(topo.crypto_interface.virtual_ip) == "198.51.100.3"
    assert topo.role_of("gw1") == "ha-gateway" and topo.role_of("peer") == "peer"


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ("inside: 10.1.0.12", "inside: 10.5.0.12", "inside: 10.5.0.12", "gw2.addresses.inside: 10.5.0.12 is not"),
        ("hello: 200ms", "hello: fast", "hello: fast", "ha.hsrp.hello"),
        ("ike_version: 2", "ike_versoin: 2", "ike_versoin",
         "crypto.ike_versoin: unknown field 'ike_versoin': did you mean 'ike_version'?"),
        ("virtual_ip: 10.1.0.1", "virtual_ip: 10.1.0.10", "virtual_ip: 10.1.0.10", "already used"),
        ("remote-lan: {subnet: 10.2.0.0/24}", "remote-lan: {subnet: 10.1.0.0/25}", "remote-lan: {subnet",
         "overlaps network inside"),
        ("priority: 110", "priority: 300", "priority: 300", "ha.nodes.gw1.priority"),
        ("track: {inside: 150}", "track: {dmz: 150}", "track: {dmz", "tracked interface 'dmz'"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, old: str, new: str, needle: str, message: str) -> None:
    path = variant(tmp_path, old, new)
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    text = str(caught.value)
    assert f"{path}:{line_of(path, needle)}: field" in text
    assert message in text


def test_missing_field_points_at_parent(tmp_path: Path) -> None:
    path = variant(tmp_path, "  psk: lab-psk-0123456789\n", "")
    with pytest.raises(TopologyError, match=rf"{path}:{line_of(path, 'crypto:')}: field crypto.psk: Field required"):
        load_topology(path)


def test_duplicate_key_and_bad_yaml(tmp_path: Path) -> None:
    path = variant(tmp_path, "redundancy: stateful", "redundancy: stateful\nredundancy: stateless")
    with pytest.raises(TopologyError, match=r":11: field redundancy: duplicate key"):
        load_topology(path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nnetworks: [unclosed\n")
    with pytest.raises(TopologyError, match=r"broken.yaml:\d+: not valid YAML"):
        load_topology(broken)


def test_host_route_overlap_is_refused() -> None:
    with pytest.raises(TopologyError, match=r"subnet: 198.51.100.0/26 overlaps the host.s route 198.51.100.0/25"):
        load_topology(DUAL, host_networks=["198.51.100.0/25", "172.17.0.0/16"])
    load_topology(DUAL, host_networks=["192.0.2.0/24", "0.0.0.0/0"])  # default route never counts


@pytest.mark.parametrize(("text", "ms"), [("200ms", 200), ("3s", 3000), (10, 10000), ("1.5s", 1500), ("1m", 60000)])
def test_durations(text: object, ms: int) -> None:
    assert parse_duration_ms(text) == ms


def test_overrides_round_trip_durations() -> None:
    topo = load_topology(DUAL).with_overrides({"redundancy": "stateless", "hello": "100ms", "hold": "300ms"})
    assert (topo.redundancy, topo.ha.hsrp.hello, topo.ha.hsrp.hold) == ("stateless", 100, 300)
    assert topo.crypto.dpd == 10000 and topo.failover.converge_timeout == 30000

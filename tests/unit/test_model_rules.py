"""The model's rules (issues 11, 13, 14): accepted-invalid values refused with file, line and field; defaults
from defaults.yaml only; equal HSRP groups on two interfaces; the address-ordering warning; the pure helpers."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from labctl.errors import TopologyError
from labctl.model import checks, loader, topology
from labctl.model.helpers import host_address, inside_and_remote_hosts, preferred_gateway
from labctl.model.loader import load_topology, load_with_warnings

ROOT = Path(__file__).resolve().parents[2]
DUAL = ROOT / "topologies" / "dual-interface.yaml"
EASY = ROOT / "topologies" / "easy-vpn.yaml"
SHIPPED = sorted((ROOT / "topologies").glob("*.yaml")) + sorted((ROOT / "tests/container/topologies").glob("*.yaml"))


def variant(tmp_path: Path, base: Path, *edits: tuple[str, str]) -> tuple[Path, str]:
    text = base.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "variant.yaml"
    path.write_text(text)
    return path, text


def line_with(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def refused(path: Path, line: int, field: str, fragment: str) -> None:
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    message = str(caught.value)
    assert f"{path}:{line}: field {field}: " in message, message
    assert fragment in message, message


# ------------------------------------------------------------------ accepted-invalid values, now refused

DUAL_REFUSALS = [
    # (old, new, needle of the reported line, field, fragment)
    ("hello: 200ms", "hello: 0ms", "hello: 0ms", "ha.hsrp.hello", "must be above 0"),
    ("hold: 700ms", "hold: 4294967296ms", "hold: 4294967296ms", "ha.hsrp.hold", "out of range"),
    ("hold: 700ms", "hold: 200ms", "hold: 200ms", "ha.hsrp.hold", "must be greater than hello time (200 ms)"),
    ("hold: 700ms", "hold: 150ms", "hold: 150ms", "ha.hsrp.hold", "must be greater than hello"),
    ("version: 2", "version: 1", "hold: 700ms", None, None),  # v1 with ms timers is fine (sent as 0, as IOS)
    ("preempt: true", "preempt: true\n    preempt_delay: 7200s", "preempt_delay", "ha.hsrp.preempt_delay",
     "less than or equal to 3600000"),
    ("track: {inside: 150}", "track: {inside: -10}", "track: {inside: -10}", "ha.interfaces.0.track.inside",
     "greater than or equal to 1"),
    ("track: {inside: 150}", "track: {inside: 256}", "track: {inside: 256}", "ha.interfaces.0.track.inside",
     "less than or equal to 255"),
    ("gateway: 10.1.0.1}", "gateway: 10.2.0.1}", "inside1:", "hosts.inside1.gateway", "is not on inside1's network"),
    ("gateway: 10.1.0.1}", "gateway: 10.1.0.10}", "inside1:", "hosts.inside1.gateway", "is inside1's own address"),
    ("remote_subnets: [10.2.0.0/24]", "remote_subnets: [10.1.0.0/24]", "remote_subnets", "crypto.remote_subnets.0",
     "overlaps local subnet 10.1.0.0/24"),
    ("remote_subnets: [10.2.0.0/24]", "remote_subnets: [10.1.0.0/25]", "remote_subnets", "crypto.remote_subnets.0",
     "overlaps local subnet"),
    ("psk: lab-psk-0123456789", "psk: 'lab\"psk-0123456789'", "psk:", "crypto.psk", "would break swanctl.conf"),
    ("psk: lab-psk-0123456789", "psk: \"lab-psk\\n0123456789\"", "psk:", "crypto.psk", "contains '\\n'"),
    ("psk: lab-psk-0123456789", "psk: 'lab-psk-01234#6789'", "psk:", "crypto.psk", "contains '#'"),
    ("psk: lab-psk-0123456789", "psk: 'lab-psk-{0123456789}'", "psk:", "crypto.psk", "'{' '}'"),
    ("psk: lab-psk-0123456789", "psk: 'lab psk 0123456789'", "psk:", "crypto.psk", "contains ' '"),
    ("gateway_id: gw.example", "gateway_id: 'gw.example }'", "gateway_id", "crypto.gateway_id", "one word"),
    ("peer_id: peer.example", "peer_id: \"peer\\n}\"", "peer_id", "crypto.peer_id", "written unquoted"),
    ("hold: 700ms", "hold: 700ms\n    auth: 'a\"b'", "auth:", "ha.hsrp.auth", "would break"),
    ("group_name: HA-out", "group_name: 'HA out'", "group_name", "ha.group_name", "should match pattern"),
    ("  local_subnets: [10.1.0.0/24]", "  local_subnets: [10.1.0.0/24]\n  esp_proposals: ['aes256}']",
     "esp_proposals", "crypto.esp_proposals.0", "strongSwan proposal"),
    ("description: Active/standby IPsec gateways with separate outside and inside interfaces",
     "description: \"Active\\n# rm -rf\"", "description", "description", "one line"),
    ("    gw2:\n", "    \"gw2\\nrm -rf /\":\n", "rm -rf", "ha.nodes.'gw2\\nrm -rf /'", "should match pattern"),
    ("hosts:\n", "hosts:\n  \"h\\n1\": {addresses: {inside: 10.1.0.20}, gateway: 10.1.0.1}\n", "h\\n1",
     "hosts.'h\\n1'", "should match pattern"),
    ("inside: {subnet: 10.1.0.0/24}", "inside: {subnet: 'fd00::/64'}", "inside: {subnet", "networks.inside.subnet",
     "IPv4"),
]


@pytest.mark.parametrize(("old", "new", "needle", "field", "fragment"), DUAL_REFUSALS)
def test_refusals_name_file_line_and_field(tmp_path: Path, old: str, new: str, needle: str, field: str | None,
                                           fragment: str | None) -> None:
    path, text = variant(tmp_path, DUAL, (old, new))
    if field is None:
        load_topology(path)
        return
    refused(path, line_with(text, needle), field, fragment or "")


def test_hsrp_v1_timers_fit_one_byte_of_seconds(tmp_path: Path) -> None:
    path, text = variant(tmp_path, DUAL, ("version: 2", "version: 1"), ("hold: 700ms", "hold: 256s"))
    refused(path, line_with(text, "hold: 256s"), "ha.hsrp.hold", "one byte of seconds")
    # stateless: a stateful lab with such a hold is refused by the peer DPD check (test_seed_topologies)
    stateless = ("redundancy: stateful ", "redundancy: stateless ")
    path, text = variant(tmp_path, DUAL, ("version: 2", "version: 1"), ("hold: 700ms", "hold: 255s"), stateless)
    assert load_topology(path).ha.hsrp.hold == 255_000
    path, text = variant(tmp_path, DUAL, ("hold: 700ms", "hold: 4294967295ms"), stateless)  # v2: 4 bytes of ms
    assert load_topology(path).ha.hsrp.hold == 2**32 - 1


EASY_REFUSALS = [
    ("alice: alice-pass", "alice: 'alice\"pass'", "alice:", "easyvpn.users.alice", "would break"),
    ("alice: alice-pass", "'al ice': alice-pass", "al ice", "easyvpn.users.al ice", "one word"),
    ("alice: alice-pass", "\"al\\tice\": alice-pass", "al\\tice", "easyvpn.users.'al\\tice'", "one word"),
    ("group: unity", "group: 'unity}'", "group: 'unity}'", "easyvpn.group", "written unquoted"),
    ("group_psk: cisco123-group-key", "group_psk: 'cisco123%{group}'", "group_psk", "easyvpn.group_psk", "'%'"),
    ("secret: radius123", "secret: 'radius 123'", "secret:", "easyvpn.radius.secret", "would break"),
    ("secret: radius123", "secret: 'radius#123'", "secret:", "easyvpn.radius.secret", "contains '#'"),
    ("first_address: 10.31.0.101", "first_address: 255.255.255.254", "first_address", "easyvpn.clients.first_address",
     "run past the last IPv4 address"),
]


@pytest.mark.parametrize(("old", "new", "needle", "field", "fragment"), EASY_REFUSALS)
def test_easyvpn_text_refusals(tmp_path: Path, old: str, new: str, needle: str, field: str, fragment: str) -> None:
    path, text = variant(tmp_path, EASY, (old, new))
    refused(path, line_with(text, needle), field, fragment)


def test_client_override_text_is_checked(tmp_path: Path) -> None:
    base = ROOT / "tests/container/topologies/easyvpn-failures.yaml"
    path, text = variant(tmp_path, base, ("{password: not-bobs-password}", "{password: 'not\"bobs'}"))
    refused(path, line_with(text, "not\"bobs"), "easyvpn.clients.overrides.client2.password", "would break")


def test_path_with_a_newline_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "x\ntouch pwned"
    directory.mkdir()
    path = directory / "t.yaml"
    path.write_text(DUAL.read_text())
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    message = str(caught.value)
    assert message.startswith(repr(str(path)) + ":1: field (path): ")
    assert "\n" not in message


def test_overrides_are_checked_like_the_file() -> None:
    topo = load_topology(DUAL)
    with pytest.raises(TopologyError, match=r"override ha.hsrp.hold: .*greater than hello"):
        topo.with_overrides({"hello": "500ms", "hold": "400ms"})
    with pytest.raises(TopologyError, match=r"override hello/hold: expected a duration"):
        topo.with_overrides({"hello": "soon"})


# ------------------------------------------------------------------ unknown fields: did you mean

@pytest.mark.parametrize(
    ("old", "new", "field", "guess"),
    [
        ("ike_version: 2", "ike_versoin: 2", "crypto.ike_versoin", "ike_version"),
        ("preempt: true", "premept: true", "ha.hsrp.premept", "preempt"),
        ("      priority: 110", "      prority: 110", "ha.nodes.gw1.prority", "priority"),
        ("      crypto: true ", "      crypt: true ", "ha.interfaces.0.crypt", "crypto"),
        ("\npeers:", "\npeer:", "peer", "peers"),
        ("  remote1: {addresses", "  remote1: {adresses", "hosts.remote1.adresses", "addresses"),
    ],
)
def test_unknown_field_suggests_the_nearest(tmp_path: Path, old: str, new: str, field: str, guess: str) -> None:
    path, text = variant(tmp_path, DUAL, (old, new))
    refused(path, line_with(text, new.strip()), field, f"did you mean {guess!r}?")


def test_unknown_field_without_a_near_name_lists_the_fields(tmp_path: Path) -> None:
    path, text = variant(tmp_path, DUAL, ("preempt: true", "preempt: true\n    zzzz: 1"))
    refused(path, line_with(text, "zzzz"), "ha.hsrp.zzzz", "fields here: version, hello, hold")


# ------------------------------------------------------------------ defaults live in defaults.yaml only

def _models() -> list[type[BaseModel]]:
    return [m for m in vars(topology).values()
            if isinstance(m, type) and issubclass(m, topology.Strict) and m is not topology.Strict]


def test_no_model_field_carries_a_default_value() -> None:
    """A default value in a pydantic field would be a second source next to defaults.yaml: only absence
    (None, an empty list or mapping) may be declared in the model."""
    for model in _models():
        for name, field in model.model_fields.items():
            if field.default_factory is not None:
                assert field.default_factory() in ([], {}), f"{model.__name__}.{name}"
            else:
                assert field.default in (PydanticUndefined, None), f"{model.__name__}.{name} = {field.default!r}"


def _paths(defaults: object, model: object, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, model annotation) for every key of defaults.yaml, resolving `?`, `*` and `[ {} ]`."""
    found = []
    if isinstance(defaults, list):
        return _paths(defaults[0], typing.get_args(loader._unwrap(model))[0], prefix + "[]")
    if not isinstance(defaults, dict):
        return found
    for key, value in defaults.items():
        if key == "*":
            found += _paths(value, typing.get_args(loader._unwrap(model))[1], f"{prefix}.*")
            continue
        name = key.removesuffix("?")
        cls = loader._unwrap(model)
        assert isinstance(cls, type) and issubclass(cls, BaseModel), f"{prefix}.{name}: {cls}"
        assert name in cls.model_fields, f"defaults.yaml {prefix}.{name} is no model field"
        annotation = cls.model_fields[name].annotation
        found.append((f"{prefix}.{name}", annotation))
        found += _paths(value, annotation, f"{prefix}.{name}")
    return found


def test_every_default_is_a_model_field() -> None:
    paths = dict(_paths(loader._defaults(), topology.Topology))
    assert {".ha.hsrp.hello", ".ha.nodes.*.priority", ".routers.*.ospf.timers.dead", ".easyvpn.radius.auth_port",
            ".ha.interfaces[].crypto", ".failover.max_outage_ms"} <= set(paths)


def test_defaults_apply_where_the_file_is_silent(tmp_path: Path) -> None:
    path, _text = variant(tmp_path, DUAL, ("      priority: 110\n", ""), ("    hello: 200ms", "    hello: 3s"),
                          ("    hold: 700ms\n", ""))
    topo = load_topology(path)
    defaults = yaml.safe_load((ROOT / "labctl/model/defaults.yaml").read_text())
    assert topo.ha.nodes["gw1"].priority == defaults["ha"]["nodes"]["*"]["priority"] == 100
    assert topo.ha.hsrp.hold == topology.parse_duration_ms(defaults["ha"]["hsrp"]["hold"]) == 10_000
    assert topo.ha.hsrp.auth == "cisco" and topo.ha.interfaces[1].crypto is False
    assert topo.ha.ospf is None and topo.easyvpn is None  # optional sections stay absent
    ospf = load_topology(ROOT / "topologies/dual-interface-ospf.yaml")
    assert ospf.routers["r-inside"].ospf is not None
    assert ospf.routers["r-inside"].ospf.timers.hello == 250
    easy = load_topology(EASY)
    assert easy.easyvpn is not None and easy.easyvpn.radius is not None
    assert (easy.easyvpn.radius.auth_port, easy.easyvpn.radius.acct_port, easy.easyvpn.dpd) == (1812, 1813, 5000)


def test_merge_rules() -> None:
    merge = loader._merge_defaults
    defaults = {"a": 1, "opt?": {"x": 1}, "each": {"*": {"p": 100}}, "items": [{"c": False}], "sub": {"b": 2}}
    assert merge(defaults, {}) == {"a": 1, "sub": {"b": 2}}
    assert merge(defaults, {"opt": {}, "each": {"n1": {}, "n2": {"p": 5}}, "items": [{}, {"c": True}]}) == {
        "a": 1, "sub": {"b": 2}, "opt": {"x": 1}, "each": {"n1": {"p": 100}, "n2": {"p": 5}},
        "items": [{"c": False}, {"c": True}]}
    assert merge(defaults, {"opt": None, "each": [1], "sub": "text"}) == {"a": 1, "opt": None, "each": [1],
                                                                         "sub": "text"}


def test_shipped_topologies_still_valid_with_their_values() -> None:
    for path in SHIPPED:
        topo, warnings = load_with_warnings(path)
        assert warnings == [], path
    dual = load_topology(DUAL)
    assert (dual.ha.hsrp.version, dual.ha.hsrp.preempt_delay, dual.crypto.dpd, dual.failover.max_outage_ms) == (
        2, 0, 10000, None)
    assert (dual.failover.takeover_allowance, dual.failover.max_loss_percent) == (150, 0.5)
    assert dual.crypto.esp_proposals == ["aes256-sha256"] and dual.ha.replay_interval.outbound == 10000


# ------------------------------------------------------------------ issue 13: equal groups, election, warning

def test_same_group_number_inside_and_outside_is_accepted(tmp_path: Path) -> None:
    path, _text = variant(tmp_path, DUAL, ("group: 2", "group: 1"))
    topo = load_topology(path)
    assert [i.group for i in topo.ha.interfaces] == [1, 1]


def test_same_group_twice_on_one_network_is_refused(tmp_path: Path) -> None:
    path, text = variant(tmp_path, DUAL,
                         ("    - network: inside\n      group: 2", "    - network: outside\n      group: 1"),
                         ("virtual_ip: 10.1.0.1", "virtual_ip: 198.51.100.4"))
    refused(path, line_with(text, "virtual_ip: 198.51.100.4") - 1, "ha.interfaces.1.group",
            "HSRP group 1 is already configured on outside")


def test_preferred_gateway_follows_rfc2281(tmp_path: Path) -> None:
    assert preferred_gateway(load_topology(DUAL)) == "gw1"  # priority 110 beats 100
    path, _text = variant(tmp_path, DUAL, ("priority: 110", "priority: 100"))
    assert preferred_gateway(load_topology(path)) == "gw2"  # equal: higher outside address .12 wins
    path, _text = variant(tmp_path, DUAL, ("priority: 110", "priority: 100"),
                          ("outside: 198.51.100.11", "outside: 198.51.100.13"))
    assert preferred_gateway(load_topology(path)) == "gw1"  # equal: now gw1 has the higher outside address
    path, _text = variant(tmp_path, DUAL, ("priority: 110", "priority: 90"))
    assert preferred_gateway(load_topology(path)) == "gw2"  # not "the first node"


def test_preferred_gateway_compares_addresses_numerically(tmp_path: Path) -> None:
    path, _text = variant(tmp_path, DUAL, ("priority: 110", "priority: 100"),
                          ("outside: 198.51.100.11", "outside: 198.51.100.60"),
                          ("inside: 10.1.0.11", "inside: 10.1.0.100"))
    assert preferred_gateway(load_topology(path)) == "gw1"  # .60 > .12 as numbers, not as text


def test_address_ordering_warning(tmp_path: Path) -> None:
    path, text = variant(tmp_path, DUAL, ("inside: 10.1.0.11", "inside: 10.1.0.13"))
    topo, warnings = load_with_warnings(path)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{path}:{line_with(text, 'inside: 10.1.0.12')}: field ha.nodes.gw2.addresses"
                                  ".inside: warning: ")
    assert "ordered differently on inside than on outside" in warnings[0]
    assert checks.check_warnings(topo) and not checks.check_warnings(load_topology(DUAL))


def test_probe_endpoints() -> None:
    dual = load_topology(DUAL)
    assert inside_and_remote_hosts(dual) == ("inside1", "remote1")
    assert host_address(dual, "remote1") == "10.2.0.10"
    assert inside_and_remote_hosts(load_topology(EASY)) == ("inside1", None)
    ospf = load_topology(ROOT / "topologies/dual-interface-ospf.yaml")
    assert inside_and_remote_hosts(ospf) == ("inside1", "remote1")
    assert host_address(ospf, "inside1") == "10.64.0.10"


# ------------------------------------------------------------------ JSON Schema: defaults.yaml shown to editors

def test_json_schema_takes_its_defaults_from_defaults_yaml() -> None:
    from labctl.model.schema import topology_json_schema

    schema = topology_json_schema()
    defs = schema["$defs"]
    assert schema["required"] == ["name", "networks", "ha", "crypto"]  # what a user must write
    assert schema["properties"]["redundancy"]["default"] == "stateful"
    assert defs["HsrpTimers"].get("required", []) == []
    assert defs["HsrpTimers"]["properties"]["hello"]["default"] == "3s"
    assert defs["HaNode"]["required"] == ["addresses"] and defs["HaNode"]["properties"]["priority"]["default"] == 100
    assert "interfaces" in defs["HaPair"]["required"] and "nodes" in defs["HaPair"]["required"]
    assert defs["RadiusServer"]["properties"]["auth_port"]["default"] == 1812
    assert defs["Crypto"]["properties"]["ike_proposals"]["default"] == ["aes256-sha256-modp2048"]
    hello = defs["HsrpTimers"]["properties"]["hello"]
    assert hello["anyOf"][0]["type"] == "string"  # a duration is written as text (200ms), stored as ms

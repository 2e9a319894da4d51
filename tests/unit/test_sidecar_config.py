"""The sidecar's typed config: reads what the renderer writes, round-trips, and names a bad key."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

import labctl
from labctl.model.loader import load_topology
from labctl.render import render_lab
from labctl.sidecar import config as config_mod
from labctl.sidecar.config import (
    ConfigError,
    GroupSettings,
    HsrpSettings,
    ReplayInterval,
    RriSettings,
    SidecarConfig,
    SsoSettings,
)
from labctl.sidecar.contract import SSO_PORT

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = next(d for d in (Path(labctl.__file__).parent / "topologies", ROOT / "topologies") if d.is_dir())
SIDECAR_JSON = "/etc/labctl/sidecar.json"

# exactly what templates/sidecar.json.j2 rendered for gw1 of dual-interface.yaml before the typed config
LEGACY = {
    "_comment": "labctl HSRP/SSO sidecar config for gw1 in lab dual; rendered from ",
    "lab": "dual", "node": "gw1", "redundancy": "stateful", "group_name": "HA-out", "priority": 110,
    "hsrp": {"version": 2, "hello_ms": 200, "hold_ms": 700, "preempt": True, "preempt_delay_ms": 0,
             "reload_delay_ms": 0, "auth": "cisco"},
    "groups": [
        {"network": "outside", "group": 1, "virtual_ip": "198.51.100.3", "local_ip": "198.51.100.11",
         "prefixlen": 24, "track": {"inside": 150}, "crypto": True},
        {"network": "inside", "group": 2, "virtual_ip": "10.1.0.1", "local_ip": "10.1.0.11",
         "prefixlen": 24, "track": {"outside": 150}, "crypto": False},
    ],
    "sso": {"local_ip": "10.9.0.11", "peer_ip": "10.9.0.12", "port": 4520, "key": "labctl-sso-key"},
    "ha_plugin": True, "sequence_continuity": "rekey", "replay_interval": {"inbound": 1000, "outbound": 10000},
    "rri": {"enabled": True, "routes": ["10.2.0.0/24"], "remote_peer": False},
}


def legacy() -> dict[str, Any]:
    return copy.deepcopy(LEGACY)


def built() -> SidecarConfig:
    """The same config, built from Python values as the host-side renderer does."""
    return SidecarConfig(
        lab="dual", node="gw1", redundancy="stateful", group_name="HA-out", priority=110,
        hsrp=HsrpSettings(version=2, hello_ms=200, hold_ms=700, preempt=True, preempt_delay_ms=0,
                          reload_delay_ms=0, auth="cisco"),
        groups=[GroupSettings(network="outside", group=1, virtual_ip="198.51.100.3", local_ip="198.51.100.11",
                              prefixlen=24, track={"inside": 150}, crypto=True),
                GroupSettings(network="inside", group=2, virtual_ip="10.1.0.1", local_ip="10.1.0.11",
                              prefixlen=24, track={"outside": 150}, crypto=False)],
        sso=SsoSettings(local_ip="10.9.0.11", peer_ip="10.9.0.12", key="labctl-sso-key"),
        ha_plugin=True, sequence_continuity="rekey", replay_interval=ReplayInterval(inbound=1000, outbound=10000),
        rri=RriSettings(enabled=True, routes=["10.2.0.0/24"], remote_peer=False),
        comment="labctl HSRP/SSO sidecar config for gw1 in lab dual; rendered from ",
    )


def test_the_legacy_template_json_loads_and_round_trips() -> None:
    cfg = SidecarConfig.from_dict(legacy())
    assert cfg == built()
    assert cfg.to_dict() == LEGACY
    assert json.loads(cfg.to_json()) == LEGACY and cfg.to_json().endswith("\n")
    assert SidecarConfig.from_json(cfg.to_json()) == cfg


def test_python_values_become_immutable() -> None:
    cfg = built()
    assert cfg.groups[0].track == {"inside": 150} and isinstance(cfg.groups, tuple)
    assert cfg.rri.routes == ("10.2.0.0/24",)
    assert cfg.sso.port == SSO_PORT == 4520
    assert cfg.crypto_group.virtual_ip == "198.51.100.3"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.node = "gw2"  # type: ignore[misc]
    track = {"inside": 150}
    group = GroupSettings(network="o", group=1, virtual_ip="1.2.3.4", local_ip="1.2.3.5", prefixlen=24,
                          track=track, crypto=True)
    track["other"] = 1
    assert group.track == {"inside": 150}  # a private copy
    assert hash(cfg) == hash(built())  # usable as a key although track is a dict


@pytest.mark.parametrize("topology", sorted(p.name for p in TOPOLOGIES.glob("*.yaml")))
@pytest.mark.parametrize("sabotage", [(), ("no-sync", "no-rekey", "no-rri")])
def test_every_rendered_sidecar_config_loads(topology: str, sabotage: tuple[str, ...]) -> None:
    topo = load_topology(TOPOLOGIES / topology)
    gateways = [node for node in render_lab(topo, sabotage=sabotage).values() if SIDECAR_JSON in node.files]
    assert len(gateways) == 2
    for node in gateways:
        data = json.loads(node.files[SIDECAR_JSON])
        cfg = SidecarConfig.from_dict(data)
        assert cfg.node == node.name and cfg.to_dict() == data
        assert cfg.ha_plugin is (topo.redundancy == "stateful" and not sabotage)


def test_load_reads_a_file_and_names_it_on_error(tmp_path: Path) -> None:
    path = tmp_path / "sidecar.json"
    path.write_text(json.dumps(LEGACY))
    assert SidecarConfig.load(path) == built() == config_mod.load(str(path))
    data = legacy()
    del data["hsrp"]["hold_ms"]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=rf"^{path}: sidecar config: missing key hsrp\.hold_ms$"):
        SidecarConfig.load(path)
    with pytest.raises(ConfigError, match=r"sidecar config .*absent\.json: No such file"):
        SidecarConfig.load(tmp_path / "absent.json")
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        SidecarConfig.load(path)


def _drop(path: tuple[Any, ...]) -> dict[str, Any]:
    data = legacy()
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


@pytest.mark.parametrize(("path", "named"), [
    (("node",), "node"),
    (("hsrp",), "hsrp"),
    (("hsrp", "preempt"), "hsrp.preempt"),
    (("groups", 1, "prefixlen"), "groups[1].prefixlen"),
    (("groups", 0, "crypto"), "groups[0].crypto"),
    (("sso", "key"), "sso.key"),
    (("replay_interval", "outbound"), "replay_interval.outbound"),
    (("rri", "remote_peer"), "rri.remote_peer"),
])
def test_a_missing_key_is_named(path: tuple[Any, ...], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        SidecarConfig.from_dict(_drop(path))
    assert str(err.value) == f"sidecar config: missing key {named}"


def test_keys_with_a_default_may_be_missing() -> None:
    cfg = SidecarConfig.from_dict(_drop(("sso", "port")))
    assert cfg.sso.port == 4520
    assert SidecarConfig.from_dict(_drop(("_comment",))).comment == ""


def _set(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = legacy()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value", "message"), [
    (("priority",), "110", "priority must be integer, got string '110'"),
    (("priority",), True, "priority must be integer, got boolean True"),
    (("priority",), 110.0, "priority must be integer, got number 110.0"),
    (("priority",), 2**63, "priority must be integer, got integer"),
    (("hsrp", "preempt"), 1, "hsrp.preempt must be boolean, got integer 1"),
    (("hsrp", "auth"), None, "hsrp.auth must be string, got null None"),
    (("hsrp", "auth_md5_key"), 5, "hsrp.auth_md5_key must be string or null, got integer 5"),
    (("groups",), {"a": 1}, "groups must be list, got object"),
    (("groups", 0), "outside", "groups[0] must be an object, got string"),
    (("groups", 1, "track"), ["outside"], "groups[1].track must be object, got list"),
    (("groups", 1, "track"), {"outside": "150"}, "groups[1].track.outside must be integer, got string '150'"),
    (("rri", "routes"), "10.2.0.0/24", "rri.routes must be list, got string"),
    (("rri", "routes"), [24], "rri.routes[0] must be string, got integer 24"),
    (("sso",), [], "sso must be an object, got list"),
])
def test_a_mistyped_key_is_named(path: tuple[Any, ...], value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        SidecarConfig.from_dict(_set(path, value))
    assert str(err.value).startswith(f"sidecar config: {message}")


def test_unknown_keys_and_non_objects_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^sidecar config: unknown key hsrp\.hello$"):
        SidecarConfig.from_dict(_set(("hsrp", "hello"), 200))
    with pytest.raises(ConfigError, match=r"^sidecar config: unknown key groups\[0\]\.vip$"):
        SidecarConfig.from_dict(_set(("groups", 0, "vip"), "1.2.3.4"))
    for data in ([LEGACY], "config", None, 7):
        with pytest.raises(ConfigError, match="^sidecar config: top level must be an object"):
            SidecarConfig.from_dict(data)


@pytest.mark.parametrize(("path", "value", "message"), [
    (("redundancy",), "hot", "top level: redundancy must be one of stateful, stateless, not 'hot'"),
    (("groups", 1, "crypto"), True, "top level: exactly one group must have crypto: true, not 2"),
    (("groups", 0, "crypto"), False, "top level: exactly one group must have crypto: true, not 0"),
    (("groups", 1, "prefixlen"), 33, "groups[1]: prefixlen 33 out of range 0-32"),
    (("groups", 1, "prefixlen"), -1, "groups[1]: prefixlen -1 out of range 0-32"),
    (("sso", "port"), 0, "sso: port 0 out of range 1-65535"),
    (("sso", "port"), 65536, "sso: port 65536 out of range 1-65535"),
])
def test_inconsistent_values_are_refused(path: tuple[Any, ...], value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        SidecarConfig.from_dict(_set(path, value))
    assert str(err.value) == f"sidecar config: {message}"


def test_edge_values_are_accepted() -> None:
    assert SidecarConfig.from_dict(_set(("groups", 1, "prefixlen"), 32)).groups[1].prefixlen == 32
    assert SidecarConfig.from_dict(_set(("groups", 1, "prefixlen"), 0)).groups[1].prefixlen == 0
    assert SidecarConfig.from_dict(_set(("sso", "port"), 65535)).sso.port == 65535
    assert SidecarConfig.from_dict(_set(("sso", "port"), 1)).sso.port == 1
    assert SidecarConfig.from_dict(_set(("redundancy",), "stateless")).redundancy == "stateless"
    assert SidecarConfig.from_dict(_set(("groups", 1, "track"), {})).groups[1].track == {}


def test_construction_from_python_is_validated_too() -> None:
    cfg = built()
    with pytest.raises(ConfigError, match="redundancy must be one of"):
        dataclasses.replace(cfg, redundancy="warm")
    with pytest.raises(ConfigError, match="exactly one group"):
        dataclasses.replace(cfg, groups=[dataclasses.replace(g, crypto=False) for g in cfg.groups])


def test_optional_hsrp_settings_appear_only_when_set() -> None:
    cfg = built()
    assert "auth_md5_key" not in cfg.to_dict()["hsrp"] and "minimum_delay_ms" not in cfg.to_dict()["hsrp"]
    md5 = dataclasses.replace(cfg, hsrp=dataclasses.replace(cfg.hsrp, auth_md5_key="s3cret", minimum_delay_ms=30))
    data = md5.to_dict()
    assert (data["hsrp"]["auth_md5_key"], data["hsrp"]["minimum_delay_ms"]) == ("s3cret", 30)
    assert SidecarConfig.from_dict(data) == md5
    assert SidecarConfig.from_dict(_set(("hsrp", "auth_md5_key"), None)).hsrp.auth_md5_key is None

"""Rendering: the files a node runs with carry the topology's values, and sabotage changes them."""

from __future__ import annotations

import json
from pathlib import Path

from labctl.model.loader import load_topology
from labctl.render import render_lab, write_rendered
from labctl.sidecar.swanctl import parse_pretty

ROOT = Path(__file__).resolve().parents[2]
TOPO = load_topology(ROOT / "topologies" / "dual-interface.yaml")


def conf_sections(text: str) -> dict:
    """strongswan.conf/swanctl.conf use the same `name {` / `key = value` shape as vici's dump."""
    return dict(parse_pretty("root {\n" + "\n".join(line for line in text.splitlines()
                                                  if not line.strip().startswith(("#", "include"))) + "\n}"))["root"]


def test_gateways_share_identical_swanctl_conf() -> None:
    nodes = render_lab(TOPO)
    assert nodes["gw1"].files["/etc/swanctl/swanctl.conf"] == nodes["gw2"].files["/etc/swanctl/swanctl.conf"]
    site = conf_sections(nodes["gw1"].files["/etc/swanctl/swanctl.conf"])["connections"]["site"]
    assert site["local_addrs"] == "198.51.100.3" and site["remote_addrs"] == "198.51.100.50"
    assert site["mobike"] == "no"
    assert site["children"]["net"]["local_ts"] == "10.1.0.0/24"


def test_ha_plugin_points_at_the_other_node() -> None:
    conf = conf_sections(render_lab(TOPO)["gw2"].files["/etc/strongswan.conf"])
    ha = conf["charon"]["plugins"]["ha"]
    assert (ha["local"], ha["remote"], ha["monitor"]) == ("10.9.0.12", "10.9.0.11", "no")
    assert conf["charon"]["plugins"]["kernel-libipsec"]["load"] == "yes"


def test_sidecar_config_and_sabotage() -> None:
    good = json.loads(render_lab(TOPO)["gw1"].files["/etc/labctl/sidecar.json"])
    assert good["priority"] == 110 and good["hsrp"]["hold_ms"] == 700
    assert [g["virtual_ip"] for g in good["groups"]] == ["198.51.100.3", "10.1.0.1"]
    assert good["ha_plugin"] and good["sequence_continuity"] == "replay-sync" and good["rri"]["enabled"]
    bad_nodes = render_lab(TOPO, sabotage=("no-sync", "no-rekey", "no-rri"))
    bad = json.loads(bad_nodes["gw1"].files["/etc/labctl/sidecar.json"])
    assert not bad["ha_plugin"] and bad["sequence_continuity"] == "off" and not bad["rri"]["enabled"]
    assert "ha { load = no }" in bad_nodes["gw1"].files["/etc/strongswan.conf"]


def test_sequence_continuity_rekey_is_rendered_and_no_rekey_turns_it_off() -> None:
    rekey = TOPO.model_copy(update={"ha": TOPO.ha.model_copy(update={"sequence_continuity": "rekey"})})
    conf = json.loads(render_lab(rekey)["gw2"].files["/etc/labctl/sidecar.json"])
    assert conf["sequence_continuity"] == "rekey"
    off = json.loads(render_lab(rekey, sabotage=("no-rekey",))["gw2"].files["/etc/labctl/sidecar.json"])
    assert off["sequence_continuity"] == "off" and off["ha_plugin"]  # neither replay sync nor rekey, sync kept


def test_peer_and_hosts(tmp_path: Path) -> None:
    nodes = render_lab(TOPO)
    peer = conf_sections(nodes["peer"].files["/etc/swanctl/swanctl.conf"])["connections"]["site"]
    assert peer["remote_addrs"] == "198.51.100.3" and peer["children"]["net"]["start_action"] == "start"
    assert "ip route replace default via 10.1.0.1" in nodes["inside1"].files["/etc/labctl/init.sh"]
    written = write_rendered(nodes, tmp_path)
    assert (tmp_path / "gw1" / "etc" / "strongswan.conf") in written


def test_rendered_secrets_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    written = write_rendered(render_lab(TOPO, "dual-interface.yaml"), tmp_path)
    modes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777 for p in written}
    assert modes["gw1/etc/swanctl/swanctl.conf"] == modes["peer/etc/swanctl/swanctl.conf"] == 0o600
    assert modes["gw1/etc/labctl/sidecar.json"] == 0o600
    assert modes["gw1/etc/labctl/init.sh"] == 0o755


def test_hsrp_md5_key_and_delay_minimum_reach_the_sidecars_hsrp_groups(tmp_path: Path) -> None:
    from labctl.sidecar.config import SidecarConfig
    from labctl.sidecar.policy import hsrp_config

    text = (ROOT / "topologies" / "dual-interface.yaml").read_text()
    path = tmp_path / "md5.yaml"
    path.write_text(text.replace("  hsrp:\n", "  hsrp:\n    auth_md5: s3cret-key\n    delay_minimum: 2s\n", 1))
    topo = load_topology(path)
    config = SidecarConfig.from_json(render_lab(topo)["gw1"].files["/etc/labctl/sidecar.json"])
    group = hsrp_config(config, config.groups[0])
    assert (group.auth_md5_key, group.minimum_delay_ms) == ("s3cret-key", 2000)
    plain = SidecarConfig.from_json(render_lab(TOPO)["gw1"].files["/etc/labctl/sidecar.json"])
    assert (hsrp_config(plain, plain.groups[0]).auth_md5_key, plain.hsrp.minimum_delay_ms) == (None, None)

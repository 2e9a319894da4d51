"""`labctl render --compose`: the same networks, containers and labels as `up`, and the committed top-level
docker-compose.yml in sync with the dual-interface topology and templates."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from labctl.model.loader import load_topology
from labctl.render.compose import render_compose
from labctl.runtime import labels
from labctl.runtime.spec import bridge_name, container_name

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = "topologies/dual-interface.yaml"


def compose(sabotage: tuple[str, ...] = ()) -> dict:
    text = render_compose(load_topology(ROOT / TOPOLOGY), TOPOLOGY, sabotage)
    return yaml.safe_load(text)


def test_top_level_compose_file_is_the_rendered_default_lab() -> None:
    committed = (ROOT / "docker-compose.yml").read_text()
    assert committed == render_compose(load_topology(ROOT / TOPOLOGY), TOPOLOGY), (
        "docker-compose.yml is stale: run `make compose` "
        "(labctl render topologies/dual-interface.yaml --compose --out docker-compose.yml)")


def test_networks_match_up() -> None:
    topo = load_topology(ROOT / TOPOLOGY)
    networks = compose()["networks"]
    assert set(networks) == set(topo.networks)
    outside = networks["outside"]
    assert outside["name"] == "labctl-dual-outside" and outside["internal"] is True
    assert outside["driver_opts"] == {"com.docker.network.bridge.name": bridge_name("dual", "outside")}
    assert outside["labels"] == {labels.LAB: "dual", labels.NETWORK: "outside"}
    assert outside["ipam"]["config"] == [{"subnet": "198.51.100.0/26", "gateway": "198.51.100.62"}]


def test_services_match_up_and_carry_their_files() -> None:
    topo = load_topology(ROOT / TOPOLOGY)
    services = compose(("no-rri",))["services"]
    assert set(services) == {"firewall", *topo.node_names()}
    gw1 = services["gw1"]
    assert gw1["container_name"] == container_name("dual", "gw1") and gw1["image"] == "labctl/node:latest"
    assert gw1["labels"][labels.LAB] == "dual" and gw1["labels"][labels.ROLE] == "ha-gateway"
    assert gw1["labels"][labels.SABOTAGE] == "no-rri" and gw1["labels"][labels.TOPOLOGY] == TOPOLOGY
    assert gw1["networks"]["outside"] == {"ipv4_address": "198.51.100.11"}
    assert gw1["devices"] == ["/dev/net/tun:/dev/net/tun"] and "NET_ADMIN" in gw1["cap_add"]
    script = gw1["entrypoint"][2]
    for path in ("/etc/strongswan.conf", "/etc/swanctl/swanctl.conf", "/etc/labctl/sidecar.json"):
        assert f"cat > {path} <<'LABCTL_EOF'" in script
    assert script.rstrip().endswith("exec /bin/sh /etc/labctl/init.sh")
    assert "load = yes" in script  # kernel-libipsec: userspace ESP works on every kernel
    assert services["remote1"]["image"] == "labctl/host:latest"


def test_dollars_are_escaped_for_compose_interpolation() -> None:
    text = render_compose(load_topology(ROOT / TOPOLOGY), TOPOLOGY)
    body = text.split("\nversion:", 1)[1]
    # every `$` is doubled (compose turns `$$` into a literal `$`) except the secrets compose must fill in
    variables = re.findall(r"(?<!\$)\$\{([A-Z_]+):\?", body.replace("$$", ""))
    assert "$" in body and set(variables) == {"LABCTL_PSK", "LABCTL_SSO_KEY"}
    assert body.replace("$$", "").count("$") == len(variables)


def test_firewall_service_allows_only_the_lab_bridges_and_cleans_up() -> None:
    firewall = compose()["services"]["firewall"]
    assert firewall["network_mode"] == "host" and "ports" not in firewall
    script = firewall["entrypoint"][2]
    bridges = [bridge_name("dual", n) for n in ("outside", "inside", "sync", "remote-lan")]
    assert f"bridges='{' '.join(bridges)}'" in script
    assert '-i "$$br" -o "$$br" -m comment --comment labctl.lab=dual -j ACCEPT' in script
    assert "trap cleanup TERM INT" in script and "-D DOCKER-USER" in script
    assert firewall["labels"][labels.LAB] == "dual"


def test_the_committed_compose_file_carries_no_secret() -> None:
    """The PSK and the SSO key come from the environment (.env), so a shared compose file leaks neither."""
    topo = load_topology(ROOT / TOPOLOGY)
    text = (ROOT / "docker-compose.yml").read_text()
    assert topo.crypto.psk and topo.crypto.psk not in text
    assert 'secret = "${LABCTL_PSK:?' in text
    sidecar = [line for line in text.splitlines() if '"key":' in line]
    assert sidecar and all("${LABCTL_SSO_KEY:?" in line for line in sidecar)


def test_only_the_gateways_keep_run_in_ram() -> None:
    """The nodes faults kill and restart start with an empty /run (stale sockets on the overlay could not be
    removed after a restart and charon never loaded its config); the same in the demo as with `labctl up`."""
    services = compose()["services"]
    with_tmpfs = {name for name, service in services.items() if "tmpfs" in service}
    assert with_tmpfs == {"gw1", "gw2"}, with_tmpfs
    assert services["gw1"]["tmpfs"] == ["/run:mode=0755"]

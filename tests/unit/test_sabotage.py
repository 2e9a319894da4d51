"""The takeover sabotages (`slow-takeover`, `lossy-takeover`, `mute-ike`): what each switches, on which
gateway only, what the rendered sidecar config and init script hold, and the sidecar's delayed VIP claim."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from labctl.errors import LabctlError
from labctl.model.loader import load_topology
from labctl.model.sabotage import (
    LOSSY_TAKEOVER_PERCENT,
    SABOTAGE_TABLE,
    SABOTAGES,
    SLOW_TAKEOVER_MS,
    Switches,
    gateway_switches,
    switches,
    takeover_gateway,
)
from labctl.nodes.links import NFT_TABLE
from labctl.render import render_lab
from labctl.sidecar import __main__ as main_mod
from labctl.sidecar.config import ConfigError, SidecarConfig
from labctl.sidecar.hsrp import fsm
from tests.unit.test_sidecar_config import LEGACY

ROOT = Path(__file__).resolve().parents[2]
TOPO_FILE = ROOT / "topologies" / "dual-interface.yaml"
TOPO = load_topology(TOPO_FILE)
INIT = "/etc/labctl/init.sh"
SIDECAR = "/etc/labctl/sidecar.json"


# ---------------------------------------------------------------- the switches, in one place


def test_the_new_variants_are_known_and_switch_only_their_own_thing() -> None:
    for name in ("slow-takeover", "lossy-takeover", "mute-ike"):
        assert name in SABOTAGES
    healthy = switches("stateful", True)
    assert healthy == Switches(True, True, True, 0, 0, False)
    assert switches("stateful", True, ("slow-takeover",)) == Switches(True, True, True, SLOW_TAKEOVER_MS, 0, False)
    assert switches("stateful", True, ("lossy-takeover",)) == \
        Switches(True, True, True, 0, LOSSY_TAKEOVER_PERCENT, False)
    assert switches("stateful", True, ["mute-ike"]) == Switches(True, True, True, 0, 0, True)
    assert switches("stateless", False, ("no-rri",)) == Switches(False, True, False, 0, 0, False)
    with pytest.raises(LabctlError, match="unknown sabotage 'mute'"):
        switches("stateful", True, ("mute",))


def test_the_slow_takeover_sits_between_the_derived_and_the_old_budget() -> None:
    hold = TOPO.ha.hsrp.hold
    assert hold + TOPO.failover.takeover_allowance < hold + SLOW_TAKEOVER_MS  # over the derived budget
    assert hold + SLOW_TAKEOVER_MS + 300 < 3000  # inside the old flat 3 s, with room for the takeover itself
    assert 0.5 < LOSSY_TAKEOVER_PERCENT < 100


def test_only_the_gateway_that_takes_over_is_sabotaged(tmp_path: Path) -> None:
    assert takeover_gateway(TOPO) == "gw2"  # gw1 (priority 110) is preferred
    for name in ("slow-takeover", "lossy-takeover", "mute-ike"):
        assert gateway_switches(TOPO, "gw1", (name,)) == switches("stateful", True)
        assert gateway_switches(TOPO, "gw2", (name,)) == switches("stateful", True, (name,))
    # the lab-wide ones stay on both gateways
    assert gateway_switches(TOPO, "gw1", ("no-sync",)).state_sync is False
    swapped = tmp_path / "swapped.yaml"
    swapped.write_text(TOPO_FILE.read_text().replace("priority: 100", "priority: 120"))
    topo = load_topology(swapped)
    assert takeover_gateway(topo) == "gw1"
    assert gateway_switches(topo, "gw1", ("mute-ike",)).mute_ike is True
    assert gateway_switches(topo, "gw2", ("mute-ike",)).mute_ike is False


# ---------------------------------------------------------------- what is rendered


def sidecar_json(sabotage: tuple[str, ...], node: str) -> dict[str, Any]:
    return json.loads(render_lab(TOPO, sabotage=sabotage)[node].files[SIDECAR])


def test_slow_takeover_is_a_sidecar_delay_on_the_takeover_gateway_only() -> None:
    assert sidecar_json(("slow-takeover",), "gw2")["takeover_delay_ms"] == SLOW_TAKEOVER_MS
    assert "takeover_delay_ms" not in sidecar_json(("slow-takeover",), "gw1")
    for sabotage in ((), ("lossy-takeover",), ("mute-ike",)):
        for node in ("gw1", "gw2"):
            assert "takeover_delay_ms" not in sidecar_json(sabotage, node)
    # slow-takeover is no nftables rule
    nodes = render_lab(TOPO, sabotage=("slow-takeover",))
    assert all(SABOTAGE_TABLE not in nodes[n].files[INIT] for n in ("gw1", "gw2"))


def nft_scripts(text: str) -> list[str]:
    """Every nftables script (`nft -f - <<'NFT' ... NFT`) of an init script."""
    return [part.split("\nNFT\n", 1)[0] for part in text.split("nft -f - <<'NFT'\n")[1:]]


def sabotage_script(text: str) -> str:
    return next((script for script in nft_scripts(text) if f"table inet {SABOTAGE_TABLE} {{" in script), "")


def nft_lines(text: str) -> list[str]:
    """The drop rules of the sabotage table (every gateway also has its own `no ip unreachables` table)."""
    return [line.strip() for line in sabotage_script(text).splitlines() if " drop comment " in line]


def test_lossy_takeover_drops_a_share_of_the_esp_on_the_crypto_vip_of_the_takeover_gateway() -> None:
    nodes = render_lab(TOPO, sabotage=("lossy-takeover",))
    assert SABOTAGE_TABLE not in nodes["gw1"].files[INIT]
    text = nodes["gw2"].files[INIT]
    assert f"table inet {SABOTAGE_TABLE} {{" in text and f"table inet {NFT_TABLE}" not in text
    assert nft_lines(text) == [
        'ip daddr 198.51.100.3 meta l4proto esp numgen random mod 100 < 20 drop comment "lossy-takeover"',
        'ip daddr 198.51.100.3 udp dport 4500 @th,64,32 != 0 numgen random mod 100 < 20 drop comment '
        '"lossy-takeover: ESP in UDP"',
        'ip saddr 198.51.100.3 meta l4proto esp numgen random mod 100 < 20 drop comment "lossy-takeover"',
        'ip saddr 198.51.100.3 udp sport 4500 @th,64,32 != 0 numgen random mod 100 < 20 drop comment '
        '"lossy-takeover: ESP in UDP"',
    ]
    assert "sidecar" in text.split("NFT\n")[-1]  # the rules come before the sidecar starts


def test_mute_ike_drops_ike_requests_to_the_vip_and_nothing_of_the_sync_network() -> None:
    nodes = render_lab(TOPO, sabotage=("mute-ike",))
    assert SABOTAGE_TABLE not in nodes["gw1"].files[INIT]
    text = nodes["gw2"].files[INIT]
    assert nft_lines(text) == [
        'ip daddr 198.51.100.3 udp dport 500 @th,216,8 & 0x20 == 0 drop comment "mute-ike"',
        'ip daddr 198.51.100.3 udp dport 4500 @th,64,32 == 0 @th,248,8 & 0x20 == 0 drop comment "mute-ike"',
    ]
    assert "4510" not in text and "4520" not in text and "10.9.0." not in text  # never the sync network
    assert "l4proto esp" not in text  # ESP keeps flowing
    # no NAT-T in the shipped labs: nothing forces UDP encapsulation, so ESP is never on 4500 here
    assert "encap" not in nodes["gw2"].files["/etc/swanctl/swanctl.conf"]


def test_no_sabotage_renders_no_sabotage_table() -> None:
    for sabotage in ((), ("no-sync",), ("no-rekey",), ("no-rri",)):
        nodes = render_lab(TOPO, sabotage=sabotage)
        assert all(SABOTAGE_TABLE not in nodes[n].files[INIT] for n in ("gw1", "gw2"))


@pytest.mark.skipif(shutil.which("nft") is None or shutil.which("unshare") is None, reason="needs nft + unshare")
def test_the_rendered_rules_load_into_nftables_twice(tmp_path: Path) -> None:
    text = render_lab(TOPO, sabotage=("lossy-takeover", "mute-ike"))["gw2"].files[INIT]
    (tmp_path / "s.nft").write_text(sabotage_script(text))
    run = subprocess.run(["unshare", "-n", "sh", "-c", f"nft -f {tmp_path}/s.nft && nft -f {tmp_path}/s.nft && "
                          f"nft list table inet {SABOTAGE_TABLE}"], capture_output=True, text=True, check=False)
    if run.returncode != 0 and "Operation not permitted" in run.stderr:
        pytest.skip("no network namespace here")
    assert run.returncode == 0, run.stderr
    assert run.stdout.count(" drop ") == 6  # loaded again on a container restart: replaced, not doubled


# ---------------------------------------------------------------- the sidecar honours the delay


def test_the_delay_is_in_the_config_round_trip_and_omitted_when_zero() -> None:
    plain = SidecarConfig.from_dict(LEGACY)
    assert plain.takeover_delay_ms == 0 and "takeover_delay_ms" not in plain.to_dict()
    slow = SidecarConfig.from_dict(LEGACY | {"takeover_delay_ms": 1500})
    assert slow.takeover_delay_ms == 1500 and slow.to_dict()["takeover_delay_ms"] == 1500
    assert SidecarConfig.from_json(slow.to_json()) == slow
    with pytest.raises(ConfigError, match="takeover_delay_ms must be integer"):
        SidecarConfig.from_dict(LEGACY | {"takeover_delay_ms": "2s"})
    with pytest.raises(ConfigError, match="must not be negative"):
        SidecarConfig.from_dict(LEGACY | {"takeover_delay_ms": -1})


class Recorder(main_mod.SlowClaimDriver):
    """The slow driver with the built-in handling recorded instead of run (no sockets, no `ip addr`)."""

    def __init__(self, delay: float) -> None:
        self.seen: list[Any] = []
        super().__init__(fsm.HsrpRouter([]), [], self.seen.append, delay=delay, manage_vips=False)


def test_the_slow_driver_claims_a_vip_only_after_the_delay() -> None:
    async def scenario() -> list[list[Any]]:
        driver = Recorder(0.05)
        claim = fsm.ClaimVip("198.51.100.3", "eth0")
        driver.execute([claim, fsm.ClaimVip("10.1.0.1", "eth1")])
        at_once = list(driver.seen)
        await asyncio.sleep(0.02)
        early = list(driver.seen)
        await asyncio.sleep(0.06)
        return [at_once, early, list(driver.seen)]

    at_once, early, late = asyncio.run(scenario())
    assert at_once == [] and early == []
    assert late == [fsm.ClaimVip("198.51.100.3", "eth0"), fsm.ClaimVip("10.1.0.1", "eth1")]


def test_the_slow_driver_passes_everything_else_at_once_and_a_release_cancels_a_held_claim() -> None:
    async def scenario() -> list[Any]:
        driver = Recorder(0.05)
        other = fsm.ReleaseVip("10.1.0.1", "eth1")
        driver.execute([fsm.ClaimVip("198.51.100.3", "eth0"), other])
        assert driver.seen == [other]
        driver.execute([fsm.ReleaseVip("198.51.100.3", "eth0")])
        await asyncio.sleep(0.08)
        return driver.seen

    assert asyncio.run(scenario()) == [fsm.ReleaseVip("10.1.0.1", "eth1"), fsm.ReleaseVip("198.51.100.3", "eth0")]


def test_a_slow_sidecar_waits_the_delay_before_it_looks_for_the_vip(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[Any] = []
    monkeypatch.setattr(main_mod.transport, "find_interface",
                        lambda ip: ("eth0" if ip.startswith("198.") else "eth1", 24))
    monkeypatch.setattr(main_mod, "interface_mac", lambda ifname: b"\x02\0\0\0\0\x01")
    monkeypatch.setattr(main_mod.rri, "inject", lambda prefixes, *_rest: prefixes)
    car = main_mod.Sidecar(SidecarConfig.from_dict(LEGACY | {"takeover_delay_ms": 60}))
    car.charon.ha_command = lambda command: log.append(("fifo", command)) or True  # type: ignore[method-assign]

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        monkeypatch.setattr(main_mod, "vip_present", lambda ip: log.append(("vip?", round(loop.time() - started, 2)))
                            or True)
        car.execute(car.policy.on_role("active", 1.0, True))
        assert log == [("fifo", "+1")]  # charon's segment at once: only the VIP is late
        await asyncio.gather(*car.tasks)
        return loop.time() - started

    assert asyncio.run(scenario()) >= 0.06
    assert log[0] == ("fifo", "+1") and log[1][0] == "vip?" and log[1][1] >= 0.06 and log[-1] == ("fifo", "*1")


# ---------------------------------------------------------------- every gateway: `no ip unreachables`

PROBE_CLOSED_PORT = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
s.connect(("127.0.0.1", 4500))  # nothing listens: the kernel answers port unreachable, unless dropped
s.send(b"x")
try:
    s.recv(1)
    print("answered")
except ConnectionRefusedError:
    print("refused")
except TimeoutError:
    print("silent")
"""


@pytest.mark.skipif(shutil.which("nft") is None or shutil.which("unshare") is None, reason="needs nft + unshare")
@pytest.mark.parametrize("with_rule", [False, True])
def test_a_gateway_never_answers_port_unreachable(tmp_path: Path, with_rule: bool) -> None:
    """What vpnc exits on ("can't send packet: Connection refused"): the rendered gateway table silences it; a
    namespace without it (the control) refuses."""
    text = render_lab(TOPO)["gw1"].files[INIT]
    script = next(script for script in nft_scripts(text) if "table inet labctl_gateway {" in script)
    (tmp_path / "g.nft").write_text(script)
    (tmp_path / "probe.py").write_text(PROBE_CLOSED_PORT)
    load = f"nft -f {tmp_path}/g.nft && nft -f {tmp_path}/g.nft && " if with_rule else ""  # twice: a restart
    run = subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up && {load}{sys.executable} "
                          f"{tmp_path}/probe.py"], capture_output=True, text=True, check=False)
    if run.returncode != 0 and "Operation not permitted" in run.stderr:
        pytest.skip("no network namespace here")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ("silent" if with_rule else "refused")
    assert all("labctl_gateway" in render_lab(TOPO)[n].files[INIT] for n in ("gw1", "gw2"))

"""`labctl show` formatting over fixtures captured from a real lab (showlab: gw1 active, gw2 standby hot, peer).

Captured with `swanctl --list-sas --pretty`, `swanctl --stats`, `ip -o -4 addr show; ip -o link show` and the
sidecar status file of each node; SPIs and addresses below are the ones charon reported in that lab.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich import box
from rich.console import Console
from rich.table import Table

from labctl.errors import LabctlError
from labctl.sidecar.swanctl import ike_sas_from_text
from labctl.views import show

FIXTURES = Path(__file__).parent / "fixtures" / "show"
SPI_GW_IN, SPI_GW_OUT = "ae1f08b3", "544872f6"  # gw1/gw2 inbound/outbound ESP SPI (the peer's are swapped)


def live(node: str) -> show.Live:
    role = "peer" if node == "peer" else "ha-gateway"
    sidecar = json.loads((FIXTURES / f"{node}-sidecar-status.json").read_text()) if role == "ha-gateway" else None
    return {
        "node": node,
        "role": role,
        "sas": ike_sas_from_text((FIXTURES / f"{node}-list-sas.txt").read_text()),
        "sidecar": sidecar,
        "interfaces": show.interfaces_from_ip((FIXTURES / f"{node}-ip.txt").read_text()),
        "plugins": show.plugins_from_stats((FIXTURES / f"{node}-stats.txt").read_text()),
    }


def text(node: str, *words: str) -> str:
    command, which = show.parse_command(words)
    return show.render(live(node), command, which)[1]


# ------------------------------------------------------------------------------------------ command words
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("standby", ("standby", None)),
        ("standby brief", ("standby brief", None)),
        ("redundancy", ("redundancy", None)),
        ("redundancy inter-device", ("redundancy", None)),
        ("red sta", ("redundancy states", None)),
        ("crypto isakmp sa active", ("crypto isakmp sa", "active")),
        ("cry isa sa stand", ("crypto isakmp sa", "standby")),
        ("crypto ipsec sa", ("crypto ipsec sa", None)),
        ("crypto session standby", ("crypto session", "standby")),
        ("crypto ha", ("crypto ha", None)),
    ],
)
def test_parse_command_accepts_ios_words_and_prefixes(words: str, expected: tuple[str, str | None]) -> None:
    assert show.parse_command(words.split()) == expected


@pytest.mark.parametrize(("words", "reason"), [("crypto foo", "unknown word `foo`"),
                                               ("crypto i sa", "ambiguous `i` (ipsec, isakmp)"),
                                               ("crypto", "incomplete"), ("standby brief extra", "unknown word")])
def test_parse_command_rejects_with_the_list_of_commands(words: str, reason: str) -> None:
    with pytest.raises(LabctlError) as exc:
        show.parse_command(words.split())
    assert reason in str(exc.value)
    assert "crypto isakmp sa standby" in str(exc.value) and "redundancy states" in str(exc.value)


# ------------------------------------------------------------------------------------------ crypto isakmp sa
def test_isakmp_sa_active_gateway_is_active_and_standby_copy_is_stdby() -> None:
    header = re.compile(r"^dst\s+src\s+state\s+conn-id\s+slot\s+status$", re.M)
    gw1, gw2 = text("gw1", "crypto", "isakmp", "sa", "active"), text("gw2", "crypto", "isakmp", "sa", "standby")
    assert header.search(gw1) and header.search(gw2)
    assert re.search(r"^10\.51\.0\.3\s+10\.51\.0\.50\s+QM_IDLE\s+1\s+0 ACTIVE$", gw1, re.M)
    assert re.search(r"^10\.51\.0\.3\s+10\.51\.0\.50\s+QM_IDLE\s+1\s+0 STDBY$", gw2, re.M)
    # the filters: the active has nothing in standby, the standby nothing active
    assert "10.51.0.3" not in text("gw1", "crypto", "isakmp", "sa", "standby")
    assert "10.51.0.3" not in text("gw2", "crypto", "isakmp", "sa", "active")


def test_isakmp_sa_json_keeps_strongswan_state_and_spis() -> None:
    rows, _ = show.render(live("gw2"), "crypto isakmp sa", "standby")
    assert rows == [{"dst": "10.51.0.3", "src": "10.51.0.50", "state": "QM_IDLE", "conn_id": "1", "slot": 0,
                     "status": "STDBY", "strongswan_state": "PASSIVE", "name": "site", "ike_version": "2",
                     "initiator_spi": "3c9c0a007873ae27", "responder_spi": "2d190a28c0219521"}]


def test_isakmp_sa_on_the_peer_puts_the_responder_first() -> None:
    assert re.search(r"^10\.51\.0\.3\s+10\.51\.0\.50\s+QM_IDLE\s+1\s+0 ACTIVE$", text("peer", "crypto", "isakmp", "sa"),
                     re.M)


# ------------------------------------------------------------------------------------------ crypto ipsec sa
def test_ipsec_sa_on_the_active_gateway() -> None:
    out = text("gw1", "crypto", "ipsec", "sa", "active")
    assert "interface: eth1\n    Crypto map tag: site, local addr 10.51.0.3\n" in out
    assert "   local  ident (addr/mask/prot/port): (10.52.0.0/255.255.255.0/0/0)\n" in out
    assert "   remote ident (addr/mask/prot/port): (10.53.0.0/255.255.255.0/0/0)\n" in out
    assert "   current_peer 10.51.0.50 port 4500\n" in out
    assert "    #pkts encaps: 6, #pkts encrypt: 6, #pkts digest: 6\n" in out
    assert "    #pkts decaps: 6, #pkts decrypt: 6, #pkts verify: 6\n" in out
    assert "    #bytes encaps: 504, #bytes decaps: 504\n" in out
    assert "     path mtu 1400, media mtu 1500\n" in out  # ipsec0 (libipsec TUN) and eth1
    assert f"     current outbound spi: 0x{SPI_GW_OUT.upper()}({int(SPI_GW_OUT, 16)})\n" in out
    inbound = out.split("     inbound esp sas:\n")[1].split("     inbound ah sas:")[0]
    outbound = out.split("     outbound esp sas:\n")[1].split("     outbound ah sas:")[0]
    assert f"spi: 0x{SPI_GW_IN.upper()}({int(SPI_GW_IN, 16)})" in inbound
    assert f"spi: 0x{SPI_GW_OUT.upper()}({int(SPI_GW_OUT, 16)})" in outbound
    for block in (inbound, outbound):
        assert "transform: esp-256-aes esp-sha256-hmac ," in block
        assert "in use settings ={Tunnel UDP-Encaps, }" in block
        assert "ike_cookies: 3C9C0A00 7873AE27 2D190A28 C0219521" in block
        assert "Status: ACTIVE" in block


def test_ipsec_sa_on_the_standby_has_the_same_spis_as_standby() -> None:
    out = text("gw2", "crypto", "ipsec", "sa")
    assert out.startswith("interface: eth1\n")  # the VIP is not configured on a standby: found through HSRP
    assert f"spi: 0x{SPI_GW_IN.upper()}(" in out and f"current outbound spi: 0x{SPI_GW_OUT.upper()}(" in out
    assert out.count("Status: STANDBY") == 2 and "Status: ACTIVE" not in out
    assert "#pkts encaps: 0," in out
    assert text("gw2", "crypto", "ipsec", "sa", "active") == "\n"


def test_ipsec_sa_on_the_peer_mirrors_the_gateway() -> None:
    out = text("peer", "crypto", "ipsec", "sa")
    assert "local  ident (addr/mask/prot/port): (10.53.0.0/255.255.255.0/0/0)" in out
    assert f"current outbound spi: 0x{SPI_GW_IN.upper()}(" in out
    assert "current_peer 10.51.0.3 port 4500" in out


# ------------------------------------------------------------------------------------------ crypto session / ha
def test_crypto_session_active_and_standby() -> None:
    gw1, gw2 = text("gw1", "crypto", "session", "active"), text("gw2", "crypto", "session", "standby")
    for out, status in ((gw1, "UP-ACTIVE"), (gw2, "UP-STANDBY")):
        assert out.startswith("Crypto session current status\n\nInterface: eth1\n")
        assert f"Session status: {status}\nPeer: 10.51.0.50 port 4500\n" in out
        assert "  IKE SA: local 10.51.0.3/4500 remote 10.51.0.50/4500 Active\n" in out
        assert "  IPSEC FLOW: permit ip 10.52.0.0/255.255.255.0 10.53.0.0/255.255.255.0\n" in out
        assert "        Active SAs: 2, origin: crypto map\n" in out
    assert "Session status" not in text("gw1", "crypto", "session", "standby")


def test_crypto_ha_lists_the_vip_used_by_ike_and_ipsec() -> None:
    out = text("gw1", "crypto", "ha")
    assert out.startswith("IKE VIP: 10.51.0.3\nIPSec VIP: 10.51.0.3\n")
    assert "HSRP group 1 \"HA-out\" on eth1 is Active (this node owns the VIP)" in out
    assert "is Standby" in text("gw2", "crypto", "ha")


def with_replay(node: str, **sync: object) -> show.Live:
    """The fixture's node with a replay-sync status (the fixtures predate it)."""
    data = live(node)
    data["sidecar"] = {**data["sidecar"], "replay_interval": {"inbound": 1000, "outbound": 10000},
                       "replay_sync": {"sas": 0, "tables_sent": 0, "tables_received": 0, "raised": 0, "table": [],
                                       "sent_table": [], "error": None, **sync}}
    return data


def test_ipsec_sa_shows_the_replay_state_the_active_forwarded() -> None:
    state = with_replay("gw1", tables_sent=7, sent_table=[[SPI_GW_IN, "10.51.0.3", "in", 4321],
                                                          [SPI_GW_OUT, "10.51.0.50", "out", 5000]])
    data, out = show.render(state, "crypto ipsec sa")
    inbound = out.split("     inbound esp sas:\n")[1].split("     inbound ah sas:")[0]
    outbound = out.split("     outbound esp sas:\n")[1].split("     outbound ah sas:")[0]
    assert "        HA last replay sent: 4321\n" in inbound and "HA last replay sent: 5000\n" in outbound
    assert data[0]["ha_replay_in"] == {"sent": 4321} and data[0]["ha_replay_out"] == {"sent": 5000}


def test_ipsec_sa_on_the_standby_shows_where_a_takeover_continues() -> None:
    state = with_replay("gw2", sas=2, tables_received=3, table=[[SPI_GW_IN.upper(), "10.51.0.3", "in", 4321],
                                                                [SPI_GW_OUT, "10.51.0.50", "out", 5000]])
    data, out = show.render(state, "crypto ipsec sa")
    assert "HA last replay received: 4321, continues at 4321\n" in out  # inbound: the window top
    assert "HA last replay received: 5000, continues at 15000\n" in out  # outbound: one interval ahead
    assert data[0]["ha_replay_out"] == {"received": 5000, "continues_at": 15000}
    assert "HA last replay" not in text("gw2", "crypto", "ipsec", "sa")  # no replay sync: no line


def test_crypto_ha_sums_up_the_replay_sync() -> None:
    data, out = show.render(with_replay("gw1", tables_sent=7, tables_received=2, sas=1, raised=3), "crypto ha")
    assert ("Replay sync: every 1000 inbound / 10000 outbound packets, 7 tables sent, 2 received, "
            "1 SAs in the received table, 3 raised\n") in out
    assert data["replay_sync"]["tables_sent"] == 7 and data["replay_sync"]["interval"]["outbound"] == 10000
    _, failing = show.render(with_replay("gw1", error="/var/run/charon.replay: No such file"), "crypto ha")
    assert "! replay sync: /var/run/charon.replay: No such file\n" in failing
    assert "Replay sync" not in text("gw1", "crypto", "ha")


@pytest.mark.parametrize("words", ["standby", "redundancy states", "redundancy", "crypto ha"])
def test_ha_commands_on_the_peer_say_it_runs_no_hsrp(words: str) -> None:
    with pytest.raises(LabctlError, match="runs no HSRP"):
        text("peer", *words.split())


# ------------------------------------------------------------------------------------------ standby
def test_show_standby_active_and_standby_gateway() -> None:
    gw1 = text("gw1", "standby")
    group1 = gw1.split("eth0 - Group 2")[0]
    for line in ("eth1 - Group 1 (version 2)", "  State is Active", "  Virtual IP address is 10.51.0.3",
                 "  Active virtual MAC address is 0242.0a33.000b", "  Hello time 200 msec, hold time 700 msec",
                 "  Preemption enabled", "  Active router is local", "  Priority 110 (configured 110)",
                 "    Track interface inside (eth0) state Up decrement 150", '  IP redundancy name is "HA-out" (cfgd)'):
        assert f"{line}\n" in group1
    assert re.search(r"^  Standby router is 10\.51\.0\.12, priority 100 \(expires in \d+\.\d{3} sec\)$", group1, re.M)
    assert re.search(r"^    \d+ state changes, last state change \d\d:\d\d:\d\d$", group1, re.M)
    assert "eth0 - Group 2 (version 2)\n  State is Active\n" in gw1 and "Virtual IP address is 10.52.0.1" in gw1
    gw2 = text("gw2", "standby")
    assert "  State is Standby\n" in gw2 and "  Standby router is local\n" in gw2
    assert re.search(r"^  Active router is 10\.51\.0\.11, priority 110 \(expires in", gw2, re.M)
    assert "Active virtual MAC" not in gw2  # the standby does not know the active's MAC: not invented


def test_show_standby_brief() -> None:
    gw1, gw2 = text("gw1", "standby", "brief"), text("gw2", "standby", "brief")
    assert "Interface   Grp  Pri P State   Active          Standby         Virtual IP" in gw1
    assert re.search(r"^eth1\s+1\s+110 P Active\s+local\s+10\.51\.0\.12\s+10\.51\.0\.3$", gw1, re.M)
    assert re.search(r"^eth0\s+2\s+110 P Active\s+local\s+10\.52\.0\.12\s+10\.52\.0\.1$", gw1, re.M)
    assert re.search(r"^eth1\s+1\s+100 P Standby 10\.51\.0\.11\s+local\s+10\.51\.0\.3$", gw2, re.M)


# ------------------------------------------------------------------------------------------ redundancy
def test_redundancy_states_active_and_standby_hot() -> None:
    gw1, gw2 = text("gw1", "redundancy", "states"), text("gw2", "redundancy", "states")
    assert re.search(r"^\s+my state = 13 -ACTIVE$", gw1, re.M)
    assert re.search(r"^\s+peer state = 8  -STANDBY HOT$", gw1, re.M)
    assert re.search(r"^\s+my state = 8  -STANDBY HOT$", gw2, re.M)
    assert re.search(r"^\s+peer state = 13 -ACTIVE$", gw2, re.M)
    for out in (gw1, gw2):
        assert re.search(r"^\s+Mode = Duplex$", out, re.M) and re.search(r"^\s+Communications = Up$", out, re.M)
        assert re.search(r"^\s+keep_alive TMR = 400 milliseconds$", out, re.M)


def test_redundancy_states_without_peer_is_simplex_and_down() -> None:
    node = live("gw1")
    node["sidecar"] = node["sidecar"] | {"peer_redundancy": "DISABLED", "peer_node": None}
    out = show.render(node, "redundancy states")[1]
    assert re.search(r"peer state = 1  -DISABLED$", out, re.M) and re.search(r"Communications = Down$", out, re.M)
    assert re.search(r"Mode = Simplex$", out, re.M)


def test_a_cold_standby_shows_what_it_lacks() -> None:
    node = live("gw2")
    node["sidecar"] = node["sidecar"] | {"redundancy": "STANDBY COLD",
                                         "redundancy_detail": "1 of 2 IKE SAs of the Active not synced here"}
    data, out = show.render(node, "redundancy states")
    assert re.search(r"^\s+my state = 4  -STANDBY COLD \(1 of 2 IKE SAs of the Active not synced here\)$", out, re.M)
    assert data["my_state_detail"] == "1 of 2 IKE SAs of the Active not synced here"
    assert show.render(live("gw2"), "redundancy states")[0]["my_state_detail"] is None


def test_redundancy_says_the_sync_is_cleartext_because_of_libipsec() -> None:
    out = text("gw1", "redundancy")
    assert out.startswith("Redundancy inter-device state: RF_INTERDEV_STATE_ACT\n  Scheme: Standby\n")
    assert "Groupname: HA-out Group State: Active" in out and "Peer present: RF_INTERDEV_PEER_COMM" in out
    assert "cleartext on the isolated sync network" in out and "kernel-libipsec cannot IPsec-protect it" in out
    assert "Sync link: 10.59.0.11 <-> 10.59.0.12 (isolated lab network)" in out
    assert "Reverse route injection: enabled, 10.53.0.0/24 injected" in out
    assert "RF_INTERDEV_STATE_STDBY\n" in text("gw2", "redundancy")


def test_redundancy_security_line_follows_the_platform_and_mode() -> None:
    node = live("gw1")
    node["plugins"] = [p for p in node["plugins"] if p != "kernel-libipsec"]  # a kernel with ESP
    data, out = show.render(node, "redundancy")
    assert "(no ha secret set)" in out and "kernel-libipsec" not in out and data["kernel_libipsec"] is False
    node["sidecar"] = node["sidecar"] | {"ha_plugin": False, "mode": "stateless"}
    assert "no SA sync runs" in show.render(node, "redundancy")[1]
    assert "SA sync: off (redundancy stateless)" in show.render(node, "redundancy")[1]


@pytest.mark.parametrize(("side", "line"), [
    ({"sequence_continuity": True}, "CHILD_SAs rekeyed on takeover (ha resync)"),  # a sidecar before replay sync
    ({"sequence_continuity": "rekey"}, "CHILD_SAs rekeyed on takeover (ha resync)"),
    ({"sequence_continuity": "off"}, "off (the peer may drop the new active's ESP as replays)"),
    ({"sequence_continuity": "replay-sync", "replay_sync": {"sas": 2, "tables_sent": 0, "tables_received": 9}},
     "replay state synced (same SAs continue), 2 SAs in the synced table, 0 tables sent, 9 received"),
])
def test_redundancy_names_how_sequence_continuity_is_kept(side: dict, line: str) -> None:
    node = live("gw2")
    node["sidecar"] = node["sidecar"] | side
    assert f"  ESP sequence continuity: {line}\n" in show.render(node, "redundancy")[1]


# ------------------------------------------------------------------------------------------ parsers
def test_interfaces_and_plugins_parsers() -> None:
    interfaces = show.interfaces_from_ip((FIXTURES / "gw1-ip.txt").read_text())
    assert interfaces["eth1"] == {"addresses": ["10.51.0.11/24", "10.51.0.3/24"], "mtu": 1500,
                                  "mac": "02:42:0a:33:00:0b"}
    assert interfaces["ipsec0"]["mtu"] == 1400
    assert {"ha", "kernel-libipsec", "vici"} <= set(show.plugins_from_stats((FIXTURES / "gw1-stats.txt").read_text()))


@pytest.mark.parametrize(("ts", "expected"), [("10.1.0.0/24", "(10.1.0.0/255.255.255.0/0/0)"),
                                              ("10.1.0.5/32[tcp/80]", "(10.1.0.5/255.255.255.255/6/80)"),
                                              ("0.0.0.0/0[udp]", "(0.0.0.0/0.0.0.0/17/0)")])
def test_traffic_selector_to_ios_ident(ts: str, expected: str) -> None:
    assert show.ident(ts) == expected


# ------------------------------------------------------------------------------------------ labctl status table
def status_lines(rows: dict[str, list[str]], width: int) -> list[str]:
    table = Table(*show.STATUS_COLUMNS, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for row in rows.values():
        table.add_row(*row)
    console = Console(width=width, record=True)
    console.print(table)
    return console.export_text().splitlines()


def test_status_rows_wide_one_row_per_node_fitting_100_columns() -> None:
    data = json.loads((FIXTURES / "lab-status.json").read_text())
    rows = {row[0]: row for row in show.status_rows(data, wide=True)}
    assert rows["gw1"] == ["gw1", "ha-gateway", "running", "Active 1,2", "ACTIVE", "1 ESTABLISHED", "1 INSTALLED",
                           "ae1f…/5448…"]
    assert rows["gw2"][3:7] == ["Standby 1,2", "STANDBY HOT", "1 PASSIVE", "1 INSTALLED"]
    assert rows["peer"][3:] == ["-", "-", "1 ESTABLISHED", "1 INSTALLED", "5448…/ae1f…"]
    lines = status_lines(rows, 100)
    assert len(lines) == 2 + len(rows)  # header, rule, exactly one line per node: nothing wrapped
    assert all(len(line.rstrip()) <= 100 for line in lines)
    assert any("STANDBY HOT" in line and "Standby 1,2" in line for line in lines)


def test_status_rows_fit_80_columns_with_the_short_words_and_nothing_truncated() -> None:
    data = json.loads((FIXTURES / "lab-status.json").read_text())
    rows = {row[0]: row for row in show.status_rows(data)}
    assert rows["gw1"] == ["gw1", "gw", "up", "A 1,2", "ACTIVE", "1 EST", "1 INST", "ae1f…/5448…"]
    assert rows["gw2"][3:7] == ["S 1,2", "HOT", "1 PAS", "1 INST"]
    lines = status_lines(rows, 80)
    assert len(lines) == 2 + len(rows)
    assert all(len(line.rstrip()) <= 80 for line in lines)
    assert "…" not in "".join(line for line in lines if "/" not in line)  # rich truncated no column


# ------------------------------------------------------------------------------------------ issue 13 commands
@pytest.mark.parametrize(("words", "expected"), [
    (["sh", "run"][1:], ("running-config", None)),
    (["ip", "ro"], ("ip route", None)),
    (["tr"], ("track", None)),
    (["cry", "isa", "sa", "det"], ("crypto isakmp sa detail", None)),
    (["cry", "sess", "det"], ("crypto session detail", None)),
    (["cry", "sess", "stand"], ("crypto session", "standby")),
])
def test_parse_command_new_words(words: list[str], expected: tuple[str, str | None]) -> None:
    assert show.parse_command(words) == expected


def test_ip_route_codes_rri_and_last_resort() -> None:
    node = live("gw1")
    node["routes"] = show.routes_from_ip((FIXTURES / "gw1-route.txt").read_text())
    out = show.render(node, "ip route")[1].splitlines()
    assert "Gateway of last resort is 198.51.100.1 to network 0.0.0.0" in out
    assert out[out.index("") + 3:] == [
        "C    10.1.0.0/24 is directly connected, eth0",
        "S    10.2.0.0/24 is directly connected, ipsec0",
        "      ! labctl: reverse route injection (RRI), kernel proto 77",
        "C    10.9.0.0/24 is directly connected, eth2",
        "S    10.64.0.0/24 [1/0] via 10.1.0.20, eth0",
        "C    198.51.100.0/24 is directly connected, eth1",
        "S*   0.0.0.0/0 [1/0] via 198.51.100.1, eth1"]
    data, _ = show.render(node, "ip route")
    assert [r["dest"] for r in data if r["rri"]] == ["10.2.0.0/24"]


def test_ip_route_ospf_with_two_next_hops_on_a_router() -> None:
    node = {"node": "r1", "role": "router", "routes": show.routes_from_ip((FIXTURES / "router-route.txt").read_text())}
    out = show.render(node, "ip route")[1].splitlines()
    assert "Gateway of last resort is not set" in out
    assert out[-4:] == ["O    10.2.0.0/24 [110/20] via 10.1.0.11, eth0",
                        "                 [110/20] via 10.1.0.12, eth0",
                        "C    10.64.0.0/24 is directly connected, eth1",
                        "O    198.51.100.0/24 [110/20] via 10.1.0.11, eth0"]


def test_show_track_lists_each_tracked_interface_and_its_groups() -> None:
    node = live("gw1")
    node["sidecar"] = node["sidecar"] | {"events": [*node["sidecar"]["events"], {
        "time": node["sidecar"]["time"] - 65, "kind": "track", "detail": "inside (eth0) line protocol up"}]}
    node["sidecar"]["hsrp"][0]["track"]["inside"]["up"] = False
    out = show.render(node, "track")[1]
    assert out == ("Track 1 (via HSRP)\n  Interface eth0 line-protocol\n  Line protocol is Down\n"
                   "    last change 00:01:05\n  Tracked by:\n"
                   "    HSRP eth1 1 decrement 150 (priority 110, configured 110)\n"
                   "Track 2 (via HSRP)\n  Interface eth1 line-protocol\n  Line protocol is Up\n  Tracked by:\n"
                   "    HSRP eth0 2 decrement 150 (priority 110, configured 110)\n")
    with pytest.raises(LabctlError, match="runs no HSRP"):
        text("peer", "track")


def test_isakmp_sa_detail_active_and_standby() -> None:
    node = live("gw1")
    node["topology"] = {"crypto": {"dpd": "5000ms"}}
    lines = show.render(node, "crypto isakmp sa detail")[1].splitlines()
    assert lines[0] == "Codes: C - IKE configuration mode, D - Dead Peer Detection"
    header = lines.index("IPv4 Crypto ISAKMP SA") + 2
    assert lines[header].split() == ["C-id", "Local", "Remote", "I-VRF", "Status", "Encr", "Hash", "Auth", "DH",
                                     "Lifetime", "Cap."]
    assert lines[header + 1].split() == ["1", "10.51.0.3", "10.51.0.50", "ACTIVE", "aes256", "sha256", "psk", "14",
                                         "03:49:35", "DN"]
    assert lines[header + 2] == "       Engine-id:Conn-id =  SW:1"
    standby = live("gw2")
    standby["topology"] = node["topology"]
    rows, out = show.render(standby, "crypto isakmp sa detail")
    assert rows[0]["status"] == "STDBY" and rows[0]["strongswan_state"] == "PASSIVE" and rows[0]["lifetime"] is None
    assert "       ! labctl: ha-synced copy (strongSwan state PASSIVE)\n" in out


def test_crypto_session_detail_has_lifetime_spis_and_counters() -> None:
    node = live("gw1")
    node["topology"] = {"crypto": {"dpd": "5000ms"}}
    data, out = show.render(node, "crypto session detail")
    assert ("Interface: eth1\nUptime: 00:00:57\nSession status: UP-ACTIVE\n"
            "Peer: 10.51.0.50 port 4500 fvrf: (none) ivrf: (none)\n      Phase1_id: peer.example\n"
            "  IKE SA: local 10.51.0.3/4500 remote 10.51.0.50/4500 Active\n"
            "          Capabilities:DN connid:1 lifetime:03:49:35\n"
            "  IPSEC FLOW: permit ip 10.52.0.0/255.255.255.0 10.53.0.0/255.255.255.0\n"
            "        Active SAs: 2, origin: crypto map\n"
            f"        Inbound:  #pkts dec'ed 6 life (sec) 3903, spi 0x{SPI_GW_IN.upper()}({int(SPI_GW_IN, 16)})\n"
            f"        Outbound: #pkts enc'ed 6 life (sec) 3903, spi 0x{SPI_GW_OUT.upper()}({int(SPI_GW_OUT, 16)})\n"
            "        ! labctl: CHILD_SA net #1 INSTALLED, 504 bytes in, 504 bytes out\n") in out
    assert data[0]["child_sas"][0]["spi_in"] == SPI_GW_IN and data[0]["lifetime"] == 13775


def test_routes_parser_keeps_proto_metric_and_next_hops() -> None:
    routes = show.routes_from_ip((FIXTURES / "router-route.txt").read_text())
    assert routes[1] == {"dest": "10.2.0.0/24", "type": None, "via": None, "dev": None, "proto": "ospf", "metric": 20,
                         "src": None, "nexthops": [{"via": "10.1.0.11", "dev": "eth0"},
                                                   {"via": "10.1.0.12", "dev": "eth0"}]}
    assert show.routes_from_ip("blackhole 10.9.9.0/24 proto static\n")[0]["type"] == "blackhole"

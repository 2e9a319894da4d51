"""vpnc Easy VPN clients (issue #16 part 2): the model's mix, the server and client configs, vpnc's log as
labctl reads it, and the failover verdict judged from a vpnc client's own side."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from labctl.errors import TopologyError
from labctl.experiment import events
from labctl.experiment.judges.clients import judge as judge_clients
from labctl.experiment.probe import DirectionResult, ProbeResult
from labctl.experiment.verdict import Verdict
from labctl.model.loader import load_topology
from labctl.nodes import vpnc
from labctl.render import render_lab
from labctl.runtime.spec import file_mode

ROOT = Path(__file__).resolve().parents[2]
MIXED = ROOT / "tests" / "container" / "topologies" / "vpnc-easyvpn.yaml"
SHIPPED = ROOT / "topologies" / "easy-vpn.yaml"

# vpnc's own output in a lab (tests/container/topologies/vpnc-easyvpn.yaml, node kill), as its loop logged it
CONNECT_LOG = """labctl: 14:22:34.440 vpnc started, pid 97
vpnc version 0.5.3+git20220927-1
IKE SA selected psk+xauth-aes256-sha1
NAT status: this end behind NAT? no -- remote end behind NAT? YES
NAT-T mode: 2
got address 10.84.0.2
IPSEC SA selected aes256-sha1
VPNC started in foreground...
vpnc: Accepting expected ESP packet with seq 1
"""
TAKEOVER_LOG = """vpnc: Accepting expected ESP packet with seq 4577
vpnc: Discarding ancient ESP packet with seq 1 (expected 4578)
vpnc: Discarding ancient ESP packet with seq 2 (expected 4578)
vpnc: Discarding replayed ESP packet with seq 4577
vpnc: unknown spi 0x312304be from peer
vpnc: HMAC mismatch in ESP mode
vpnc: HMAC mismatch in ESP mode
"""


def variant(tmp_path: Path, old: str, new: str, source: Path = MIXED) -> Path:
    text = source.read_text()
    assert old in text, old
    path = tmp_path / "vp.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_the_last_clients_run_vpnc_with_their_own_role() -> None:
    topo = load_topology(MIXED)
    assert topo.easyvpn is not None
    assert [topo.easyvpn.client_kind(n) for n in topo.easyvpn.client_names()] == ["strongswan", "vpnc", "vpnc"]
    assert [topo.role_of(n) for n in ("client1", "client2", "client3")] == ["client", "vpnc", "vpnc"]
    assert str(topo.addresses_of("client3")["outside"]) == "10.81.0.103"
    shipped = load_topology(SHIPPED)
    assert shipped.easyvpn is not None and shipped.easyvpn.clients.vpnc == 0  # default: strongSwan only


def test_more_vpnc_clients_than_clients_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot exceed count"):
        load_topology(variant(tmp_path, "vpnc: 2 ", "vpnc: 4 "))


def test_server_accepts_cisco_clients_and_never_rekeys_them() -> None:
    gw = render_lab(load_topology(MIXED))["gw1"].files["/etc/swanctl/swanctl.conf"]
    ezvpn = gw[gw.index("  ezvpn {"):]
    assert "id = keyid:unity" in ezvpn and "id-1 = keyid:unity" in ezvpn  # the group as a KEY_ID
    assert "aes256-sha256-modp2048,aes256-aes192-aes128-3des-sha1-md5-modp1024-modp1536-modp2048" in ezvpn
    # Quick Mode without PFS only: a DH group would make the server's own rekeys demand PFS
    assert "esp_proposals = aes256-sha256,aes256-aes192-aes128-3des-sha1-md5\n" in ezvpn
    ike, child = ezvpn[:ezvpn.index("children {")], ezvpn[ezvpn.index("children {"):]
    assert "rekey_time = 0" in ike and "reauth_time = 0" in ike
    assert "rekey_time = 0" in child and "life_time = 24h" in child


def test_vpnc_pfs_adds_dh_groups_to_the_servers_esp_proposals(tmp_path: Path) -> None:
    topo = load_topology(variant(tmp_path, "vpnc: 2 ", "vpnc: 2\n    vpnc_pfs: true\n    #"))
    nodes = render_lab(topo)
    assert "aes256-aes192-aes128-3des-sha1-md5,aes256-aes192-aes128-3des-sha1-md5-modp1024-modp1536-modp2048" \
        in nodes["gw1"].files["/etc/swanctl/swanctl.conf"]
    assert "--dh dh2 \\\n    --pfs dh2 " in nodes["client3"].files["/etc/labctl/init.sh"]


def test_strongswan_clients_send_the_group_as_a_key_id_too() -> None:
    conf = render_lab(load_topology(MIXED))["client1"].files["/etc/swanctl/swanctl.conf"]
    assert "id = keyid:unity" in conf and "id-1 = keyid:unity" in conf


def test_vpnc_client_config_and_restart_loop(tmp_path: Path) -> None:
    nodes = render_lab(load_topology(variant(tmp_path, "vpnc: 2 ", "vpnc: 2\n    vpnc_dh: dh14\n    #")))
    node = nodes["client2"]
    assert node.role == "vpnc" and set(node.files) == {"/etc/vpnc/easyvpn.conf", "/etc/labctl/init.sh"}
    conf = node.files["/etc/vpnc/easyvpn.conf"]
    for line in ("IPSec gateway 10.81.0.3", "IPSec ID unity", "IPSec secret cisco123-group-key",
                 "Xauth username bob", "Xauth password bob-pass", "Local Addr 10.81.0.102", "Interface name tun0",
                 "DPD idle timeout (our side) 10"):
        assert line in conf.splitlines()
    assert file_mode("/etc/vpnc/easyvpn.conf") == 0o600  # group key and password
    init = node.files["/etc/labctl/init.sh"]
    assert "vpnc --no-detach --non-inter --debug 1 --natt-mode natt --dh dh14" in init
    assert "--pfs nopfs /etc/vpnc/easyvpn.conf" in init  # PFS only with vpnc_pfs
    assert "while :; do" in init and ">>\"$log\"" in init and "log=/var/log/vpnc.log" in init
    assert init.index("while [ ! -e /run/labctl-vpnc-go ]") < init.index("while :; do")  # up lets it connect
    assert "swanctl" not in init and "charon" not in init.split("\n#")[0]


def test_vpnc_log_counts_and_reasons() -> None:
    assert vpnc.count_events(CONNECT_LOG) == {"new_ike_sa": 1, "new_spis": 1, "replay_drops": 0, "unknown_spi": 0,
                                               "hmac_mismatch": 0, "dpd_terminated": 0, "exits": 0}
    counts = vpnc.count_events(TAKEOVER_LOG)
    seen = (counts["new_ike_sa"], counts["replay_drops"], counts["unknown_spi"], counts["hmac_mismatch"])
    assert seen == (0, 3, 1, 2)
    lines = vpnc.telling_lines(TAKEOVER_LOG)
    assert lines == ["vpnc: Discarding ancient ESP packet with seq 1 (expected 4578)",
                     "vpnc: Discarding ancient ESP packet with seq 2 (expected 4578)",
                     "vpnc: unknown spi 0x312304be from peer", "vpnc: HMAC mismatch in ESP mode"]
    assert vpnc.failure_reason(CONNECT_LOG) is None
    refused = "labctl: 1 vpnc started, pid 5\nvpnc: hash comparison failed:  (ISAKMP_N_AUTHENTICATION_FAILED)(24)\n"
    assert "group key" in (vpnc.failure_reason(refused) or "")
    assert "KEY_ID" in (vpnc.failure_reason("vpnc: response was invalid [1]:  (ISAKMP_N_INVALID_EXCHANGE_TYPE)(7)")
                        or "")
    assert vpnc.since_last_start(CONNECT_LOG + "labctl: 2 vpnc started, pid 9\nx\n") == \
        "labctl: 2 vpnc started, pid 9\nx\n"


def stamped(text: str, at: str = "14:22:35") -> str:
    """`text` as the restart loop writes it now: each line behind the UTC time in milliseconds."""
    return "".join(f"{at}.{n % 1000:03d} {line}\n" for n, line in enumerate(text.splitlines()))


def test_stamped_vpnc_logs_read_as_before() -> None:
    log = stamped(CONNECT_LOG) + stamped(TAKEOVER_LOG, at="14:22:36")
    assert vpnc.count_events(log) == {"new_ike_sa": 1, "new_spis": 1, "replay_drops": 3, "unknown_spi": 1,
                                      "hmac_mismatch": 2, "dpd_terminated": 0, "exits": 0}
    assert vpnc.count_events(log + "14:22:37.001 labctl: 14:22:37.000 vpnc exited with status 1\n")["exits"] == 1
    assert vpnc.telling_lines(log, limit=2) == ["14:22:35.000 labctl: 14:22:34.440 vpnc started, pid 97",
                                                "14:22:36.006 vpnc: HMAC mismatch in ESP mode"]
    again = "14:22:40.000 labctl: 14:22:40.000 vpnc started, pid 9\n14:22:40.001 x\n"
    assert vpnc.since_last_start(log + again) == again
    assert vpnc.STAMPED_LINE.match("14:22:36.002 vpnc: Discarding ancient ESP packet with seq 2").groups() == (
        "14", "22", "36.002", "vpnc: Discarding ancient ESP packet with seq 2")
    assert vpnc.STAMPED_LINE.match("vpnc: Discarding ancient ESP packet with seq 2") is None


def test_the_restart_loop_stamps_every_line_and_records_vpncs_own_pid() -> None:
    init = render_lab(load_topology(MIXED))["client2"].files["/etc/labctl/init.sh"]
    assert "| stamp >>\"$log\" &" in init and "echo $$ >/run/labctl-vpnc.pid" in init
    assert init.index("echo $$ >/run/labctl-vpnc.pid") < init.index("exec stdbuf -oL -eL vpnc")
    # the rendered `stamp` itself, run: each line behind the UTC time, in the lab's clock domain
    function = init[init.index("stamp() {"):init.index("\n}\n", init.index("stamp() {")) + 3]
    before = time.time()
    out = subprocess.run(["sh", "-c", function + "printf 'vpnc: a\\n\\nlabctl: b\\n' | stamp"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    lines = [(events.timed_lines(line, before - 1, before + 10, vpnc.STAMPED_LINE) or [None])[0]
             for line in out.splitlines()]
    assert [line[1] if line else None for line in lines] == ["vpnc: a", "", "labctl: b"]
    assert all(before - 0.01 <= line[0] <= time.time() for line in lines if line)


def _vpnc(vip: str, pid: int, state: str = "connected") -> dict:
    return {"name": "client2", "kind": "vpnc", "state": state, "virtual_ip": vip, "pid": pid, "starts": 1,
            "ike_sa": None}


def _probe(name: str, gap: float) -> ProbeResult:
    return ProbeResult(100, 5, [DirectionResult(f"inside1->{name}", 500, 490, 10, 0, 0, gap, None, None),
                                DirectionResult(f"{name}->inside1", 500, 490, 10, 0, 0, gap, None, None)])


def _verdict() -> Verdict:
    return Verdict("vpez", "stateful", [], "node-kill", "gw1", "gw1", "gw2", converged=True, max_outage_ms=3000,
                   rri={"gw1": [], "gw2": ["10.84.0.2"]})


def test_vpnc_client_that_kept_its_session_passes() -> None:
    verdict = _verdict()
    judge_clients(verdict, {"client2": _vpnc("10.84.0.2", 97)}, {"client2": _vpnc("10.84.0.2", 97)},
                  {"client2": _probe("client2", 500)}, {"client2": vpnc.count_events("vpnc: Accepting x\n")}, True)
    assert verdict.passed, verdict.reasons
    assert verdict.ike_sa_preserved and verdict.child_sa == "same"


def test_vpnc_client_broken_by_the_takeover_fails_with_its_log_lines() -> None:
    verdict = _verdict()
    judge_clients(verdict, {"client2": _vpnc("10.84.0.2", 97)}, {"client2": _vpnc("10.84.0.2", 97)},
                  {"client2": _probe("client2", 36000)}, {"client2": vpnc.count_events(TAKEOVER_LOG)}, True,
                  {"client2": vpnc.telling_lines(TAKEOVER_LOG)})
    text = " | ".join(verdict.reasons)
    assert not verdict.passed and verdict.child_sa == "lost"
    assert "client2 (vpnc): 3 ESP packet(s) from the gateway discarded as replays" in text
    assert "1x 'unknown spi', 2x 'HMAC mismatch'" in text
    assert "vpnc: Discarding ancient ESP packet with seq 1 (expected 4578)" in text
    assert "outage inside1->client2 36000 ms" in text


def test_vpnc_restarted_by_its_loop_is_a_new_session() -> None:
    verdict = _verdict()
    log = "vpnc: connection terminated by dead peer detection\nlabctl: 1 vpnc exited with status 1\n" \
          "labctl: 2 vpnc started, pid 140\nIPSEC SA selected aes256-sha1\n"
    judge_clients(verdict, {"client2": _vpnc("10.84.0.2", 97)}, {"client2": _vpnc("10.84.0.5", 140)},
                  {"client2": _probe("client2", 500)}, {"client2": vpnc.count_events(log)}, True,
                  {"client2": vpnc.telling_lines(log)})
    text = " | ".join(verdict.reasons)
    assert not verdict.passed and not verdict.ike_sa_preserved and verdict.child_sa == "renegotiated"
    assert "client2 (vpnc): vpnc exited (1x dead peer detection), its restart loop started 1 new session(s)" in text
    assert "client2 (vpnc): tun address 10.84.0.2 -> 10.84.0.5" in text

"""The routing handover (`rri.hand_over`): the node that stops being Active forwards what still arrives for
the remote side to the new Active, from a table zebra never announces. Real `ip` in a private network
namespace (`unshare -n`): nothing of the host is touched."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.sidecar import rri

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("ip") is None,
                                reason="needs unshare and ip")

SCRIPT = """
import subprocess, sys
sys.path.insert(0, {root!r})
from labctl.sidecar import rri

def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True).stdout

for cmd in (["link", "add", "dum0", "type", "veth", "peer", "name", "dum1"],  # no dummy module everywhere
            ["addr", "add", "10.62.0.12/24", "dev", "dum0"], ["link", "set", "dum1", "up"],
            ["link", "set", "dum0", "up"], ["link", "set", "lo", "up"]):
    subprocess.run(["ip", *cmd], check=True)
open("/proc/sys/net/ipv4/ip_forward", "w").write("1")
print("BEFORE", ip("route", "get", "10.53.0.5", "from", "10.62.0.50", "iif", "dum0").split("\\n")[0])
{actions}
print("TABLE", ip("route", "show", "table", rri.HANDOVER_TABLE).strip().replace("\\n", " | "))
print("RULES", ip("rule", "show", "pref", rri.HANDOVER_PREF).strip().replace("\\n", " | "))
print("ROUTE", ip("route", "get", "10.53.0.5", "from", "10.62.0.50", "iif", "dum0").split("\\n")[0])
print("MAIN", ip("route", "show", "table", "main").strip().replace("\\n", " | "))
"""


def in_namespace(actions: str) -> dict[str, str]:
    code = SCRIPT.format(root=str(Path(__file__).resolve().parents[2]), actions=actions)
    run = subprocess.run(["unshare", "-n", sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if run.returncode != 0 and "Operation not permitted" in run.stderr:
        pytest.skip("no network namespace here")
    assert run.returncode == 0, run.stderr
    return dict(line.split(" ", 1) if " " in line else (line, "") for line in run.stdout.splitlines())


def test_the_handover_forwards_the_remote_prefixes_to_the_new_active_and_is_not_in_the_main_table() -> None:
    out = in_namespace('rri.hand_over(["10.53.0.0/24", "10.33.0.7"], "10.62.0.11", "dum0")\n'
                       'rri.hand_over(["10.53.0.0/24"], "10.62.0.11", "dum0")  # again: one rule, not two')
    assert "unreachable" in out["BEFORE"] or "10.62.0.11" not in out["BEFORE"]
    assert "10.53.0.0/24 via 10.62.0.11 dev dum0" in out["TABLE"] and "10.33.0.7 via 10.62.0.11" in out["TABLE"]
    assert out["RULES"].count(f"lookup {rri.HANDOVER_TABLE}") == 1 and "iif dum0" in out["RULES"]
    assert "via 10.62.0.11 dev dum0" in out["ROUTE"]
    assert "10.53.0.0" not in out["MAIN"]  # zebra reads the main table only: never announced


def test_the_end_of_the_handover_leaves_nothing_and_costs_nothing_when_there_was_none() -> None:
    out = in_namespace('rri.hand_over(["10.53.0.0/24"], "10.62.0.11", "dum0")\nrri.end_handover()\nrri.end_handover()')
    assert out["TABLE"] == "" and out["RULES"] == ""
    assert "10.62.0.11" not in out["ROUTE"]


def test_injecting_rri_routes_ends_a_handover_it_is_told_of() -> None:
    """A node that is Active again forwards into its own tunnel, not to the peer (the rule is consulted first)."""
    out = in_namespace('rri.hand_over(["10.53.0.0/24"], "10.62.0.11", "dum0")\n'
                       'rri.inject(["10.53.0.0/24"], device="dum0", handover=True)')
    assert out["TABLE"] == "" and out["RULES"] == ""
    assert "10.53.0.0/24 dev dum0 proto 77" in out["MAIN"] or "10.53.0.0/24 dev dum0 proto" in out["MAIN"]


def test_the_vip_check_reads_the_local_addresses_from_fib_trie() -> None:
    """`vip_present` without an `ip` process: an address added to an interface is seen at once, a host route
    or another node's address is not."""
    code = f"""
import subprocess, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from labctl.sidecar.__main__ import vip_present
for cmd in (["link", "add", "v0", "type", "veth", "peer", "name", "v1"], ["link", "set", "v0", "up"],
            ["addr", "add", "10.61.0.11/24", "dev", "v0"], ["route", "add", "10.63.0.7/32", "dev", "v0"]):
    subprocess.run(["ip", *cmd], check=True)
before = vip_present("10.61.0.3")
subprocess.run(["ip", "addr", "add", "10.61.0.3/24", "dev", "v0"], check=True)
print(before, vip_present("10.61.0.3"), vip_present("10.61.0.11"), vip_present("10.63.0.7"), vip_present("10.61.0.12"))
"""
    run = subprocess.run(["unshare", "-n", sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if run.returncode != 0 and "Operation not permitted" in run.stderr:
        pytest.skip("no network namespace here")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True", "True", "False", "False"]


def test_injecting_without_a_handover_leaves_the_handover_table_alone() -> None:
    """No process spent on a handover that is not there (the common takeover); one that is stays."""
    out = in_namespace('rri.hand_over(["10.53.0.0/24"], "10.62.0.11", "dum0")\n'
                       'rri.inject(["10.53.0.0/24"], device="dum0")')
    assert "10.53.0.0/24 via 10.62.0.11" in out["TABLE"] and "lookup 78" in out["RULES"]


def test_a_takeover_claim_installs_the_routes_and_ends_the_handover_in_its_own_batch() -> None:
    """`claim_lines` in the VIP claim's `ip -batch`: the address, the RRI routes in the main table and no
    handover left; a missing tunnel device gives no lines (the claim alone goes through)."""
    out = in_namespace(
        'from labctl.sidecar.hsrp import transport\n'
        'rri.hand_over(["10.53.0.0/24"], "10.62.0.11", "dum0")\n'
        'print("NOTUN", rri.claim_lines(["10.53.0.0/24"], device="nosuch0"))\n'
        'print("CLAIM", transport.claim_vips([("dum0", "10.62.0.1", 24)],'
        ' rri.claim_lines(["10.53.0.0/24", "10.33.0.7"], device="dum1", handover=True)))\n'
        'print("ADDR", ip("-4", "-o", "addr", "show", "dev", "dum0").replace("\\n", " "))')
    assert out["NOTUN"] == "[]"
    assert out["CLAIM"] == "[True]" and "10.62.0.1/24" in out["ADDR"]
    assert out["TABLE"] == "" and out["RULES"] == ""
    assert f"10.53.0.0/24 dev dum1 proto {rri.RRI_PROTO}" in out["MAIN"] and "10.33.0.7 dev dum1" in out["MAIN"]

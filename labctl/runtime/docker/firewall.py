"""Host firewall rules that let routed lab traffic cross Docker's internal bridges.

Docker drops bridged packets on `internal` networks whose source or destination lies outside the
bridge subnet, i.e. every routed lab packet (inside host -> remote LAN). One ACCEPT rule per lab
bridge, in and out of the same bridge only, opens no path off the lab. Each rule carries a comment
with the lab label so `down` removes exactly what `up` added.
"""

from __future__ import annotations

import shutil
import subprocess

from labctl.runtime import labels
from labctl.runtime.spec import FIREWALL_CHAIN as CHAIN


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)


def available() -> bool:
    """False where labctl does not run on the Docker host (remote engine) or iptables is missing."""
    return shutil.which("iptables") is not None and _iptables("-S", CHAIN).returncode == 0


def _comment(lab: str) -> str:
    return f"{labels.LAB}={lab}"


def allow_bridge(lab: str, bridge: str) -> None:
    """Insert the ACCEPT rule for one lab bridge unless it is already there (idempotent)."""
    rule = ["-i", bridge, "-o", bridge, "-m", "comment", "--comment", _comment(lab), "-j", "ACCEPT"]
    if _iptables("-C", CHAIN, *rule).returncode != 0:
        _iptables("-I", CHAIN, *rule)


def _rule_lab(tokens: list[str]) -> str | None:
    """The lab a rule belongs to, read from its `--comment labctl.lab=NAME`."""
    if "--comment" in tokens:
        comment = tokens[tokens.index("--comment") + 1].strip('"')
        if comment.startswith(f"{labels.LAB}="):
            return comment.split("=", 1)[1]
    return None


def lab_rules(lab: str | None = None) -> list[list[str]]:
    """The rules labctl added to DOCKER-USER (for one lab, or all labs), as `-S` tokens."""
    rules = []
    for line in _iptables("-S", CHAIN).stdout.splitlines():
        tokens = line.split()
        owner = _rule_lab(tokens)
        if tokens[:2] == ["-A", CHAIN] and owner and (lab is None or owner == lab):
            rules.append(tokens)
    return rules


def remove_lab_rules(lab: str) -> int:
    """Delete every rule tagged for `lab`; returns how many were removed."""
    rules = lab_rules(lab)
    for tokens in rules:
        _iptables("-D", CHAIN, *[t.strip('"') for t in tokens[2:]])
    return len(rules)

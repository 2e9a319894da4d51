"""Firewall rules on the engine's host that let routed lab traffic cross Docker's internal bridges.

Docker drops bridged packets on `internal` networks whose source or destination lies outside the
bridge subnet, i.e. every routed lab packet (inside host -> remote LAN). One ACCEPT rule per lab
bridge, in and out of the same bridge only, opens no path off the lab. Each rule carries a comment
with the lab label so `down` removes exactly what `up` added.

The rules are added and removed by a short-lived privileged helper container on the target engine (host
network, NET_ADMIN; `helper.py`), like the compose demo's `firewall` service: nothing runs on the machine
labctl runs on, so a remote engine gets its rules on its own host. The helper uses the host's iptables
backend (nft, else legacy). An engine without the DOCKER-USER chain (dockerd --iptables=false) filters
nothing and needs no rule.
"""

from __future__ import annotations

import shlex

import docker

from labctl.errors import EnvironmentProblem
from labctl.runtime import labels
from labctl.runtime.docker.client import engine_scope
from labctl.runtime.docker.helper import run_helper
from labctl.runtime.spec import FIREWALL_CHAIN as CHAIN

BACKEND = (f"ipt=iptables; $ipt -w -S {CHAIN} >/dev/null 2>&1 || ipt=iptables-legacy; "
           f"$ipt -w -S {CHAIN} >/dev/null 2>&1 || {{ echo no-chain; exit 0; }}; ")
NO_CHAIN = "no-chain"


def _comment(lab: str, scope: str = "") -> str:
    """`labctl.lab=NAME@ENGINE` (`engine_scope`): a second engine on the same host removes only its own rules;
    without a scope the form the compose demo (and labctl before engine scopes) wrote."""
    return f"{labels.LAB}={lab}" + (f"@{scope}" if scope else "")


def allow_script(lab: str, bridges: list[str], scope: str = "") -> str:
    """Insert the ACCEPT rule per bridge unless it is already there (idempotent)."""
    lines = [BACKEND]
    for bridge in bridges:
        rule = f"-i {shlex.quote(bridge)} -o {shlex.quote(bridge)} -m comment --comment " \
               f"{shlex.quote(_comment(lab, scope))} -j ACCEPT"
        lines.append(f"$ipt -w -C {CHAIN} {rule} 2>/dev/null || $ipt -w -I {CHAIN} {rule} || exit 1; ")
    return "".join(lines) + "echo ok"


def remove_script(lab: str, scope: str = "") -> str:
    """Delete every rule whose comment names `lab` on this engine (`scope`, and the unscoped form); prints
    `removed N`."""
    comments = dict.fromkeys((_comment(lab, scope), _comment(lab)))
    markers = " ".join("-e " + shlex.quote(f'--comment "{comment}"') for comment in comments)
    return (BACKEND + f"n=0; rules=$($ipt -w -S {CHAIN} | grep -F {markers} | sed 's/^-A /-D /'); "
            "while read -r line; do [ -n \"$line\" ] && eval \"$ipt -w $line\" && n=$((n+1)); done <<EOF\n"
            "$rules\nEOF\necho removed $n")


def allow_bridges(client: docker.DockerClient, lab: str, bridges: list[str]) -> bool:
    """Add the rules on the engine's host; False when the engine filters nothing (no DOCKER-USER chain)."""
    code, out = run_helper(client, "firewall", allow_script(lab, bridges, engine_scope(client)), lab,
                           ("NET_ADMIN", "NET_RAW"))
    if NO_CHAIN in out:
        return False
    if code != 0 or "ok" not in out.split():
        raise EnvironmentProblem(f"cannot add the firewall rules of lab {lab} on the engine's host (exit {code}: "
                                 f"{out.strip()[-300:]}); the engine must grant NET_ADMIN on the host network")
    return True


def remove_lab_rules(client: docker.DockerClient, lab: str) -> int:
    """Delete every rule tagged for `lab` on the engine's host; returns how many were removed."""
    code, out = run_helper(client, "firewall", remove_script(lab, engine_scope(client)), lab, ("NET_ADMIN", "NET_RAW"))
    words = out.split()
    if "removed" in words:
        return int(words[words.index("removed") + 1])
    if NO_CHAIN in out:
        return 0
    raise EnvironmentProblem(f"cannot remove the firewall rules of lab {lab} (exit {code}: {out.strip()[-300:]})")


def _rule_lab(tokens: list[str]) -> str | None:
    """The lab a rule belongs to, read from its `--comment labctl.lab=NAME[@ENGINE]`."""
    if "--comment" in tokens:
        comment = tokens[tokens.index("--comment") + 1].strip('"')
        if comment.startswith(f"{labels.LAB}="):
            return comment.split("=", 1)[1].split("@", 1)[0]
    return None


def lab_rules(client: docker.DockerClient, lab: str | None = None) -> list[list[str]]:
    """The rules labctl added to DOCKER-USER on the engine's host (one lab, or all), as `-S` tokens."""
    _code, out = run_helper(client, "firewall", BACKEND + f"$ipt -w -S {CHAIN}", None, ("NET_ADMIN", "NET_RAW"))
    rules = []
    for line in out.splitlines():
        tokens = line.split()
        owner = _rule_lab(tokens)
        if tokens[:2] == ["-A", CHAIN] and owner and (lab is None or owner == lab):
            rules.append(tokens)
    return rules

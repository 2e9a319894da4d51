"""Session liveness after a takeover: the IKE SA must *work* through the new Active, not only be held.

Each judging party (the remote peer, every connected Easy VPN client) starts a CHILD_SA rekey of its own
(`swanctl --rekey --child NAME`): only the Active can answer it. Answered means, within
`LIVENESS_TIMEOUT`: an INSTALLED CHILD_SA with new SPIs under the SAME IKE SA (unique id and both SPIs)
and the response parsed in the party's charon log (`parsed CREATE_CHILD_SA response` in IKEv2,
`parsed QUICK_MODE response` in IKEv1, as strongSwan's message.c logs them). All rekeys start first (in
parallel), then every party is polled until answered or out of time, so 200 clients take about as long as
one. `rekey_outcome` is pure; `measure` runs it against the nodes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from labctl.experiment.verdict import LIVENESS_TIMEOUT, Verdict
from labctl.nodes import charon
from labctl.runtime import NodeHandle

POLL = 0.2  # seconds between looks at a party's SAs and log
WORKERS = 16
RESPONSE = {1: "parsed QUICK_MODE response", 2: "parsed CREATE_CHILD_SA response"}  # by IKE version
IKE_KEYS = ("uniqueid", "initiator_spi", "responder_spi")


@dataclass
class Target:
    """One party's rekey: its node, the CHILD_SA name, the IKE SA that must answer and the SPIs it had."""

    party: str
    node: NodeHandle | None  # None until the judge fills it in (the pure target builders know no lab)
    child: str
    ike: dict[str, Any]  # uniqueid, initiator_spi, responder_spi
    old_spis: set[tuple[str, str]] = field(default_factory=set)
    ike_version: int = 2


def installed(sa: dict[str, Any], child: str | None = None) -> set[tuple[str, str]]:
    return {(c.get("spi_in"), c.get("spi_out")) for c in sa.get("child_sas", [])
            if c.get("state") == "INSTALLED" and (child is None or c.get("name") == child)}


def skip_note(verdict: Verdict) -> str | None:
    """Why liveness cannot be asked for at all (a note, not a reason: other checks already fail)."""
    if not verdict.converged:
        return "liveness not checked: the lab did not converge"
    if not verdict.actives_after and not verdict.active_after:
        return "liveness not checked: no gateway is HSRP Active at the end"
    return None


def rekey_outcome(target: Target, sas: Iterable[dict[str, Any]], log: str) -> tuple[bool, str]:
    """(answered, what was seen) from the party's SAs and its charon log since the rekey was asked (pure)."""
    uid = target.ike.get("uniqueid")
    text = RESPONSE.get(target.ike_version, RESPONSE[2])
    responded = text in log
    seen = f"'{text}' in its log" if responded else f"no '{text}' in its log"
    same = next((sa for sa in sas if all(sa.get(k) == target.ike.get(k) for k in IKE_KEYS)), None)
    if same is None:
        return False, f"its IKE SA #{uid} is gone; {seen}"
    new = sorted(installed(same, target.child) - target.old_spis)
    if not new:
        return False, f"no new CHILD_SA {target.child} under IKE SA #{uid}; {seen}"
    spis = f"{new[0][0]}_i/{new[0][1]}_o"
    if not responded:
        return False, f"new CHILD_SA {target.child} {spis} under IKE SA #{uid} but {seen}"
    return True, f"new CHILD_SA {target.child} {spis} under IKE SA #{uid}; {seen}"


def measure(targets: list[Target], timeout: float = LIVENESS_TIMEOUT, poll: float = POLL) -> dict[str, dict[str, Any]]:
    """Rekey every target's CHILD_SA, then wait (bounded per party) for each answer."""
    if not targets:
        return {}
    results: dict[str, dict[str, Any]] = {}
    started: dict[str, float] = {}
    offsets: dict[str, int] = {}

    def kick(target: Target) -> None:
        assert target.node is not None
        offsets[target.party] = charon.log_size(target.node)
        started[target.party] = time.monotonic()
        accepted, out = charon.rekey_child(target.node, target.child)
        if not accepted:
            results[target.party] = {"answered": False, "ms": None,
                                     "detail": f"swanctl --rekey --child {target.child} failed: {out or 'no output'}"}

    def look(target: Target) -> tuple[Target, bool, str, float]:
        assert target.node is not None
        sas = charon.sas(target.node)
        log = charon.log_since(target.node, offsets[target.party])
        return (target, *rekey_outcome(target, sas, log), time.monotonic())

    with ThreadPoolExecutor(max_workers=min(WORKERS, len(targets))) as pool:
        list(pool.map(kick, targets))
        pending = [t for t in targets if t.party not in results]
        while pending:
            for target, answered, detail, at in pool.map(look, pending):
                if answered:
                    results[target.party] = {"answered": True, "detail": detail,
                                             "ms": round((at - started[target.party]) * 1000, 1)}
                elif at - started[target.party] >= timeout:
                    results[target.party] = {"answered": False, "ms": None, "detail": detail}
            pending = [t for t in pending if t.party not in results]
            if pending:
                time.sleep(poll)
    return {t.party: results[t.party] for t in targets}

"""What a failover may cost, derived from what the lab is configured to do (pure: from the topology).

Stateful: the standby takes over when the HSRP hold time expires, then needs a little to claim the VIP
and activate the synced SAs: hold + TAKEOVER_ALLOWANCE_MS (850 ms on the shipped 200/700 ms labs).
Stateless: nothing is synced, so the sessions' far end must notice the loss by DPD (its delay, then
charon's retransmissions until it gives up) and re-negotiate with the new Active. An explicit
`--max-outage-ms` wins over both; the verdict JSON says which rule gave the number.
"""

from __future__ import annotations

from typing import Any

from labctl.model.topology import Topology

TAKEOVER_ALLOWANCE_MS = 150.0  # VIP claim (gratuitous ARP), ha segment activation, first packets through
# charon's retransmission schedule as rendered into strongswan.conf (labctl/render/templates/strongswan.conf.j2):
# timeout * base**n for n = 0..tries, then it gives up
RETRANSMIT_TIMEOUT_S, RETRANSMIT_BASE, RETRANSMIT_TRIES = 1.0, 1.4, 3
RENEGOTIATION_ALLOWANCE_MS = 2000.0  # DPD timers tick in whole seconds, then IKE_SA_INIT + AUTH + CHILD
DEFAULT_MAX_LOSS_PERCENT = 0.5  # packets lost once traffic flows again, per direction
LEGACY_DEFAULT_MAX_OUTAGE_MS = 3000  # defaults.yaml's failover.max_outage_ms: taken as "not set"


def retransmit_ms() -> float:
    """How long charon keeps retransmitting an unanswered request before it gives up."""
    return sum(RETRANSMIT_TIMEOUT_S * RETRANSMIT_BASE ** n for n in range(RETRANSMIT_TRIES + 1)) * 1000.0


def outage_budget(topo: Topology, explicit_ms: float | None = None) -> dict[str, Any]:
    """`{"max_outage_ms": ..., "derived_from": "..."}`: the longest silence allowed per direction."""
    if explicit_ms is not None:
        return {"max_outage_ms": float(explicit_ms), "derived_from": "explicit --max-outage-ms"}
    configured = topo.failover.max_outage_ms
    if configured is not None and configured != LEGACY_DEFAULT_MAX_OUTAGE_MS:
        return {"max_outage_ms": float(configured), "derived_from": "topology failover.max_outage_ms"}
    hold = float(topo.ha.hsrp.hold)
    if topo.redundancy == "stateful":
        return {"max_outage_ms": hold + TAKEOVER_ALLOWANCE_MS,
                "derived_from": f"stateful: HSRP hold {hold:.0f} ms + takeover allowance "
                                f"{TAKEOVER_ALLOWANCE_MS:.0f} ms"}
    clients = topo.easyvpn is not None and not topo.peers
    dpd = float(topo.easyvpn.dpd if clients and topo.easyvpn else topo.crypto.dpd)
    retransmits = retransmit_ms()
    return {"max_outage_ms": round(dpd + retransmits + RENEGOTIATION_ALLOWANCE_MS, 1),
            "derived_from": f"stateless: DPD delay {dpd:.0f} ms + {RETRANSMIT_TRIES + 1} unanswered DPD "
                            f"transmissions {retransmits:.0f} ms (charon gives up) + re-negotiation allowance "
                            f"{RENEGOTIATION_ALLOWANCE_MS:.0f} ms"}

"""What a failover may cost, derived from what the lab is configured to do (pure: from the topology).

Stateful: the standby takes over when the HSRP hold time expires, then needs a little to claim the VIP
and activate the synced SAs: hold + `failover.takeover_allowance` (150 ms: 850 ms on the shipped 200/700 ms labs).
Where the inside follows RRI by OSPF, the dead Active's route outlives it (dead interval + FRR's 1 s external
route timer): the later of the two, plus a reroute allowance.
Stateless: nothing is synced, so the sessions' far end must notice the loss by DPD (its delay, then
charon's retransmissions until it gives up) and re-negotiate with the new Active. An explicit
`--max-outage-ms` wins over both; the verdict JSON says which rule gave the number.
"""

from __future__ import annotations

from typing import Any

from labctl.model.dpd import CHARON_RETRANSMIT, ikev1_dead_after_ms, ikev1_dpd_timeout_s
from labctl.model.topology import Topology

QUICK_MODE_REKEY_ALLOWANCE_MS = 300.0  # IKEv1: the post-takeover rekey of every client's CHILD_SA
OSPF_REROUTE_ALLOWANCE_MS = 500.0  # SPF throttle, LSA flooding, route install on the inside router
# FRR ospfd recomputes AS-external routes on a timer 1 s after an SPF (ospf_ase.c, OSPF_ASE_CALC_INTERVAL; not
# configurable): a dead ASBR's redistributed route outlives its dead interval by this much
FRR_EXTERNAL_RECALC_MS = 1000.0
RENEGOTIATION_ALLOWANCE_MS = 2000.0  # DPD timers tick in whole seconds, then IKE_SA_INIT + AUTH + CHILD
DEFAULT_MAX_LOSS_PERCENT = 0.5  # defaults.yaml's failover.max_loss_percent (for verdicts built without a topology)
RETRANSMIT_TIMEOUT_S = CHARON_RETRANSMIT["timeout"]
RETRANSMIT_BASE = CHARON_RETRANSMIT["base"]
RETRANSMIT_TRIES = int(CHARON_RETRANSMIT["tries"])


def retransmit_ms() -> float:
    """How long charon keeps retransmitting an unanswered request before it gives up."""
    return sum(RETRANSMIT_TIMEOUT_S * RETRANSMIT_BASE ** n for n in range(RETRANSMIT_TRIES + 1)) * 1000.0


def outage_budget(topo: Topology, explicit_ms: float | None = None) -> dict[str, Any]:
    """`{"max_outage_ms": ..., "derived_from": "..."}`: the longest silence allowed per direction."""
    if explicit_ms is not None:
        return {"max_outage_ms": float(explicit_ms), "derived_from": "explicit --max-outage-ms"}
    configured = topo.failover.max_outage_ms
    if configured is not None:
        return {"max_outage_ms": float(configured), "derived_from": "topology failover.max_outage_ms"}
    hold = float(topo.ha.hsrp.hold)
    if topo.redundancy == "stateful":
        allowance = float(topo.failover.takeover_allowance)
        budget = hold + allowance
        derived = f"stateful: HSRP hold {hold:.0f} ms + takeover allowance {allowance:.0f} ms"
        if topo.easyvpn is not None or topo.crypto.ike_version == 1:
            # the takeover rekeys every CHILD_SA (ESP sequence continuity); until the new SAs are in, the new
            # Active's outbound packets fall below the far end's replay window. IKEv1 Quick Mode takes three
            # messages where IKEv2 takes two, and Easy VPN clients are many (and weighted low for CPU)
            budget += QUICK_MODE_REKEY_ALLOWANCE_MS
            derived += f" + IKEv1 Quick Mode rekey allowance {QUICK_MODE_REKEY_ALLOWANCE_MS:.0f} ms"
        if topo.ha.ospf and topo.ha.ospf.redistribute_rri and topo.ha.rri:
            # the inside routers follow the RRI routes by OSPF. The new Active's route comes with its takeover;
            # the dead Active's stays until its neighbours declare it dead and FRR recomputes its external
            # routes (a fixed second after the SPF). Meanwhile both are equal-cost paths: a flow the inside
            # router hashes to the dead one waits for the later of the two, then for SPF and the route install
            dead = float(topo.ha.ospf.timers.dead)
            stale = dead + FRR_EXTERNAL_RECALC_MS
            budget = max(budget, stale) + OSPF_REROUTE_ALLOWANCE_MS
            derived = (f"stateful: the later of ({derived.removeprefix('stateful: ')}) and (OSPF dead interval "
                       f"{dead:.0f} ms + FRR's external-route recalculation {FRR_EXTERNAL_RECALC_MS:.0f} ms: the dead "
                       f"Active's route) + reroute allowance {OSPF_REROUTE_ALLOWANCE_MS:.0f} ms "
                       "(the inside follows RRI by OSPF)")
        return {"max_outage_ms": budget, "derived_from": derived}
    clients = topo.easyvpn is not None and not topo.peers
    dpd = float(topo.easyvpn.dpd if clients and topo.easyvpn else topo.crypto.dpd)
    if clients or topo.crypto.ike_version == 1:
        # IKEv1: one R-U-THERE per DPD delay, dead once the silence reaches dpd_timeout (model/dpd.py)
        dead = ikev1_dead_after_ms(int(dpd))
        return {"max_outage_ms": round(dead + RENEGOTIATION_ALLOWANCE_MS, 1),
                "derived_from": f"stateless: IKEv1 DPD every {dpd:.0f} ms, the SA declared dead at the first check "
                                f"after {ikev1_dpd_timeout_s(int(dpd))} s of silence ({dead:.0f} ms) + "
                                f"re-negotiation allowance {RENEGOTIATION_ALLOWANCE_MS:.0f} ms"}
    retransmits = retransmit_ms()
    return {"max_outage_ms": round(dpd + retransmits + RENEGOTIATION_ALLOWANCE_MS, 1),
            "derived_from": f"stateless: DPD delay {dpd:.0f} ms + {RETRANSMIT_TRIES + 1} unanswered DPD "
                            f"transmissions {retransmits:.0f} ms (charon gives up) + re-negotiation allowance "
                            f"{RENEGOTIATION_ALLOWANCE_MS:.0f} ms"}

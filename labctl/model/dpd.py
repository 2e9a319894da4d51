"""Does the far end's dead peer detection outlast an HSRP takeover? (pure: from the topology)

A stateful failover keeps the IKE SA only if the peer (or Easy VPN client) has not declared the gateway dead
by the time the standby is Active. charon's DPD, as rendered (swanctl `dpd_delay`, strongswan.conf
`retransmit_*`, no `dpd_timeout`):

- the first DPD request leaves `dpd_delay` after the last inbound packet. charon counts in whole seconds, so it
  can leave up to DPD_CLOCK_MS earlier;
- IKEv2: the request is retransmitted after timeout * base**n (n = 0 .. tries-1) and charon gives up
  timeout * base**tries after the last one. Only a transmission that reaches the new Active gets an answer, so
  the last retransmission must leave after the takeover (HSRP hold + `failover.takeover_allowance`);
- IKEv1: one R-U-THERE, never retransmitted; the peer waits the whole schedule (sum of timeout * base**n,
  n = 0 .. tries) for any inbound traffic, which the new Active sends once its Quick Mode rekey is through.

The schedule is defined here once: render writes it into strongswan.conf, the stateless outage budget
(experiment) and this check read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from labctl.model.topology import Topology

# charon's retransmission schedule (timeout * base**n for n = 0..tries, then it gives up)
CHARON_RETRANSMIT = {"timeout": 1.0, "base": 1.4, "tries": 3}
DPD_CLOCK_MS = 1000  # charon's DPD timer works in whole seconds: a request can leave up to 1 s early
QUICK_MODE_REKEY_MS = 300  # IKEv1: the takeover's Quick Mode rekey before the new Active's ESP is accepted


def retransmit_offsets_ms() -> list[float]:
    """When each DPD transmission leaves, counted from the first (0 ms first)."""
    timeout, base, tries = CHARON_RETRANSMIT["timeout"], CHARON_RETRANSMIT["base"], int(CHARON_RETRANSMIT["tries"])
    offsets, at = [], 0.0
    for n in range(tries + 1):
        offsets.append(at)
        at += timeout * base**n * 1000.0
    return offsets


def give_up_ms() -> float:
    """How long charon waits for a DPD answer before it declares the peer dead (the whole schedule)."""
    timeout, base, tries = CHARON_RETRANSMIT["timeout"], CHARON_RETRANSMIT["base"], int(CHARON_RETRANSMIT["tries"])
    return sum(timeout * base**n for n in range(tries + 1)) * 1000.0


def ikev1_dpd_timeout_s(dpd_ms: int) -> int:
    """IKEv1 sends one R-U-THERE per `dpd_delay` and never retransmits it; charon declares the SA dead after
    `dpd_timeout` without inbound traffic (150 s unless set). Rendered as the delay plus the retransmit
    schedule, so both IKE versions give up after about the same silence."""
    return math.ceil((dpd_ms // 1000 * 1000 + give_up_ms()) / 1000)


def ikev1_dead_after_ms(dpd_ms: int) -> float:
    """When an IKEv1 far end declares a silent gateway dead: at the first DPD check (every `dpd_delay`)
    at which the silence has lasted `dpd_timeout`."""
    delay_s = max(1, dpd_ms // 1000)
    return math.ceil(ikev1_dpd_timeout_s(dpd_ms) / delay_s) * delay_s * 1000.0


@dataclass(frozen=True)
class DpdMargin:
    """The far end's DPD against the takeover, all in ms after the Active went silent."""

    who: str  # "peer" (site-to-site) or "clients" (Easy VPN)
    ike_version: int
    dpd_ms: int
    takeover_ms: float  # HSRP hold + takeover allowance (+ the IKEv1 Quick Mode rekey)
    last_chance_ms: float  # the latest moment the far end can still be answered (worst case)

    @property
    def survives(self) -> bool:
        """Rendered as whole seconds (`dpd_delay = Ns`): below a second DPD is off and nothing gives up."""
        return self.dpd_ms < 1000 or self.last_chance_ms >= self.takeover_ms

    def minimum_dpd_s(self) -> int:
        """The smallest whole-second DPD delay that outlasts this takeover."""
        return max(1, math.ceil((self.takeover_ms - (self.last_chance_ms - self.dpd_ms)) / 1000))

    def explain(self) -> str:
        if self.ike_version == 2:
            rule = (f"its last DPD retransmission leaves {self.last_chance_ms:.0f} ms after the Active went silent "
                    f"(dpd {self.dpd_ms} ms - {DPD_CLOCK_MS} ms whole-second clock + retransmits at "
                    f"{', '.join(f'{o:.0f}' for o in retransmit_offsets_ms()[1:])} ms), then it gives up")
        else:
            rule = (f"it waits for inbound traffic until {self.last_chance_ms:.0f} ms after the Active went silent "
                    f"(dpd {self.dpd_ms} ms - {DPD_CLOCK_MS} ms whole-second clock + one R-U-THERE answered within "
                    f"{give_up_ms():.0f} ms)")
        return rule


def dpd_margins(topo: Topology) -> list[DpdMargin]:
    """One margin for each far end that runs DPD against the VIP: the site-to-site peers, the Easy VPN clients."""
    hold_and_takeover = float(topo.ha.hsrp.hold + topo.failover.takeover_allowance)
    margins = []
    if topo.peers:
        margins.append(_margin("peer", topo.crypto.ike_version, topo.crypto.dpd, hold_and_takeover))
    if topo.easyvpn is not None:
        margins.append(_margin("clients", 1, topo.easyvpn.dpd, hold_and_takeover))
    return margins


def _margin(who: str, ike_version: int, dpd_ms: int, hold_and_takeover: float) -> DpdMargin:
    dpd_ms = dpd_ms // 1000 * 1000  # what swanctl.conf gets: whole seconds
    first = float(dpd_ms - DPD_CLOCK_MS)
    if ike_version == 2:
        return DpdMargin(who, 2, dpd_ms, hold_and_takeover, first + retransmit_offsets_ms()[-1])
    return DpdMargin(who, 1, dpd_ms, hold_and_takeover + QUICK_MODE_REKEY_MS, first + give_up_ms())

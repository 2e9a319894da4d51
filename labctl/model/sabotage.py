"""Known-bad variants (`--sabotage`): what each one switches off, in one place.

A variant is a lab that must FAIL for its own reason, so that a PASS means something: `no-sync` starts the
pair without charon's ha plugin (no IKE/IPsec state on the standby), `no-rekey` skips the CHILD_SA rekey that
restores ESP sequence continuity after a takeover, `no-rri` never injects the reverse routes.

Three more break only the gateway that takes over (the one that is not preferred, i.e. the standby of a
whole lab), so the lab comes up healthy and the damage shows after the takeover:

- `slow-takeover`: it claims the VIPs `SLOW_TAKEOVER_MS` after HSRP made it Active: a blackout of about
  hold + that delay (2.3 s on the 200/700 ms labs: inside the old flat 3 s budget, far over the derived one),
  the IKE SA kept. The delay is on the VIP claim, not on charon's `+1`: the ha plugin installs the synced
  CHILD_SAs and their policies on the standby too, so ESP would flow as soon as the VIP moves whatever the
  segment says.
- `lossy-takeover`: it drops `LOSSY_TAKEOVER_PERCENT` % of the ESP sent from or to the crypto VIP (nftables,
  table `SABOTAGE_TABLE`); it carries no ESP before the takeover, so only the sessions after it lose.
- `mute-ike`: it drops every IKE request sent to the crypto VIP (IKEv2: Response flag clear; IKEv1 has no
  such flag, so all of it), never the ha plugin's sync or the SSO channel: ESP keeps flowing on the synced
  SAs and its own post-takeover rekey (a request it sends, answered) still works, but it never answers the
  peer's or a client's exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from labctl.errors import LabctlError
from labctl.model.helpers import preferred_gateway
from labctl.model.topology import Topology

SABOTAGES: dict[str, str] = {
    "no-sync": "no IKE/IPsec state sync (charon's ha plugin off)",
    "no-rekey": "neither replay-state sync nor a CHILD_SA rekey after a takeover (ESP sequence continuity lost)",
    "no-rri": "no reverse route injection on the Active",
    "slow-takeover": "the gateway that takes over claims the VIPs late (a long blackout, IKE SA kept)",
    "lossy-takeover": "the gateway that takes over drops a share of the ESP it carries (steady loss after it)",
    "mute-ike": "the gateway that takes over does not answer IKE (ESP flows, the IKE SA is dead)",
}
SLOW_TAKEOVER_MS = 1500  # hold 700 + 1500 + ~100 ms takeover: < 3000 (the old budget), > 850 (the derived one)
LOSSY_TAKEOVER_PERCENT = 20
SABOTAGE_TABLE = "labctl_sabotage"  # nftables table of the sabotage rules (never `labctl_fault`: not a fault)


@dataclass(frozen=True)
class Switches:
    """What a lab (or, with `gateway_switches`, one gateway) runs with once its sabotage is applied."""

    state_sync: bool
    sequence_continuity: bool  # off: neither replay-state sync nor the takeover rekey (`ha.sequence_continuity`)
    rri: bool
    takeover_delay_ms: int = 0  # VIPs claimed this long after becoming HSRP Active
    esp_loss_percent: int = 0  # ESP from/to the crypto VIP dropped at random
    mute_ike: bool = False  # IKE requests to the crypto VIP dropped


def switches(redundancy: str, rri: bool, sabotage: tuple[str, ...] | list[str] = ()) -> Switches:
    """The lab-wide switches; the takeover sabotages are set as named (see `gateway_switches` for whom)."""
    unknown = [name for name in sabotage if name not in SABOTAGES]
    if unknown:
        raise LabctlError(f"unknown sabotage {unknown[0]!r}: choose from {', '.join(SABOTAGES)}")
    return Switches(
        state_sync=redundancy == "stateful" and "no-sync" not in sabotage,
        sequence_continuity="no-rekey" not in sabotage,
        rri=rri and "no-rri" not in sabotage,
        takeover_delay_ms=SLOW_TAKEOVER_MS if "slow-takeover" in sabotage else 0,
        esp_loss_percent=LOSSY_TAKEOVER_PERCENT if "lossy-takeover" in sabotage else 0,
        mute_ike="mute-ike" in sabotage,
    )


def takeover_gateway(topo: Topology) -> str:
    """The gateway a takeover sabotage breaks: the one that is not preferred (the standby of a whole lab)."""
    preferred = preferred_gateway(topo)
    return next(name for name in topo.ha.nodes if name != preferred)


def gateway_switches(topo: Topology, node: str, sabotage: tuple[str, ...] | list[str] = ()) -> Switches:
    """The switches one gateway runs with: the takeover sabotages only on `takeover_gateway(topo)`."""
    on = switches(topo.redundancy, topo.ha.rri, sabotage)
    if node == takeover_gateway(topo):
        return on
    return replace(on, takeover_delay_ms=0, esp_loss_percent=0, mute_ike=False)

"""Known-bad variants (`--sabotage`): what each one switches off, in one place.

A variant is a lab that must FAIL for its own reason, so that a PASS means something: `no-sync` starts the
pair without charon's ha plugin (no IKE/IPsec state on the standby), `no-rekey` skips the CHILD_SA rekey that
restores ESP sequence continuity after a takeover, `no-rri` never injects the reverse routes.
"""

from __future__ import annotations

from dataclasses import dataclass

from labctl.errors import LabctlError

SABOTAGES: dict[str, str] = {
    "no-sync": "no IKE/IPsec state sync (charon's ha plugin off)",
    "no-rekey": "no CHILD_SA rekey after a takeover (ESP sequence continuity not restored)",
    "no-rri": "no reverse route injection on the Active",
}


@dataclass(frozen=True)
class Switches:
    """What a lab runs with once its sabotage is applied."""

    state_sync: bool
    sequence_continuity: bool
    rri: bool


def switches(redundancy: str, rri: bool, sabotage: tuple[str, ...] | list[str] = ()) -> Switches:
    unknown = [name for name in sabotage if name not in SABOTAGES]
    if unknown:
        raise LabctlError(f"unknown sabotage {unknown[0]!r}: choose from {', '.join(SABOTAGES)}")
    return Switches(
        state_sync=redundancy == "stateful" and "no-sync" not in sabotage,
        sequence_continuity="no-rekey" not in sabotage,
        rri=rri and "no-rri" not in sabotage,
    )

"""A running lab as the upper layers see it: its effective topology, its sabotage, handles to its nodes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError, UsageError
from labctl.model.loader import load_topology
from labctl.model.shipped import find_topology
from labctl.model.topology import Topology
from labctl.nodes import gateway
from labctl.runtime import LabHandle, NodeHandle, NodeState, labels


@dataclass(frozen=True)
class RunningLab:
    """What every verb after `up` works on (faults, probes, verdicts, status, show)."""

    topo: Topology
    sabotage: tuple[str, ...]
    handle: LabHandle

    @property
    def name(self) -> str:
        return self.topo.name

    def node(self, name: str) -> NodeHandle:
        return self.handle.node(name)

    def states(self) -> list[NodeState]:
        return self.handle.states()

    def active_gateway(self) -> str | None:
        """The gateway whose sidecar says it is HSRP Active right now (the first, should there be two)."""
        return next((n for n in self.topo.ha.nodes if gateway.is_active(self.node(n))), None)


def load(path: str | Path, host_networks: list[str] | None = None,
         overrides: dict[str, Any] | None = None) -> Topology:
    topo = load_topology(find_topology(path), host_networks)
    return topo.with_overrides(overrides) if overrides else topo


def open_lab(handle: LabHandle) -> RunningLab:
    """The effective topology of a running lab (file + `up` overrides, from its labels) and its sabotage."""
    lab_labels = handle.labels()
    if not lab_labels:
        raise UsageError(f"no lab named {handle.name} is running (`labctl status` lists labs)")
    sabotage = tuple(s for s in lab_labels.get(labels.SABOTAGE, "").split(",") if s)
    stored = lab_labels.get(labels.EFFECTIVE_TOPOLOGY)
    if stored:
        try:
            return RunningLab(Topology.model_validate_json(stored), sabotage, handle)
        except ValueError as exc:
            raise LabctlError(f"lab {handle.name} carries a topology this labctl cannot read ({exc}); "
                              "it was started by another version: `labctl down` it and start it again") from None
    # a lab started without the stored topology (the compose demo): the file it names, plus its overrides
    overrides = json.loads(lab_labels.get(labels.OVERRIDES) or "{}")
    return RunningLab(load(lab_labels[labels.TOPOLOGY], overrides=overrides), sabotage, handle)

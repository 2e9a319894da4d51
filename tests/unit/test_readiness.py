"""A readiness timeout names the nodes that did not get there, not every node of the stage (no Docker: the
nodes are doubles whose `swanctl --stats` fails or succeeds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labctl.errors import ReadinessTimeout
from labctl.lab.readiness import telling_events, wait_ready
from labctl.model.loader import load_topology

ROOT = Path(__file__).resolve().parents[2]


class Node:
    def __init__(self, up: bool) -> None:
        self.up, self.asked = up, 0

    def exec(self, cmd: list[str], timeout: float | None = None) -> tuple[int, str]:
        self.asked += 1
        return (0 if self.up else 1), ""

    def logs(self, since: float | None = None) -> str:
        return ""


class Lab:
    def __init__(self, down: set[str]) -> None:
        self.topo = load_topology(ROOT / "topologies" / "dual-interface.yaml")
        self.name = self.topo.name
        self.nodes = {n: Node(n not in down) for n in [*self.topo.ha.nodes, *self.topo.peers]}

    def node(self, name: str) -> Any:
        return self.nodes[name]


def test_the_charon_stage_names_only_the_nodes_not_answering() -> None:
    lab = Lab(down={"gw2"})
    with pytest.raises(ReadinessTimeout, match=r"charon answering on gw1, gw2, peer \(after [0-9.]+s\); "
                                               r"not answering: gw2$"):
        wait_ready(lab, deadline=0.0, progress=lambda _m: None, stages={}, started=0.0)  # type: ignore[arg-type]
    assert lab.nodes["gw1"].asked == 1 and lab.nodes["gw2"].asked == 1  # each asked once before the deadline


def test_a_crashing_sidecar_is_quoted_with_its_exception() -> None:
    log = "\n".join(f"2026-12-07T04:50:{i:02d}.1Z {line}" for i, line in enumerate([  # docker logs --timestamps
        "04:50:19 charon: started (ha plugin on)",
        "04:50:19 debug: nothing to quote",
        "Traceback (most recent call last):",
        '  File "/usr/lib/labctl/sidecar/__main__.py", line 297, in run',
        "OSError: [Errno 99] Cannot assign requested address",
        "04:50:24 sidecar exited (1), restarting",
        "04:50:24 hsrp: group 1 Init -> Listen",
    ]))
    assert telling_events(log) == ["04:50:19 charon: started (ha plugin on)",
                                   "OSError: [Errno 99] Cannot assign requested address",
                                   "04:50:24 sidecar exited (1), restarting", "04:50:24 hsrp: group 1 Init -> Listen"]


def test_a_standby_that_never_gets_hot_says_what_it_lacks() -> None:
    from labctl.lab.readiness import redundancy_states

    statuses = {"gw1": {"redundancy": "STANDBY COLD",
                        "redundancy_detail": "ESP replay state of the Active not continued here yet"},
                "gw2": {"redundancy": "ACTIVE", "redundancy_detail": ""}, "gw3": {}}
    assert redundancy_states(statuses) == ("; gw1 STANDBY COLD (ESP replay state of the Active not continued here "
                                           "yet), gw2 ACTIVE, gw3 no status")
    assert redundancy_states({}) == ""

"""`labctl graph` output (Mermaid, Graphviz source) and the `labctl watch` frame, from files (no Docker)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from labctl.errors import LabctlError
from labctl.model.loader import load_topology
from labctl.render.graph import dot, mermaid, render_graph
from labctl.views.watch import events_table, node_table

ROOT = Path(__file__).resolve().parents[2]
TOPO = load_topology(ROOT / "topologies" / "dual-interface.yaml")


def test_mermaid_shows_pair_nodes_networks_addresses_and_tunnel() -> None:
    text = mermaid(TOPO)
    assert text.startswith("flowchart LR\n")
    assert 'subgraph ha["HA pair HA-out · stateful · HSRP v2 200/700 ms"]' in text
    assert 'n_gw1["gw1<br/>HA gateway, priority 110"]' in text
    assert "VIP 198.51.100.3 (HSRP group 1, IKE/ESP)" in text
    assert "n_gw2 ---|198.51.100.12| net_outside" in text and "n_remote1 ---|10.2.0.10| net_remote_lan" in text
    assert 'ha -. "IPsec tunnel (IKEv2)" .- n_peer' in text
    assert "net_remote_lan" in text and "net_remote-lan" not in text  # ids stay Mermaid-safe


def test_dot_source_and_rendering() -> None:
    source = dot(TOPO)
    assert source.startswith('graph "dual" {') and "subgraph cluster_ha" in source
    assert 'n_peer -- net_outside [label="198.51.100.50"];' in source
    with pytest.raises(LabctlError, match="unknown format"):
        render_graph(TOPO, "gif")
    if shutil.which("dot"):
        svg = render_graph(TOPO, "svg").decode()
        assert "<svg" in svg and "198.51.100.3" in svg
        assert render_graph(TOPO, "png")[:8] == b"\x89PNG\r\n\x1a\n"


def test_watch_frame_from_live_status_document() -> None:
    status = json.loads((ROOT / "tests/unit/fixtures/show/lab-status.json").read_text())
    console = Console(width=200, record=True, color_system=None)
    console.print(node_table(status))
    frame = console.export_text()
    assert "grp 1 outside: Active VIP" in frame and "STANDBY HOT" in frame
    assert "site#1 ESTABLISHED" in frame and "INSTALLED" in frame
    status["nodes"][0]["running"], status["nodes"][0]["status"] = False, "exited"
    console.print(node_table(status))
    assert "DOWN (exited)" in console.export_text()
    console.print(events_table([{"time": 1795441550.25, "node": "gw2", "kind": "role", "detail": "standby -> active"}]))
    assert "role: standby -> active" in console.export_text()

"""`labctl graph TOPOLOGY`: a picture of a lab — Mermaid text (renders on GitHub/GitLab, needs nothing) or
Graphviz (`dot` source, SVG/PNG through the `dot` program)."""

from __future__ import annotations

import re
import shutil
import subprocess

from labctl.errors import LabctlError
from labctl.model.topology import Topology

FORMATS = ("mermaid", "dot", "svg", "png")


def _id(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"


def _network_label(topo: Topology, name: str) -> list[str]:
    lines = [name, str(topo.networks[name].subnet)]
    for group in topo.ha.interfaces:
        if group.network == name:
            lines.append(f"VIP {group.virtual_ip} (HSRP group {group.group}{', IKE/ESP' if group.crypto else ''})")
    if name == topo.ha.sync_network:
        lines.append("sync: SSO + IKE/IPsec state")
    return lines


def _nodes(topo: Topology) -> list[tuple[str, str, list[str]]]:
    """(name, role, label lines) of every node."""
    out = []
    for name, node in topo.ha.nodes.items():
        out.append((name, "ha-gateway", [name, f"HA gateway, priority {node.priority}"]))
    for name in topo.peers:
        out.append((name, "peer", [name, "remote IPsec peer"]))
    for name, host in topo.hosts.items():
        out.append((name, "host", [name, f"host, via {host.gateway}"]))
    return out


def mermaid(topo: Topology) -> str:
    lines = ["flowchart LR", f"  %% lab {topo.name}: {topo.description}"]
    lines.append(f'  subgraph ha["HA pair {topo.ha.group_name} · {topo.redundancy} · HSRP v{topo.ha.hsrp.version} '
                 f'{topo.ha.hsrp.hello}/{topo.ha.hsrp.hold} ms"]')
    for name, role, label in _nodes(topo):
        if role == "ha-gateway":
            lines.append(f'    {_id("n", name)}["{"<br/>".join(label)}"]')
    lines.append("  end")
    for name, role, label in _nodes(topo):
        if role != "ha-gateway":
            shape = ('["', '"]') if role == "peer" else ('("', '")')
            lines.append(f'  {_id("n", name)}{shape[0]}{"<br/>".join(label)}{shape[1]}')
    for name in topo.networks:
        lines.append(f'  {_id("net", name)}(["{"<br/>".join(_network_label(topo, name))}"])')
    for name, _, _ in _nodes(topo):
        for network, address in topo.addresses_of(name).items():
            lines.append(f'  {_id("n", name)} ---|{address}| {_id("net", network)}')
    for peer in topo.peers:
        lines.append(f'  ha -. "IPsec tunnel (IKEv{topo.crypto.ike_version})" .- {_id("n", peer)}')
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(topo: Topology) -> str:
    pair = f"HA pair {topo.ha.group_name} · {topo.redundancy} · HSRP v{topo.ha.hsrp.version}"
    lines = [f"graph {_dot_quote(topo.name)} {{", "  rankdir=LR; fontname=Helvetica;",
             "  node [fontname=Helvetica fontsize=10]; edge [fontname=Helvetica fontsize=9];",
             f"  label={_dot_quote(f'lab {topo.name}: {topo.description}')}; labelloc=t;",
             "  subgraph cluster_ha {",
             f"    label={_dot_quote(pair)};"
             " style=rounded; color=\"#1a73e8\";"]
    for name, role, label in _nodes(topo):
        if role == "ha-gateway":
            lines.append(f"    {_id('n', name)} [shape=box style=\"rounded,filled\" fillcolor=\"#e8f0fe\" "
                         f"label={_dot_quote(chr(10).join(label))}];")
    lines.append("  }")
    for name, role, label in _nodes(topo):
        if role != "ha-gateway":
            color = "#fce8e6" if role == "peer" else "#f1f3f4"
            lines.append(f"  {_id('n', name)} [shape=box style=\"rounded,filled\" fillcolor=\"{color}\" "
                         f"label={_dot_quote(chr(10).join(label))}];")
    for name in topo.networks:
        lines.append(f"  {_id('net', name)} [shape=ellipse style=filled fillcolor=\"#e6f4ea\" "
                     f"label={_dot_quote(chr(10).join(_network_label(topo, name)))}];")
    for name, _, _ in _nodes(topo):
        for network, address in topo.addresses_of(name).items():
            lines.append(f"  {_id('n', name)} -- {_id('net', network)} [label={_dot_quote(str(address))}];")
    first_gw = next(iter(topo.ha.nodes))
    for peer in topo.peers:
        lines.append(f"  {_id('n', first_gw)} -- {_id('n', peer)} [style=dashed color=\"#9334e6\" constraint=false "
                     f"ltail=cluster_ha label={_dot_quote(f'IPsec (IKEv{topo.crypto.ike_version})')}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_graph(topo: Topology, fmt: str) -> bytes:
    """The picture in `fmt`; svg/png run Graphviz `dot`."""
    if fmt == "mermaid":
        return mermaid(topo).encode()
    source = dot(topo)
    if fmt == "dot":
        return source.encode()
    if fmt not in FORMATS:
        raise LabctlError(f"unknown format {fmt!r}: choose from {', '.join(FORMATS)}")
    if not shutil.which("dot"):
        raise LabctlError(f"--format {fmt} needs Graphviz `dot` (Debian: apt-get install graphviz); "
                          "--format mermaid needs nothing")
    result = subprocess.run(["dot", f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=60)
    if result.returncode != 0:
        raise LabctlError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout

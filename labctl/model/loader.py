"""Load a topology YAML file into the model, with errors that name file, line and field."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from labctl.errors import TopologyError
from labctl.model import checks
from labctl.model.topology import Topology

Loc = tuple[str | int, ...]


def _compose(text: str, filename: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML into plain data plus the line (1-based) of every key and item."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise TopologyError(f"{filename}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    lines: dict[Loc, int] = {}
    constructor = yaml.SafeLoader("")

    def walk(node: yaml.Node, loc: Loc) -> Any:
        lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node)
                if key in result:
                    raise TopologyError(
                        f"{filename}:{key_node.start_mark.line + 1}: field {_dotted((*loc, key))}: "
                        "duplicate key"
                    )
                lines[(*loc, key)] = key_node.start_mark.line + 1
                result[key] = walk(value_node, (*loc, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [walk(item, (*loc, index)) for index, item in enumerate(node.value)]
        return constructor.construct_object(node)

    return (walk(root, ()) if root is not None else None), lines


def _dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int:
    """Line of the deepest part of `loc` present in the file (a missing field points at its parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def _merge_defaults(defaults: Any, data: Any) -> Any:
    """Deep-merge: the user's values win, defaults fill in what a mapping leaves out."""
    if isinstance(defaults, dict) and isinstance(data, dict):
        return {**copy.deepcopy(defaults), **{k: _merge_defaults(defaults.get(k), v) for k, v in data.items()}}
    return data


def _defaults() -> dict[str, Any]:
    return yaml.safe_load(resources.files("labctl.model").joinpath("defaults.yaml").read_text())


def load_topology(path: str | Path, host_networks: Iterable[Any] | None = None) -> Topology:
    """Read, default, validate and cross-check a topology; raise TopologyError listing every problem.

    `host_networks` are the host's own routed prefixes; a lab subnet overlapping one is refused so
    lab traffic can never leak onto a real network.
    """
    path = Path(path)
    filename = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError(f"{filename}: cannot read topology: {exc.strerror}") from None
    data, lines = _compose(text, filename)
    if not isinstance(data, dict):
        raise TopologyError(f"{filename}:1: a topology must be a YAML mapping (name:, networks:, ha:, ...)")
    try:
        topology = Topology.model_validate(_merge_defaults(_defaults(), data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            problems.append(f"{filename}:{_line_for(loc, lines)}: field {_dotted(loc)}: {err['msg']}")
        raise TopologyError("\n".join(problems)) from None
    issues = checks.check_topology(topology)
    if host_networks is not None:
        issues += checks.check_host_overlap(topology, host_networks)
    if issues:
        raise TopologyError(
            "\n".join(f"{filename}:{_line_for(loc, lines)}: field {_dotted(loc)}: {msg}" for loc, msg in issues)
        )
    return topology

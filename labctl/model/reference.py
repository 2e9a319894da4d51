"""Markdown references of the file formats, generated from their JSON Schemas (so they cannot drift).

`docs/topology.md` and `docs/matrix.md` are these texts; a unit test fails when a checked-in copy is stale
(`labctl schema --markdown > docs/topology.md`, `labctl schema --matrix --markdown > docs/matrix.md`).
"""

from __future__ import annotations

import json
from typing import Any


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in prop:
        kinds = [_type(p) for p in prop["anyOf"]]
        if prop.get("description", "").startswith("a duration"):
            return "duration"
        return " or ".join(dict.fromkeys(kinds))
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object":
        values = next(iter(prop.get("patternProperties", {}).values()), prop.get("additionalProperties"))
        return f"map name → {_type(values)}" if isinstance(values, dict) else "mapping"
    return str(kind)


def _constraints(prop: dict[str, Any]) -> str:
    words = []
    for key, label in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("minLength", "length ≥"),
                       ("maxLength", "length ≤"), ("minItems", "items ≥"), ("minProperties", "entries ≥")):
        if key in prop:
            words.append(f"{label} {prop[key]}")
    return ", ".join(words)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown(schema: dict[str, Any], title: str, intro: str) -> str:
    """One section per object type: field, type, default, constraints, what it is."""
    lines = [f"# {title}", "", intro, ""]
    sections = [(schema.get("title", "root"), schema), *sorted(schema.get("$defs", {}).items())]
    for name, definition in sections:
        lines += [f"## {name}", ""]
        if definition.get("description"):
            lines += [_cell(definition["description"]), ""]
        required = set(definition.get("required", []))
        lines += ["| field | type | default | constraints | notes |", "|---|---|---|---|---|"]
        for field, prop in definition.get("properties", {}).items():
            default = json.dumps(prop["default"]) if "default" in prop else ("required" if field in required else "")
            lines.append(f"| `{field}` | {_type(prop)} | {_cell(default)} | {_cell(_constraints(prop))} | "
                         f"{_cell(prop.get('description', ''))} |")
        lines.append("")
    return "\n".join(lines)


def topology_reference() -> str:
    from labctl.model.schema import topology_json_schema

    return markdown(topology_json_schema(), "Topology file reference",
                    "Generated from the model (`labctl schema --markdown`); defaults come from "
                    "`labctl/model/defaults.yaml`. Durations are written `200ms`, `3s`, `1m` or a number of seconds. "
                    "Unknown fields are errors (with a suggestion).")

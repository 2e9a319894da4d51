"""The topology JSON Schema for editors, with the defaults of defaults.yaml.

The model requires every field defaults.yaml supplies (one source of defaults), so pydantic's own schema would
call them required and show no default; this puts defaults.yaml back into the schema a user sees.
"""

from __future__ import annotations

import copy
import typing
from typing import Any

from pydantic import BaseModel

from labctl.model.loader import _defaults, _unwrap
from labctl.model.topology import Topology


def topology_json_schema() -> dict[str, Any]:
    """`Topology.model_json_schema()` where every field defaults.yaml fills in is optional, with its default."""
    schema = Topology.model_json_schema()
    _apply(schema, schema, Topology, _defaults())
    return schema


def _apply(root: dict[str, Any], node: dict[str, Any], model: type[BaseModel], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        name = key.removesuffix("?")
        prop = node.get("properties", {}).get(name)
        if name not in model.model_fields or prop is None:
            continue
        definition = _descend(root, model.model_fields[name].annotation, value)
        pattern = key.endswith("?") or (isinstance(value, dict) and "*" in value) or (
            isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict))
        if pattern:  # defaults for entries the user writes: the field itself stays as the model says
            continue
        if isinstance(value, dict):  # a section: optional only if defaults.yaml fills all of it
            if definition is None or definition.get("required"):
                continue
        else:
            prop["default"] = copy.deepcopy(value)
        if name in node.get("required", []):
            node["required"].remove(name)


def _descend(root: dict[str, Any], annotation: Any, defaults: Any) -> dict[str, Any] | None:
    """Follow `annotation` (a model, `dict[K, model]` with "*", `list[model]` with one item) into its $defs;
    the definition of the model reached, with its defaults applied."""
    annotation = _unwrap(annotation)
    if isinstance(defaults, list) and len(defaults) == 1 and typing.get_origin(annotation) is list:
        return _descend(root, typing.get_args(annotation)[0], defaults[0])
    if isinstance(defaults, dict) and "*" in defaults and typing.get_origin(annotation) is dict:
        return _descend(root, typing.get_args(annotation)[1], defaults["*"])
    if isinstance(defaults, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
        definition = root.get("$defs", {}).get(annotation.__name__)
        if definition is not None:
            _apply(root, definition, annotation, defaults)
        return definition
    return None

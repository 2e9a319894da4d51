"""`labctl schema`: the topology file's JSON Schema, for editor completion and validation."""

from __future__ import annotations

from labctl.cli.base import clean_errors, emit_json, main


@main.command()
@clean_errors
def schema() -> None:
    """Print the topology JSON Schema (field descriptions and defaults from the model and defaults.yaml).

    \b
    VS Code (YAML extension): "yaml.schemas": {"labctl-topology.schema.json": "topologies/*.yaml"}
      labctl schema > labctl-topology.schema.json
    """
    from labctl.model.schema import topology_json_schema

    emit_json(topology_json_schema())

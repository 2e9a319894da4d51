"""`labctl schema`: the topology file's JSON Schema, for editor completion and validation."""

from __future__ import annotations

import click

from labctl.cli.base import clean_errors, emit_json, main


@main.command()
@click.option("--matrix", "of_matrix", is_flag=True, help="The matrix file's schema instead of the topology's.")
@click.option("--markdown", is_flag=True, help="A reference in Markdown (docs/topology.md, docs/matrix.md).")
@clean_errors
def schema(of_matrix: bool, markdown: bool) -> None:
    """Print the topology JSON Schema (field descriptions and defaults from the model and defaults.yaml).

    \b
    VS Code (YAML extension): "yaml.schemas": {"labctl-topology.schema.json": "topologies/*.yaml"}
      labctl schema > labctl-topology.schema.json
    """
    if of_matrix:
        from labctl.matrix.reference import matrix_json_schema, matrix_reference

        click.echo(matrix_reference(), nl=False) if markdown else emit_json(matrix_json_schema())
        return
    from labctl.model.reference import topology_reference
    from labctl.model.schema import topology_json_schema

    click.echo(topology_reference(), nl=False) if markdown else emit_json(topology_json_schema())

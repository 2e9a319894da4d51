"""The matrix file's JSON Schema and Markdown reference (docs/matrix.md), from its pydantic model."""

from __future__ import annotations

from typing import Any

from labctl.matrix.model import MatrixFile
from labctl.model.reference import markdown


def matrix_json_schema() -> dict[str, Any]:
    return MatrixFile.model_json_schema()


def matrix_reference() -> str:
    return markdown(matrix_json_schema(), "Matrix file reference",
                    "Generated from the model (`labctl schema --matrix --markdown`). A matrix file names topologies, "
                    "timer sets and groups of cells; each cell is topology x fault x mode x timers [x sabotage] with "
                    "the expectation it must meet (see `labctl/matrices/default.yaml`).")

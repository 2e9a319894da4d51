"""The format references in docs/ are the generated ones: a model change that is not re-generated fails."""

from __future__ import annotations

from pathlib import Path

from labctl.matrix.reference import matrix_reference
from labctl.model.reference import topology_reference

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_topology_reference_is_current() -> None:
    text = topology_reference()
    assert "| `hold` | duration |" in text and "## HsrpTimers" in text  # the generator found the fields
    assert (DOCS / "topology.md").read_text() == text, "run: labctl schema --markdown > docs/topology.md"


def test_matrix_reference_is_current() -> None:
    text = matrix_reference()
    assert "## Expect" in text
    assert (DOCS / "matrix.md").read_text() == text, "run: labctl schema --matrix --markdown > docs/matrix.md"

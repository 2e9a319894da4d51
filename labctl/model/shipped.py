"""The topologies and matrices that ship inside the package, found by name from any directory."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
TOPOLOGIES = PACKAGE / "topologies"
MATRICES = PACKAGE / "matrices"


def shipped(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def find(ref: str | Path, folder: Path) -> Path:
    """A path as given when it exists (or looks like a path); else the shipped file of that name."""
    path = Path(ref)
    if path.exists() or len(path.parts) > 1:
        return path
    return shipped(folder).get(path.name.removesuffix(".yaml").removesuffix(".yml"), path)


def find_topology(ref: str | Path) -> Path:
    """`dual-interface` -> the shipped topologies/dual-interface.yaml; a path stays a path."""
    return find(ref, TOPOLOGIES)


def find_matrix(ref: str | Path) -> Path:
    return find(ref, MATRICES)


def is_topology_ref(ref: str) -> bool:
    """Does `ref` name a topology file (a path, or a shipped topology's name) rather than a lab?"""
    path = Path(ref)
    return path.suffix in (".yaml", ".yml") or path.is_file() or ref in shipped(TOPOLOGIES)

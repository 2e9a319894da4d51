"""The package structure holds: no import cycle (function-level imports count), `docker` only in the runtime
layer, the sidecar stdlib-only, and each layer importing only the layers below it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "labctl"

# what each room may import from labctl (besides itself); errors is shared by all
ALLOWED: dict[str, set[str]] = {
    "sidecar": set(),
    "agent": set(),
    "model": {"errors"},
    "render": {"errors", "model", "runtime", "sidecar"},
    "runtime": {"errors", "model", "runtime"},
    "nodes": {"errors", "model", "runtime", "sidecar"},
    "views": {"errors", "sidecar"},
    "lab": {"errors", "model", "render", "runtime", "nodes", "sidecar", "views"},
    "experiment": {"errors", "model", "runtime", "nodes", "lab", "sidecar", "agent", "render"},
    "matrix": {"errors", "model", "render", "lab", "experiment", "runtime"},
    "cli": {"errors", "model", "render", "lab", "experiment", "views", "matrix", "runtime", "nodes", "__init__"},
}
STDLIB = set(sys.stdlib_module_names)


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module `name` imports, anywhere in the file (module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                out.add(candidate if candidate in known else base)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    edges = {"labctl.a": {"labctl.b"}, "labctl.b": {"labctl.c"}, "labctl.c": {"labctl.a", "os"}, "labctl.d": set()}
    assert cycles(edges) == [["labctl.a", "labctl.b", "labctl.c"]]
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from labctl.b import thing\n    return thing\n")
    assert imports_of("labctl.m", source, {"labctl.b"}) == {"os", "labctl.b"}


def test_no_import_cycle_among_labctl_modules() -> None:
    assert cycles(graph()) == []


def test_docker_is_imported_only_in_the_runtime_layer() -> None:
    offenders = sorted(name for name, deps in graph().items()
                       if any(d == "docker" or d.startswith("docker.") for d in deps)
                       and not name.startswith("labctl.runtime.docker"))
    assert offenders == []


def test_the_sidecar_and_the_probe_agent_use_the_standard_library_only() -> None:
    """They run inside the containers, where labctl's pip dependencies are not installed."""
    bad = {}
    for name, deps in graph().items():
        if room(name) in ("sidecar", "agent"):
            outside = {d for d in deps if d.split(".")[0] not in STDLIB and d.split(".")[0] != "__future__"
                       and not d.startswith(f"labctl.{room(name)}") and d not in ("labctl",)}
            if outside:
                bad[name] = sorted(outside)
    assert bad == {}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_lies_below_it(layer: str) -> None:
    bad = {}
    for name, deps in graph().items():
        if room(name) != layer:
            continue
        above = sorted(d for d in deps if d.startswith("labctl.") and room(d) != layer
                       and room(d) not in ALLOWED[layer])
        if above:
            bad[name] = above
    assert bad == {}

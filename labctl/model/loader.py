"""Load a topology YAML file into the model, with errors that name file, line and field.

The YAML is untrusted input (a topology may come from anyone), so reading it is bounded: file size, nesting
depth and the number of nodes after alias expansion are capped (a "billion laughs" file is refused in
milliseconds), only the standard scalar/list/mapping tags are accepted, keys must be plain scalars, and every
failure is a TopologyError naming file, line and field rather than a traceback.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
import types
import typing
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from labctl.errors import TopologyError
from labctl.model import checks
from labctl.model.topology import Topology

Loc = tuple[str | int, ...]

MAX_BYTES = 128 * 1024  # the shipped topologies are ~3 KB; libyaml parses this in a fraction of a second
MAX_DEPTH = 24  # levels of nesting after alias expansion (a topology needs 6)
MAX_COMPOSE_DEPTH = 100  # what the recursive YAML composer may build before Python's recursion limit is near
MAX_NODES = 10_000  # scalars, lists and mappings after alias expansion (a topology has a few hundred)
MAX_PROBLEMS = 20  # validation errors reported one per line; the rest are counted

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null")}
# YAML 1.1 types the model has no use for: read as the text they were written as
_AS_TEXT_TAGS = {f"{_TAG}timestamp", f"{_TAG}value"}
_MERGE_TAG = f"{_TAG}merge"
# pydantic's own parts of an error location (`[key]`, `function-after[...]`), not fields of the file
_PYDANTIC_LOC = re.compile(r"^(\[key\]|[a-z][a-z0-9_-]*\[.*\])$")


class _Bounded:
    """Composer mixin: at most MAX_COMPOSE_DEPTH levels and MAX_NODES nodes, so that a deep or huge document
    stops early with a YAML error instead of a RecursionError or seconds of parsing."""

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_COMPOSE_DEPTH or self._nodes > MAX_NODES:
                what = (f"nested deeper than {MAX_COMPOSE_DEPTH} levels" if self._depth > MAX_COMPOSE_DEPTH
                        else f"more than {MAX_NODES} values")
                raise yaml.composer.ComposerError(None, None, what, self.peek_event().start_mark)  # type: ignore[attr-defined]
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class _PyLoader(_Bounded, yaml.SafeLoader):
    """The pure-Python parser (when PyYAML has no libyaml). Its scanner's bookkeeping of `[`/`{` levels is
    quadratic (10,000 brackets took seconds), hence the early stop there too."""

    def fetch_flow_collection_start(self, token_class: type) -> None:
        if self.flow_level >= MAX_COMPOSE_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"nested deeper than {MAX_COMPOSE_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(token_class)  # type: ignore[misc]


_Loader: Any = _PyLoader
if yaml.__with_libyaml__:  # libyaml scans and parses ~10x faster; composing stays in Python, bounded

    class _CLoader(_Bounded, yaml.composer.Composer, yaml._yaml.CParser, yaml.constructor.SafeConstructor,  # type: ignore[misc]
                   yaml.resolver.Resolver):
        def __init__(self, stream: str) -> None:
            yaml._yaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)

    _Loader = _CLoader


def _read(path: Path) -> str:
    """The file's text, refused past MAX_BYTES (read bounded, so /dev/zero or a huge file cannot exhaust memory)."""
    filename = _safe_name(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise TopologyError(f"{filename}: cannot read topology: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise TopologyError(f"{filename}:1: file larger than {MAX_BYTES // 1024} KiB: not a topology")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TopologyError(f"{filename}:{line}: not UTF-8 text (byte {exc.start})") from None


def _safe_name(path: Path) -> str:
    """The path as printed in messages: repr-escaped if it holds characters that would garble one line."""
    text = str(path)
    return text if not _unsafe_path(text) else repr(text)


def _unsafe_path(text: str) -> bool:
    """A path with control characters, quotes or backslashes would break the rendered files that cite it."""
    return any(ord(ch) < 0x20 or ch in '\x7f"\\' for ch in text)


def _compose(text: str, filename: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML into plain data plus the line (1-based) of every key and item.

    Aliases are expanded here (the model wants plain data), which is where the limits on depth, node count
    and recursion apply; `<<` merge keys are honoured as YAML 1.1 defines them (explicit keys win).
    """
    if len(text) > MAX_BYTES:
        raise TopologyError(f"{filename}:1: file larger than {MAX_BYTES // 1024} KiB: refused")
    loader = None
    try:
        loader = _Loader(text)  # the reader already refuses control characters here
        root = loader.get_single_node()
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise TopologyError(f"{filename}:{line}: not valid YAML: character {exc.character!r} is not allowed "
                            "(control characters cannot appear in a topology)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise TopologyError(f"{filename}:{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    finally:
        if loader is not None and hasattr(loader, "dispose"):
            loader.dispose()
    lines: dict[Loc, int] = {}
    constructor = yaml.SafeLoader("")
    count = 0

    def fail(node: yaml.Node, loc: Loc, message: str) -> typing.NoReturn:
        raise TopologyError(f"{filename}:{node.start_mark.line + 1}: field {_dotted(loc)}: {message}")

    def scalar(node: yaml.Node, loc: Loc) -> Any:
        if node.tag in _AS_TEXT_TAGS:
            return node.value
        if node.tag not in _SCALAR_TAGS:
            fail(node, loc, f"tag {node.tag} is not allowed (only plain YAML values, lists and mappings)")
        try:
            return constructor.construct_object(node)
        except (ValueError, TypeError, KeyError, OverflowError, yaml.YAMLError) as exc:
            # e.g. a 5000-digit integer (Python refuses int() past 4300 digits), `!!int abc`, `!!bool maybe`
            detail = "a number too long to read" if "digits" in str(exc) else f"not a valid {node.tag[len(_TAG):]}"
            fail(node, loc, f"{detail}: {_short(node.value)}")

    active: set[int] = set()  # the nodes being walked: meeting one again means an alias points into itself

    def walk(node: yaml.Node, loc: Loc, set_line: bool = True) -> Any:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            fail(node, loc, f"more than {MAX_NODES} values after expanding aliases (an alias bomb?): refused")
        if len(loc) > MAX_DEPTH:
            fail(node, loc, f"nested deeper than {MAX_DEPTH} levels: refused")
        if set_line:
            lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return scalar(node, loc)
        if id(node) in active:
            fail(node, loc, "recursive alias (an anchor used inside itself): refused")
        active.add(id(node))
        try:
            return collection(node, loc, set_line)
        finally:
            active.discard(id(node))

    def collection(node: yaml.Node, loc: Loc, set_line: bool) -> Any:
        if isinstance(node, yaml.MappingNode):
            if node.tag != f"{_TAG}map":
                fail(node, loc, f"tag {node.tag} is not allowed (only plain YAML values, lists and mappings)")
            result: dict[Any, Any] = {}
            merges = []
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    merges.append(value_node)
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    fail(key_node, loc, "a key must be a plain value (name, number), not a list or mapping")
                key = scalar(key_node, loc)
                if key in result:
                    fail(key_node, (*loc, key), "duplicate key")
                if set_line:
                    lines[(*loc, key)] = key_node.start_mark.line + 1
                result[key] = walk(value_node, (*loc, key), set_line)
            for value_node in merges:  # `<<: *a` or `<<: [*a, *b]`: earlier sources and explicit keys win
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        fail(value_node, loc, "a `<<` merge key takes a mapping or a list of mappings")
                    merged = walk(source, loc, set_line=False)
                    for key, value in merged.items():
                        if key not in result:
                            result[key] = value
                            lines.setdefault((*loc, key), source.start_mark.line + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            if node.tag != f"{_TAG}seq":
                fail(node, loc, f"tag {node.tag} is not allowed (only plain YAML values, lists and mappings)")
            return [walk(item, (*loc, index), set_line) for index, item in enumerate(node.value)]
        fail(node, loc, f"unexpected YAML node {type(node).__name__}")

    return (walk(root, ()) if root is not None else None), lines


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _dotted(loc: Loc) -> str:
    """`ha.nodes.gw1.priority`; a part that is not plain text (a newline in a key) is shown quoted."""
    return ".".join(str(p) if str(p).isprintable() and len(str(p)) <= 40 else _short(p) for p in loc) \
        or "(top level)"


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int:
    """Line of the deepest part of `loc` present in the file (a missing field points at its parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def _merge_defaults(defaults: Any, data: Any) -> Any:
    """Deep-merge: the user's values win, defaults fill in what a mapping leaves out.

    The rules for `key?` (optional section), `"*"` (every entry) and `[ {...} ]` (every item) are described at
    the top of defaults.yaml.
    """
    if isinstance(defaults, list) and isinstance(data, list):
        return [_merge_defaults(defaults[0], item) for item in data] if len(defaults) == 1 else data
    if not isinstance(defaults, dict) or not isinstance(data, dict):
        return data
    every = defaults.get("*")
    merged: dict[Any, Any] = {}
    for key, value in defaults.items():
        if key == "*" or key.endswith("?") or key in data:
            continue
        filled = _merge_defaults(value, {}) if isinstance(value, dict) else copy.deepcopy(value)
        if filled != {} and not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict)):
            merged[key] = filled
    for key, value in data.items():
        spec = every if every is not None else defaults.get(key, defaults.get(f"{key}?"))
        merged[key] = _merge_defaults(spec, value)
    return merged


@functools.cache
def _defaults_text() -> str:
    return resources.files("labctl.model").joinpath("defaults.yaml").read_text()


def _defaults() -> dict[str, Any]:
    """defaults.yaml, the only source of default values."""
    return yaml.safe_load(_defaults_text())


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class whose fields are valid at `loc` (to suggest one for a typo), or None."""
    current: Any = Topology
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            current = _unwrap(current)
            if typing.get_origin(current) not in (dict, list):
                return None
            current = typing.get_args(current)[-1]  # dict values / list items: the part is a key or index
        current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X, `Annotated[X, ...]` -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _unknown_field(loc: Loc) -> str:
    """`Extra inputs are not permitted`, said with the field the user most likely meant."""
    model = _model_at(loc[:-1])
    fields = list(model.model_fields) if model else []
    guess = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
    if guess:
        return f"unknown field {_short(loc[-1])}: did you mean {guess[0]!r}?"
    return f"unknown field {_short(loc[-1])}" + (f" (fields here: {', '.join(fields)})" if fields else "")


def _validation_problems(exc: ValidationError, filename: str, lines: dict[Loc, int]) -> list[str]:
    """One line per pydantic error, the first MAX_PROBLEMS of them (a mangled file can have thousands)."""
    problems = []
    errors = exc.errors()
    for err in errors[:MAX_PROBLEMS]:
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and _PYDANTIC_LOC.match(p)))
        message = _unknown_field(loc) if err["type"] == "extra_forbidden" and loc else err["msg"]
        problems.append(f"{filename}:{_line_for(loc, lines)}: field {_dotted(loc)}: {message}")
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"{filename}: ... and {len(errors) - MAX_PROBLEMS} more problems")
    return list(dict.fromkeys(problems))


def _load(path: str | Path, host_networks: Iterable[Any] | None) -> tuple[Topology, dict[Loc, int], str]:
    path = Path(path)
    filename = _safe_name(path)
    if _unsafe_path(str(path)):
        raise TopologyError(f"{filename}:1: field (path): a topology path must not contain control characters, "
                            "quotes or backslashes (rendered files cite it in comments and JSON)")
    data, lines = _compose(_read(path), filename)
    if not isinstance(data, dict):
        raise TopologyError(f"{filename}:1: field (top level): a topology must be a YAML mapping "
                            "(name:, networks:, ha:, ...)")
    try:
        topology = Topology.model_validate(_merge_defaults(_defaults(), data))
    except ValidationError as exc:
        raise TopologyError("\n".join(_validation_problems(exc, filename, lines))) from None
    issues = checks.check_topology(topology)
    if host_networks is not None:
        issues += checks.check_host_overlap(topology, host_networks)
    if issues:
        raise TopologyError(
            "\n".join(f"{filename}:{_line_for(loc, lines)}: field {_dotted(loc)}: {msg}" for loc, msg in issues)
        )
    return topology, lines, filename


def load_topology(path: str | Path, host_networks: Iterable[Any] | None = None) -> Topology:
    """Read, default, validate and cross-check a topology; raise TopologyError listing every problem.

    `host_networks` are the host's own routed prefixes; a lab subnet overlapping one is refused so
    lab traffic can never leak onto a real network.
    """
    return _load(path, host_networks)[0]


def load_with_warnings(path: str | Path, host_networks: Iterable[Any] | None = None) -> tuple[Topology, list[str]]:
    """`load_topology` plus the advisories of `checks.check_warnings` as `file:line: field F: warning: ...`
    lines, for `labctl validate` to print (a warning never refuses the file)."""
    topology, lines, filename = _load(path, host_networks)
    warnings = [f"{filename}:{_line_for(loc, lines)}: field {_dotted(loc)}: warning: {msg}"
                for loc, msg in checks.check_warnings(topology)]
    return topology, warnings

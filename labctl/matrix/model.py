"""The matrix file: which cells to run and what each must show, with errors naming file, line and field.

    name: quick
    defaults: {rate: 200, converge_timeout: 40s}
    topologies: {dual: ../topologies/dual-interface.yaml}     # short name -> file (relative to this file)
    faults: {link-down-outside: {fault: link-down, link: outside},  # plain fault names need no entry
             node-kill-recover: {fault: node-kill, recover: true}}  # and back, preempt judged too
    timers: {fast: {hello: 100ms, hold: 300ms}}                # `default` = the topology's own timers
    matrix:                                                    # groups; each is a cross product
      - {topologies: [dual], faults: [node-kill], modes: [stateful], timers: [default, fast],
         expect: {verdict: pass, ike_sa_preserved: true}}
      - {topologies: [dual], faults: [node-kill], modes: [stateful], sabotage: no-sync,
         expect: {verdict: fail, reason: IKE SA not preserved}}

A cell's id is `topology/fault/mode/timers[/sabotage]`.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from netaddr import IPNetwork
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from labctl.errors import LabctlError, TopologyError
from labctl.model.loader import Loc, _compose, _dotted, _line_for, load_topology
from labctl.model.sabotage import SABOTAGES
from labctl.model.topology import NAME_PATTERN, Topology, parse_duration_ms

CHILD_SA_OUTCOMES = ("same", "rekeyed", "renegotiated", "lost")
FILTER_KEYS = ("id", "topology", "fault", "mode", "timers", "sabotage", "lab", "expect")


class MatrixError(LabctlError):
    """A matrix file is invalid (or a --filter/--shard argument is); the message names file and line."""

    exit_code = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Key = Field(pattern=NAME_PATTERN)


class FaultSpec(_Strict):
    """One fault as `labctl failover` takes it; node defaults to the HSRP Active gateway."""

    fault: str
    node: str | None = None
    link: str | None = None
    percent: int | None = Field(default=None, ge=1, le=100)  # `loss` only
    recover: bool = False  # then undo the fault under traffic, wait for preempt, and judge the way back


class TimerSpec(_Strict):
    hello: str | int | float | None = None
    hold: str | int | float | None = None

    @field_validator("hello", "hold")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is not None:
            parse_duration_ms(value)
        return value

    def overrides(self) -> dict[str, str]:
        return {k: f"{parse_duration_ms(v)}ms" for k, v in (("hello", self.hello), ("hold", self.hold))
                if v is not None}


class Settings(_Strict):
    """How a cell is measured (probe rate, thresholds); a group may override the file's defaults."""

    rate: float = Field(default=200.0, gt=0)
    converge_timeout: str | int | float | None = None  # default: the topology's failover.converge_timeout
    max_outage_ms: float | None = Field(default=None, ge=0)  # default: derived from the timers (experiment.budget)
    max_loss_percent: float | None = Field(default=None, ge=0, le=100)  # default: 0.5 % after the outage

    @field_validator("converge_timeout")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is not None:
            parse_duration_ms(value)
        return value

    def converge_timeout_s(self) -> float | None:
        return parse_duration_ms(self.converge_timeout) / 1000 if self.converge_timeout is not None else None


class Expect(_Strict):
    """What a cell must show. `verdict` is the failover verdict; the rest are optional extra checks."""

    verdict: Literal["pass", "fail"] = "pass"
    ike_sa_preserved: bool | None = None
    child_sa: list[Literal["same", "rekeyed", "renegotiated", "lost"]] | None = None
    reason: str | None = None  # a fail must give a reason containing this text (case-insensitive)

    @field_validator("child_sa", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Group(_Strict):
    topologies: list[str] = Field(min_length=1)
    faults: list[str] = Field(min_length=1)
    modes: list[Literal["stateful", "stateless"]] = Field(default=["stateful"], min_length=1)
    timers: list[str] = Field(default=["default"], min_length=1)
    sabotage: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)  # merged over the file's defaults
    expect: Expect = Expect()

    @field_validator("sabotage")
    @classmethod
    def _known_sabotage(cls, value: str | None) -> str | None:
        if value is not None and value not in SABOTAGES:
            raise ValueError(f"unknown sabotage {value!r}: choose from {', '.join(SABOTAGES)}")
        return value


class MatrixFile(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    defaults: Settings = Settings()
    topologies: dict[str, str] = Field(min_length=1)
    faults: dict[str, FaultSpec] = Field(default_factory=dict)
    timers: dict[str, TimerSpec] = Field(default_factory=dict)
    matrix: list[Group] = Field(min_length=1)


@dataclass
class Cell:
    """One experiment: a fresh lab, one fault, one verdict, judged against `expect`."""

    id: str
    topology: str  # short name from the matrix file
    topology_file: Path
    lab: str  # the lab name the topology runs as (cells of one lab never run at the same time)
    fault_name: str
    fault: FaultSpec
    mode: str
    timers_name: str
    timers: dict[str, str]
    sabotage: str | None
    settings: Settings
    expect: Expect
    line: int  # line of the group in the matrix file
    subnets: tuple[str, ...] = ()

    def fields(self) -> dict[str, str]:
        """The values --filter matches against."""
        return {"id": self.id, "topology": self.topology, "fault": self.fault_name, "mode": self.mode,
                "timers": self.timers_name, "sabotage": self.sabotage or "none", "lab": self.lab,
                "expect": self.expect.verdict}

    def overrides(self) -> dict[str, str]:
        return {"redundancy": self.mode, **self.timers}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "topology": self.topology, "topology_file": str(self.topology_file),
                "lab": self.lab, "fault": self.fault_name, "fault_spec": self.fault.model_dump(exclude_none=True),
                "mode": self.mode, "timers": self.timers_name, "timer_overrides": self.timers,
                "sabotage": self.sabotage, "settings": self.settings.model_dump(exclude_none=True),
                "expect": self.expect.model_dump(exclude_none=True)}


@dataclass
class Matrix:
    name: str
    path: Path
    description: str
    cells: list[Cell] = field(default_factory=list)


def _error(filename: str, lines: dict[Loc, int], loc: Loc, message: str) -> str:
    return f"{filename}:{_line_for(loc, lines)}: field {_dotted(loc)}: {message}"


def load_matrix(path: str | Path) -> Matrix:
    """Read and check a matrix file: schema, topology files (present and valid), faults valid for each
    topology, unique cell ids. Every problem is reported with the line it comes from."""
    from labctl.experiment.faults import FAULTS, validate_args

    path = Path(path)
    filename = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise MatrixError(f"{filename}: cannot read matrix file: {exc.strerror}") from None
    try:
        data, lines = _compose(text, filename)
    except TopologyError as exc:
        raise MatrixError(str(exc)) from None
    if not isinstance(data, dict):
        raise MatrixError(f"{filename}:1: a matrix file must be a YAML mapping (name:, topologies:, matrix:, ...)")
    try:
        spec = MatrixFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in ("list", "str"))))
            problems.append(_error(filename, lines, loc, err["msg"]))
        raise MatrixError("\n".join(dict.fromkeys(problems))) from None

    problems: list[str] = []
    topologies: dict[str, Topology] = {}
    files: dict[str, Path] = {}
    for short, rel in spec.topologies.items():
        file = (path.parent / rel).resolve()
        files[short] = file
        if not file.is_file():
            problems.append(_error(filename, lines, ("topologies", short),
                                   f"topology file {rel} not found (looked for {file})"))
            continue
        try:
            topologies[short] = load_topology(file)
        except TopologyError as exc:
            problems.append(_error(filename, lines, ("topologies", short), f"topology {rel} is invalid:\n  "
                                   + str(exc).replace("\n", "\n  ")))

    cells: list[Cell] = []
    seen: dict[str, int] = {}
    for index, group in enumerate(spec.matrix):
        loc: Loc = ("matrix", index)
        try:
            settings = Settings.model_validate({**spec.defaults.model_dump(exclude_unset=True), **group.settings})
        except ValidationError as exc:
            problems += [_error(filename, lines, (*loc, "settings", *e["loc"]), e["msg"]) for e in exc.errors()]
            continue
        for pos, short in enumerate(group.topologies):
            if short not in spec.topologies:
                problems.append(_error(filename, lines, (*loc, "topologies", pos),
                                       f"unknown topology {short!r}: define it under `topologies:` "
                                       f"({', '.join(spec.topologies)})"))
        for pos, name in enumerate(group.timers):
            if name != "default" and name not in spec.timers:
                problems.append(_error(filename, lines, (*loc, "timers", pos),
                                       f"unknown timers {name!r}: define it under `timers:` or use `default`"))
        fault_specs: dict[str, FaultSpec] = {}
        for pos, name in enumerate(group.faults):
            if name in spec.faults:
                fault_specs[name] = spec.faults[name]
            elif name in FAULTS:
                fault_specs[name] = FaultSpec(fault=name)
            else:
                problems.append(_error(filename, lines, (*loc, "faults", pos),
                                       f"unknown fault {name!r}: define it under `faults:` or use one of "
                                       f"{', '.join(FAULTS)}"))
        for short in group.topologies:
            topo = topologies.get(short)
            if topo is None:
                continue
            for name, fault in fault_specs.items():
                if fault.fault in ("recover", "link-up"):
                    problems.append(_error(filename, lines, (*loc, "faults"), f"{fault.fault} repairs, it is not "
                                           "a failover fault"))
                    continue
                try:
                    validate_args(topo, fault.fault, fault.node, fault.link, fault.percent)
                except LabctlError as exc:
                    problems.append(_error(filename, lines, (*loc, "faults"), f"{name} on {short}: {exc}"))
                    continue
                for mode in group.modes:
                    for timers in group.timers:
                        cell_id = "/".join([short, name, mode, timers] + ([group.sabotage] if group.sabotage else []))
                        if cell_id in seen:
                            problems.append(_error(filename, lines, loc, f"cell {cell_id} is already defined by "
                                                   f"the group at line {seen[cell_id]}"))
                            continue
                        seen[cell_id] = _line_for(loc, lines)
                        overrides = spec.timers[timers].overrides() if timers in spec.timers else {}
                        cells.append(Cell(cell_id, short, files[short], topo.name, name, fault, mode, timers,
                                          overrides, group.sabotage, settings, group.expect, seen[cell_id],
                                          tuple(str(n.subnet) for n in topo.networks.values())))
    if problems:
        raise MatrixError("\n".join(problems))
    return Matrix(spec.name, path, spec.description, cells)


# ---------------------------------------------------------------- selection: --filter and --shard


def _term_matches(term: str, cell: Cell) -> bool:
    negate = "!=" in term
    if "=" in term:
        key, _, pattern = term.partition("!=" if negate else "=")
        key = key.strip()
        if key not in FILTER_KEYS:
            raise MatrixError(f"--filter: unknown key {key!r} (keys: {', '.join(FILTER_KEYS)})")
        hit = fnmatch.fnmatchcase(cell.fields()[key], pattern.strip())
        return hit != negate
    if any(ch in term for ch in "*?["):  # the whole id or one of its parts: `*/no-*`, `no-*`
        return fnmatch.fnmatchcase(cell.id, term) or any(fnmatch.fnmatchcase(p, term) for p in cell.id.split("/"))
    return term in cell.id


def filter_cells(cells: list[Cell], expressions: list[str] | tuple[str, ...]) -> list[Cell]:
    """Keep the cells matching any expression; within one expression every term must match.

    A term is `key=glob` / `key!=glob` (keys: id, topology, fault, mode, timers, sabotage, lab, expect)
    or a bare glob on the cell id (a bare word without wildcards matches as a substring of the id).
    Terms are separated by commas or spaces: `topology=dual,mode=stateful`, `*/node-kill/*`.
    """
    if not expressions:
        return list(cells)
    parsed = [[t for t in re.split(r"[,\s]+", e.strip()) if t] for e in expressions]
    return [c for c in cells if any(all(_term_matches(t, c) for t in terms) for terms in parsed if terms)]


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise MatrixError(f"--shard wants I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def shard_cells(cells: list[Cell], index: int, total: int) -> list[Cell]:
    """Shard I of N: cells sorted by id, dealt round-robin. Deterministic for a given matrix (and filter),
    independent of file order, and every cell lands in exactly one shard."""
    ordered = sorted(cells, key=lambda c: c.id)
    return [c for position, c in enumerate(ordered) if position % total == index - 1]


def exclusive_groups(cells: list[Cell]) -> list[list[Cell]]:
    """Cells that must not run at the same time, grouped: same lab name, or topologies whose subnets
    overlap (Docker refuses overlapping networks). Groups run in parallel, each group's cells in order."""
    parent = list(range(len(cells)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    nets = [[IPNetwork(s) for s in c.subnets] for c in cells]
    for i in range(len(cells)):
        for j in range(i):
            if find(i) == find(j):
                continue
            if cells[i].lab == cells[j].lab or any(a in b or b in a for a in nets[i] for b in nets[j]):
                parent[find(i)] = find(j)
    groups: dict[int, list[Cell]] = {}
    for i, cell in enumerate(cells):
        groups.setdefault(find(i), []).append(cell)
    return sorted(groups.values(), key=len, reverse=True)

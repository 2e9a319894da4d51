"""Seeded, bounded fuzzing of the topology loader (issue 14): mutated copies of the shipped topologies must
either load or be refused with a TopologyError naming file and line -- never a traceback, never a hang.

Mutations are structural (drop, duplicate, rename or retype a key, swap in another subtree, weird scalars)
and textual (hostile YAML snippets, truncation, deleted/duplicated lines, syntax characters). The seed is
fixed, so a failure names a case that replays exactly (`CASE=<n>` in the assertion message).
"""

from __future__ import annotations

import copy
import random
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labctl.errors import TopologyError
from labctl.model import checks, helpers
from labctl.model.loader import load_topology

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "topologies").glob("*.yaml")),
           *sorted((ROOT / "tests/container/topologies").glob("*.yaml")),
           Path(__file__).resolve().parent / "fixtures/topologies/merge-keys.yaml"]
SEED = 20140
CASES = 300
PER_LOAD = 2.0  # seconds: a load takes milliseconds; the alias bomb took 90 s before the limits
HANG = 5  # seconds: signal.alarm guard, so a regression fails the test instead of hanging it

WEIRD: list[Any] = [
    None, True, False, 0, -1, 1, 255, 256, 4095, 65536, 2**32, 2**32 - 1, 2**64, 10**40, 1.5, -0.5,
    float("inf"), float("-inf"), float("nan"), "", " ", "x" * 300, "0ms", "-5s", "0s", "1e400", ".inf",
    "4294967296ms", "\n", "a\nb", 'a"b', "{", "}", "#x", "%{x}", "\t", "\x00", "10.0.0.0/31", "10.0.0.0/32",
    "10.1.0.0/24", "0.0.0.0", "255.255.255.255", "fd00::1", "fd00::/64", "300.1.1.1", "gw1", "outside",
    "inside", "ëé", [], {}, [[]], {"a": {}}, [1, 2], {"x": 1},
]

HOSTILE_VALUES = [
    "&a [*a]", "!!python/object/apply:os.system ['true']", "!foo bar", "!!binary aGk=", "!!set {a, b}",
    "9" * 5000, "0x_", "!!bool maybe", "2001-13-45", "[" * 200, "{a: " * 150, ".nan", "-.inf",
    "*undefined", "&x {<<: *x}", "{? [a]: 1}", "'unterminated", "\"bad \\q escape\"", "|\n  block",
]

BOMB = ('x: &a ["l","l","l","l","l","l","l","l","l"]\ny: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        'z: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nw: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n'
        'v: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nu: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n')


class Hang(Exception):
    """Raised by the alarm: one load ran past HANG seconds."""


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*prefix, index))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _typo(rng: random.Random, key: str) -> str:
    if len(key) < 2:
        return key + "x"
    i = rng.randrange(len(key) - 1)
    return rng.choice([key[:i] + key[i + 1:], key[:i] + key[i + 1] + key[i] + key[i + 2:], key + "s", key.upper()])


def mutate_data(rng: random.Random, data: Any) -> tuple[Any, str]:
    """One structural mutation of parsed YAML; returns the data and what was done."""
    paths = [p for p in _paths(data) if p]
    path = rng.choice(paths)
    parent, last = _get(data, path[:-1]), path[-1]
    op = rng.choice(["drop", "duplicate", "rename", "retype", "retype", "swap", "hostile-value"])
    if op == "drop":
        del parent[last]
    elif op == "duplicate" and isinstance(parent, dict):
        parent[_typo(rng, str(last))] = copy.deepcopy(parent[last])
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    elif op == "rename" and isinstance(parent, dict):
        parent[_typo(rng, str(last))] = parent.pop(last)
    elif op == "swap":
        parent[last] = copy.deepcopy(_get(data, rng.choice(paths)))
    elif op == "hostile-value":
        parent[last] = rng.choice(HOSTILE_VALUES)  # dumped quoted: a string that looks hostile
    else:
        op = "retype"
        parent[last] = copy.deepcopy(rng.choice(WEIRD))
    return data, f"{op} {'.'.join(map(str, path))}"


def mutate_text(rng: random.Random, text: str) -> tuple[str, str]:
    """One textual mutation: raw hostile YAML, broken syntax, or lines lost or repeated."""
    lines = text.splitlines(keepends=True)
    index = rng.randrange(len(lines))
    op = rng.choice(["hostile-value", "hostile-value", "bomb", "truncate", "delete-line", "duplicate-line",
                     "syntax-char", "merge", "tab"])
    if op == "hostile-value" and ":" in lines[index]:
        key = lines[index].split(":", 1)[0]
        lines[index] = f"{key}: {rng.choice(HOSTILE_VALUES)}\n"
    elif op == "bomb":
        lines.insert(index, BOMB)
    elif op == "truncate":
        return text[: rng.randrange(len(text))], op
    elif op == "delete-line":
        del lines[index]
    elif op == "duplicate-line":
        lines.insert(index, lines[index])
    elif op == "merge":
        lines.insert(0, "base: &base {name: merged, redundancy: stateless}\n<<: *base\n")
    elif op == "tab":
        lines[index] = "\t" + lines[index]
    else:
        op = "syntax-char"
        line = lines[index]
        at = rng.randrange(len(line))
        lines[index] = line[:at] + rng.choice(":[]{}&*!|>'\"%@#-?,\x07") + line[at + 1:]
    return "".join(lines), f"{op} line {index + 1}"


def cases() -> Iterator[tuple[int, str, str]]:
    """CASES mutated topologies: (case number, text, description)."""
    rng = random.Random(SEED)
    texts = [p.read_text() for p in SOURCES]
    for case in range(CASES):
        source = rng.randrange(len(SOURCES))
        steps = []
        if rng.random() < 0.6:
            data = yaml.safe_load(texts[source])
            for _ in range(rng.randint(1, 2)):
                data, step = mutate_data(rng, data)
                steps.append(step)
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=rng.random() < 0.5)
            if rng.random() < 0.3:
                text, step = mutate_text(rng, text)
                steps.append(step)
        else:
            text = texts[source]
            for _ in range(rng.randint(1, 2)):
                text, step = mutate_text(rng, text)
                steps.append(step)
        yield case, text, f"{SOURCES[source].name}: {'; '.join(steps)}"


def _alarm(_signum: int, _frame: object) -> None:
    raise Hang


def exercise(path: Path) -> str:
    """Load `path` and use the result the way the CLI does; 'accepted' or 'refused'."""
    try:
        topo = load_topology(path)
    except TopologyError as exc:
        first = str(exc).splitlines()[0]
        assert re.match(re.escape(f"{path}:") + r"\d+: ", first), first
        return "refused"
    checks.check_warnings(topo)
    helpers.preferred_gateway(topo)
    helpers.inside_and_remote_hosts(topo)
    for node in topo.node_names():
        topo.addresses_of(node)
    assert type(topo).model_validate(topo.model_dump()) == topo  # what `up` overrides go through
    return "accepted"


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
def test_fuzzed_topologies_never_crash_or_hang(tmp_path: Path) -> None:
    outcomes: dict[str, int] = {"accepted": 0, "refused": 0}
    failures: list[str] = []
    slowest = 0.0
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for case, text, what in cases():
            path = tmp_path / f"case{case}.yaml"
            path.write_text(text)
            started = time.monotonic()
            signal.alarm(HANG)
            try:
                outcomes[exercise(path)] += 1
            except Hang:
                failures.append(f"CASE={case} ({what}): hang (> {HANG} s)")
            except Exception as exc:  # noqa: BLE001 - collecting every traceback is the point
                failures.append(f"CASE={case} ({what}): {type(exc).__name__}: {str(exc)[:200]}")
            finally:
                signal.alarm(0)
            elapsed = time.monotonic() - started
            slowest = max(slowest, elapsed)
            if elapsed > PER_LOAD:
                failures.append(f"CASE={case} ({what}): took {elapsed:.1f} s")
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert failures == [], "\n".join(failures)
    # the corpus must exercise both outcomes, or it tests nothing
    assert outcomes["refused"] > CASES // 2 and outcomes["accepted"] > 0, outcomes
    assert slowest < PER_LOAD


def test_the_corpus_is_deterministic() -> None:
    first = [what for _case, _text, what in cases()][:50]
    again = [what for _case, _text, what in cases()][:50]
    assert first == again and len(set(first)) > 40

"""Hostile YAML (issue 14): every case is a clean TopologyError naming file, line and field, fast."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from labctl.errors import TopologyError
from labctl.model import loader
from labctl.model.loader import load_topology

ROOT = Path(__file__).resolve().parents[2]
DUAL = ROOT / "topologies" / "dual-interface.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "topologies"
FAST = 2.0  # seconds; the loads below take milliseconds, the bomb took 90 s before the limits


def refused(path: Path, line: int | str, field: str | None, fragment: str) -> str:
    """Load `path`, expect a TopologyError at `line` naming `field` and containing `fragment`, within FAST."""
    started = time.monotonic()
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert time.monotonic() - started < FAST
    text = str(caught.value)
    pattern = re.escape(f"{path}:") + (re.escape(str(line)) if isinstance(line, int) else line) + re.escape(": ")
    pattern += re.escape(f"field {field}") if field is not None else ""
    assert re.search(pattern, text), text
    assert fragment in text, text
    return text


def write(tmp_path: Path, text: str, name: str = "hostile.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def dual_with(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    text = DUAL.read_text()
    assert old in text, old
    text = text.replace(old, new, 1)
    return write(tmp_path, text), text


def line_with(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_billion_laughs_is_refused_fast() -> None:
    path = FIXTURES / "billion-laughs.yaml"
    assert path.stat().st_size < 500
    # the budget runs out inside the 5th level: the message names that field and the line of the "lol" it was at
    text = refused(path, 2, "e.", f"more than {loader.MAX_NODES} values after expanding aliases")
    assert text.count("\n") == 0


def test_recursive_alias(tmp_path: Path) -> None:
    refused(write(tmp_path, "name: x\nnetworks: &a {inner: *a}\n"), 2, "networks.inner", "recursive alias")


def test_recursive_merge_alias(tmp_path: Path) -> None:
    refused(write(tmp_path, "name: x\nha: &a {<<: *a}\n"), 2, "ha", "recursive alias")


def test_deep_nesting_within_the_parser_limit(tmp_path: Path) -> None:
    depth = loader.MAX_DEPTH + 5
    text = refused(write(tmp_path, "name: x\ndescription: " + "[" * depth + "]" * depth + "\n"), 2,
                   "description" + ".0" * loader.MAX_DEPTH + ":", f"nested deeper than {loader.MAX_DEPTH} levels")
    assert "Traceback" not in text


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_very_deep_nesting_stops_in_the_parser(tmp_path: Path, opener: str) -> None:
    refused(write(tmp_path, "name: x\ndescription: " + opener * 20_000 + "\n"), 2, None, "not valid YAML")


def test_deep_block_nesting(tmp_path: Path) -> None:
    text = "".join(" " * i + f"k{i}:\n" for i in range(loader.MAX_COMPOSE_DEPTH + 50))
    refused(write(tmp_path, text), loader.MAX_COMPOSE_DEPTH, None, "nested deeper than")


def test_file_size_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "description: " + "x" * loader.MAX_BYTES + "\n")
    refused(path, 1, None, f"larger than {loader.MAX_BYTES // 1024} KiB")


def test_many_values_without_aliases(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nhosts:\n" + "".join(f"  - {i}\n" for i in range(loader.MAX_NODES + 10)))
    refused(path, r"\d+", None, f"more than {loader.MAX_NODES} values")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("!!python/object/apply:os.system ['true']", "tag tag:yaml.org,2002:python/object/apply:os.system is not"),
        ("!!python/name:os.system", "python/name:os.system is not allowed"),
        ("!foo dual", "tag !foo is not allowed"),
        ("!!binary aGVsbG8=", "binary is not allowed"),
        ("!!set {a, b}", "set is not allowed"),
        ("!!omap [{a: 1}]", "omap is not allowed"),
        ("!!bool maybe", "not a valid bool: 'maybe'"),
        ("!!int twelve", "not a valid int: 'twelve'"),
    ],
)
def test_custom_and_bad_tags(tmp_path: Path, value: str, fragment: str) -> None:
    path, text = dual_with(tmp_path, "name: dual", f"name: {value}")
    refused(path, line_with(text, "name: "), "name", fragment)


def test_unhashable_keys(tmp_path: Path) -> None:
    path, text = dual_with(tmp_path, "  outside: {subnet: 198.51.100.0/26}", "  ? [a, b]\n  : {subnet: 10.0.0.0/24}")
    refused(path, line_with(text, "? [a, b]"), "networks", "a key must be a plain value")
    refused(write(tmp_path, "{[1]: x}\n", "flow.yaml"), 1, "(top level)", "a key must be a plain value")
    refused(write(tmp_path, "? {a: 1}\n: x\n", "map.yaml"), 1, "(top level)", "not a list or mapping")


def test_merge_keys_are_honoured() -> None:
    topo = load_topology(FIXTURES / "merge-keys.yaml")
    assert topo.ha.nodes["gw2"].priority == 100  # from the anchor
    assert str(topo.ha.nodes["gw2"].addresses["outside"]) == "198.51.100.12"  # explicit key wins
    assert str(topo.hosts["remote1"].gateway) == "10.2.0.1"


def test_merge_key_errors(tmp_path: Path) -> None:
    text = FIXTURES.joinpath("merge-keys.yaml").read_text().replace("<<: *gateway", "<<: [1, 2]")
    path = write(tmp_path, text)
    refused(path, line_with(text, "<<: [1, 2]"), "ha.nodes.gw2", "a `<<` merge key takes a mapping")
    # a typo inside the merged anchor is reported on the anchor's line, with the merged field
    text = FIXTURES.joinpath("merge-keys.yaml").read_text().replace("priority: 100", "priorty: 100")
    path = write(tmp_path, text, "typo.yaml")
    refused(path, line_with(text, "priorty"), "ha.nodes.gw1.priorty", "did you mean 'priority'?")


def test_huge_integer(tmp_path: Path) -> None:
    path, text = dual_with(tmp_path, "priority: 110", "priority: " + "9" * 5000)
    refused(path, line_with(text, "priority: 999"), "ha.nodes.gw1.priority", "a number too long to read")
    path, text = dual_with(tmp_path, "priority: 110", "priority: " + "9" * 4000)  # readable, but out of range
    refused(path, line_with(text, "priority: 999"), "ha.nodes.gw1.priority", "less than or equal to 255")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e400", "99999999999999999999999s"])
def test_non_finite_and_huge_durations(tmp_path: Path, value: str) -> None:
    path, text = dual_with(tmp_path, "hello: 200ms", f"hello: {value}")
    refused(path, line_with(text, "hello: "), "ha.hsrp.hello", "duration")


@pytest.mark.parametrize("prefix", ["31", "32"])
def test_tiny_lan(tmp_path: Path, prefix: str) -> None:
    path, text = dual_with(tmp_path, "inside: {subnet: 10.1.0.0/24}", f"inside: {{subnet: 10.1.0.0/{prefix}}}")
    refused(path, line_with(text, "inside: {subnet"), "networks.inside.subnet", "too small for a lab network")


def test_control_characters_and_bad_encoding(tmp_path: Path) -> None:
    path, text = dual_with(tmp_path, "name: dual", "name: du\x07al")
    refused(path, line_with(text, "name: du"), None, "control characters")
    raw = tmp_path / "latin1.yaml"
    raw.write_bytes(b"name: x\ndescription: caf\xe9\n")
    refused(raw, 2, None, "not UTF-8")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "must be a YAML mapping"),
        ("- a\n- b\n", 1, "must be a YAML mapping"),
        ("name: x\n---\nname: y\n", 2, "not valid YAML"),
        ("name: [unclosed\n", 2, "not valid YAML"),
        ("a: *nowhere\n", 1, "not valid YAML"),
    ],
)
def test_not_a_topology(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    refused(write(tmp_path, text), line, None, fragment)


def test_timestamps_are_read_as_text(tmp_path: Path) -> None:
    # 2001-13-45 looks like a YAML timestamp but is no date: it must not crash datetime()
    path, text = dual_with(tmp_path, "priority: 110", "priority: 2001-13-45")
    refused(path, line_with(text, "2001-13-45"), "ha.nodes.gw1.priority", "valid integer")


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read topology"):
        load_topology(tmp_path / "missing.yaml")
    with pytest.raises(TopologyError, match="cannot read topology"):
        load_topology(tmp_path)

"""Matrix file parsing and errors, selection (--filter/--shard), scheduling groups, expectations, reports
and timeline events, from files and synthetic verdicts (no Docker)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labctl.experiment import events
from labctl.matrix import report
from labctl.matrix.model import MatrixError, exclusive_groups, filter_cells, load_matrix, parse_shard, shard_cells
from labctl.matrix.run import CellResult, MatrixResult, check_expectation

ROOT = Path(__file__).resolve().parents[2]
DUAL = ROOT / "topologies" / "dual-interface.yaml"


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def other_topology(tmp_path: Path, lab: str, octet: int) -> Path:
    """A copy of dual-interface with its own lab name and subnets (10.<octet>.x)."""
    text = DUAL.read_text().replace("name: dual", f"name: {lab}").replace("198.51.100.", f"10.{octet}.0.")
    for old, new in (("10.1.0.", f"10.{octet + 1}.0."), ("10.2.0.", f"10.{octet + 2}.0."),
                     ("10.9.0.", f"10.{octet + 9}.0.")):
        text = text.replace(old, new)
    return write(tmp_path, text, f"{lab}.yaml")


BASE = f"""name: t
topologies:
  dual: {DUAL}
faults:
  link-down-outside: {{fault: link-down, link: outside}}
timers:
  fast: {{hello: 100ms, hold: 300ms}}
matrix:
  - topologies: [dual]
    faults: [node-kill, link-down-outside]
    modes: [stateful, stateless]
    timers: [default, fast]
    expect: {{verdict: pass}}
  - topologies: [dual]
    faults: [node-kill]
    sabotage: no-sync
    expect: {{verdict: fail, reason: IKE SA not preserved}}
"""


# ---------------------------------------------------------------- the file


def test_shipped_quick_matrix_has_the_ci_cells() -> None:
    matrix = load_matrix(ROOT / "matrices" / "quick.yaml")
    assert [c.id for c in matrix.cells] == [
        "dual/node-kill/stateful/default", "dual/node-kill/stateless/default",
        "dual/node-kill/stateful/default/no-sync", "dual/node-kill/stateful/default/no-rekey",
        "dual/node-kill/stateful/default/no-rri", "dual/node-kill/stateful/default/slow-takeover",
        "dual/node-kill/stateful/default/lossy-takeover", "dual/node-kill/stateful/default/mute-ike"]
    assert [c.expect.verdict for c in matrix.cells] == ["pass", "pass"] + ["fail"] * 6
    assert [c.expect.reason for c in matrix.cells][-3:] == ["outage", "steady loss", "IKE SA does not work"]
    assert {c.lab for c in matrix.cells} == {"dual"}


def test_shipped_default_matrix_lists_every_topology_and_fault() -> None:
    text = (ROOT / "matrices" / "default.yaml").read_text()
    for topology in ("dual-interface.yaml", "single-interface.yaml", "dual-interface-ospf.yaml", "easy-vpn.yaml"):
        assert topology in text
    try:
        matrix = load_matrix(ROOT / "matrices" / "default.yaml")
    except MatrixError as exc:  # a topology not landed yet: the error names it with its line
        assert re.search(r"default\.yaml:\d+: field topologies\.\w+: topology file .* not found", str(exc))
        return
    faults = {c.fault.fault for c in matrix.cells}
    assert {"node-kill", "link-down", "charon-crash", "sidecar-crash", "sync-partition", "loss"} <= faults
    assert any(c.fault.recover for c in matrix.cells)  # recovery with preempt
    assert {c.sabotage for c in matrix.cells} >= {"no-sync", "no-rekey", "no-rri"}


def test_loss_and_recovery_cells(tmp_path: Path) -> None:
    text = BASE.replace("faults:\n", "faults:\n  loss-10: {fault: loss, link: outside, percent: 10}\n"
                        "  node-kill-recover: {fault: node-kill, recover: true}\n", 1)
    text += "  - {topologies: [dual], faults: [loss-10, node-kill-recover], expect: {verdict: pass}}\n"
    cells = {c.id: c for c in load_matrix(write(tmp_path, text)).cells}
    loss = cells["dual/loss-10/stateful/default"].fault
    assert (loss.fault, loss.link, loss.percent, loss.recover) == ("loss", "outside", 10, False)
    assert cells["dual/node-kill-recover/stateful/default"].fault.recover is True
    with pytest.raises(MatrixError, match=r"m\.yaml:\d+: field .*faults.*loss needs --percent"):
        load_matrix(write(tmp_path, text.replace(", percent: 10", "")))


def test_cross_product_ids_settings_and_overrides(tmp_path: Path) -> None:
    matrix = load_matrix(write(tmp_path, BASE))
    assert len(matrix.cells) == 2 * 2 * 2 + 1
    cell = next(c for c in matrix.cells if c.id == "dual/link-down-outside/stateless/fast")
    assert cell.fault.fault == "link-down" and cell.fault.link == "outside"
    assert cell.overrides() == {"redundancy": "stateless", "hello": "100ms", "hold": "300ms"}
    assert cell.lab == "dual" and cell.settings.rate == 200
    bad = next(c for c in matrix.cells if c.sabotage)
    assert bad.id == "dual/node-kill/stateful/default/no-sync" and bad.expect.verdict == "fail"


@pytest.mark.parametrize(("snippet", "line", "message"), [
    ("    expect: {verdict: maybe}", 13, r"field matrix\.0\.expect\.verdict: Input should be 'pass' or 'fail'"),
    ("    colour: red", 13, r"field matrix\.0\.colour: Extra inputs are not permitted"),
    ("    sabotage: no-brakes", 13, r"field matrix\.0\.sabotage: .*unknown sabotage 'no-brakes'"),
])
def test_schema_errors_name_file_line_and_field(tmp_path: Path, snippet: str, line: int, message: str) -> None:
    lines = BASE.splitlines()
    lines[12] = snippet  # replaces the first group's `expect:` line (line 13)
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(MatrixError) as err:
        load_matrix(path)
    assert re.search(rf"^{re.escape(str(path))}:{line}: {message}", str(err.value), re.M), str(err.value)


def test_missing_topology_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace(f"  dual: {DUAL}", f"  dual: {DUAL}\n  ospf: nowhere/ospf.yaml"))
    with pytest.raises(MatrixError, match=r"m\.yaml:4: field topologies\.ospf: topology file nowhere/ospf\.yaml "
                                          r"not found"):
        load_matrix(path)


def test_unknown_references_and_duplicates(tmp_path: Path) -> None:
    text = BASE.replace("faults: [node-kill]\n    sabotage", "faults: [node-kill, melt]\n    sabotage")
    text = text.replace("topologies: [dual]\n    faults: [node-kill, link", "topologies: [dual, ospf]\n"
                        "    faults: [node-kill, link").replace("timers: [default, fast]", "timers: [default, slow]")
    text += "  - topologies: [dual]\n    faults: [node-kill]\n"
    with pytest.raises(MatrixError) as err:
        load_matrix(write(tmp_path, text))
    message = str(err.value)
    assert re.search(r":9: field matrix\.0\.topologies\.1: unknown topology 'ospf'", message)
    assert re.search(r":12: field matrix\.0\.timers\.1: unknown timers 'slow'", message)
    assert re.search(r":15: field matrix\.1\.faults\.1: unknown fault 'melt'", message)
    assert re.search(r":18: field matrix\.2: cell dual/node-kill/stateful/default is already defined by the "
                     r"group at line 9", message)


def test_fault_arguments_are_checked_against_the_topology(tmp_path: Path) -> None:
    text = BASE.replace("link: outside", "link: backbone")
    with pytest.raises(MatrixError, match=r"field matrix\.0\.faults: link-down-outside on dual: unknown link "
                                          r"'backbone'"):
        load_matrix(write(tmp_path, text))
    with pytest.raises(MatrixError, match=r"node-kill on dual: lab dual has no node 'gw9'"):
        load_matrix(write(tmp_path, BASE.replace("faults:\n  link", "faults:\n  node-kill: {fault: node-kill, "
                                                 "node: gw9}\n  link")))


def test_bad_yaml_and_bad_durations(tmp_path: Path) -> None:
    with pytest.raises(MatrixError, match=r"m\.yaml:3: not valid YAML"):
        load_matrix(write(tmp_path, "name: t\nmatrix: [\n"))
    with pytest.raises(MatrixError, match=r":7: field timers\.fast\.hello: .*expected a duration"):
        load_matrix(write(tmp_path, BASE.replace("hello: 100ms", "hello: soon")))


# ---------------------------------------------------------------- selection and scheduling


@pytest.fixture()
def cells(tmp_path: Path) -> list:
    return load_matrix(write(tmp_path, BASE)).cells


def test_filter_terms_and_alternatives(cells: list) -> None:
    ids = lambda *exprs: [c.id for c in filter_cells(cells, list(exprs))]  # noqa: E731
    assert len(ids()) == len(cells)
    assert ids("mode=stateless,timers=fast") == ["dual/node-kill/stateless/fast",
                                                 "dual/link-down-outside/stateless/fast"]
    assert ids("sabotage!=none") == ["dual/node-kill/stateful/default/no-sync"]
    assert ids("no-*") == ids("*/no-sync") == ids("no-sync") == ["dual/node-kill/stateful/default/no-sync"]
    assert ids("expect=fail", "link-down-outside/stateful/default") == [
        "dual/link-down-outside/stateful/default", "dual/node-kill/stateful/default/no-sync"]
    assert ids("topology=ospf") == []
    with pytest.raises(MatrixError, match="unknown key 'colour'"):
        ids("colour=red")


def test_shards_partition_the_matrix_deterministically(cells: list) -> None:
    shards = [shard_cells(cells, i, 3) for i in (1, 2, 3)]
    assert sorted(c.id for s in shards for c in s) == sorted(c.id for c in cells)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    again = [shard_cells(list(reversed(cells)), i, 3) for i in (1, 2, 3)]
    assert [[c.id for c in s] for s in shards] == [[c.id for c in s] for s in again]
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/3", "4/3", "1", "a/b"):
        with pytest.raises(MatrixError, match="--shard wants I/N"):
            parse_shard(bad)


def test_only_cells_of_different_labs_and_subnets_run_together(tmp_path: Path) -> None:
    other = other_topology(tmp_path, "other", 81)
    clash = write(tmp_path, DUAL.read_text().replace("name: dual", "name: clash"), "clash.yaml")  # same subnets
    text = BASE.replace(f"  dual: {DUAL}", f"  dual: {DUAL}\n  other: {other}\n  clash: {clash}")
    text = text.replace("topologies: [dual]\n    faults: [node-kill, link", "topologies: [dual, other, clash]\n"
                        "    faults: [node-kill, link")
    matrix = load_matrix(write(tmp_path, text))
    groups = exclusive_groups(matrix.cells)
    assert len(groups) == 2
    labs = sorted(sorted({c.lab for c in g}) for g in groups)
    assert labs == [["clash", "dual"], ["other"]]


# ---------------------------------------------------------------- expectations


def verdict(**kw: object) -> dict:
    base = {"verdict": "pass", "ike_sa_preserved": True, "child_sa": "rekeyed", "reasons": [],
            "outage_ms": {"inside1->remote1": 420.0, "remote1->inside1": 415.5}, "converge_ms": 800.0,
            "old_active": "gw1", "new_active": "gw2"}
    return base | kw


def test_expectations(cells: list) -> None:
    good = next(c for c in cells if c.id == "dual/node-kill/stateful/default")
    assert check_expectation(good.expect, verdict()) == []
    failed = verdict(verdict="fail", reasons=["outage x 9000 ms > 3000 ms allowed"])
    assert check_expectation(good.expect, failed) == [
        "expected verdict PASS, got FAIL (outage x 9000 ms > 3000 ms allowed)"]
    bad = next(c for c in cells if c.sabotage)
    assert check_expectation(bad.expect, verdict(verdict="fail", reasons=["IKE SA not preserved: ..."])) == []
    assert check_expectation(bad.expect, verdict()) == ["expected verdict FAIL, got PASS"]
    wrong_reason = check_expectation(bad.expect, verdict(verdict="fail", reasons=["RRI: missing"]))
    assert wrong_reason == ["expected a reason containing 'IKE SA not preserved', got: RRI: missing"]
    strict = good.expect.model_copy(update={"ike_sa_preserved": False, "child_sa": ["renegotiated"]})
    assert check_expectation(strict, verdict()) == ["expected ike_sa_preserved=false, got true",
                                                    "expected child_sa renegotiated, got rekeyed"]


# ---------------------------------------------------------------- reports


def synthetic_result(cells: list) -> MatrixResult:
    fault_at = 1_800_000_010.0
    timeline = {"probe_start": fault_at - 1.0, "fault_at": fault_at, "converged_at": fault_at + 0.8,
                "probe_end": fault_at + 3.0}
    probe = {"directions": [
        {"name": "inside1->remote1", "longest_gap_ms": 420.0, "gap_start": fault_at + 0.1, "lost": 84},
        {"name": "remote1->inside1", "longest_gap_ms": 415.5, "gap_start": fault_at + 0.11, "lost": 83}]}
    evts = [{"time": fault_at + 0.3, "node": "gw2", "lane": "hsrp", "kind": "hsrp",
             "text": "Grp 1 state Standby -> Active",
             "detail": "eth1 Grp 1 state Standby -> Active (active timer expired)"},
            {"time": fault_at + 0.5, "node": "peer", "lane": "sa", "kind": "sa", "text": "CHILD SA established",
             "detail": "inbound CHILD_SA net{2} established <&>"}]
    good, bad = cells[0], next(c for c in cells if c.sabotage)
    results = [
        CellResult(good, "met", [], None, verdict(timeline=timeline, probe=probe), evts, fault_at - 5, 20.0),
        CellResult(bad, "unmet", ["expected verdict FAIL, got PASS"], None, verdict(timeline=timeline, probe=probe),
                   [], fault_at + 30, 21.0),
        CellResult(cells[1], "error", ["cell did not complete: lab dual did not get ready"],
                   "lab dual did not get ready", None, [], fault_at + 60, 3.0),
    ]
    from labctl.matrix.model import Matrix

    return MatrixResult(Matrix("t", Path("m.yaml"), "test <matrix>"), results, fault_at - 5, 44.0, 1)


def test_junit_has_one_testcase_per_cell_with_reasons(cells: list) -> None:
    root = ET.fromstring(report.to_junit(synthetic_result(cells)))
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == [cells[0].id, cells[-1].id, cells[1].id]
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure is not None and "expected verdict FAIL, got PASS" in failure.get("message")
    assert "ike_sa_preserved=True" in failure.text
    assert cases[2].find("error").get("message") == "lab dual did not get ready"
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")


def test_json_report_is_complete(cells: list) -> None:
    data = json.loads(json.dumps(report.to_json(synthetic_result(cells)), default=str))
    assert data["passed"] is False and data["totals"] == {"cells": 3, "met": 1, "unmet": 1, "error": 1, "skipped": 0}
    first = data["cells"][0]
    assert first["id"] == cells[0].id and first["met"] is True and first["verdict"]["child_sa"] == "rekeyed"
    assert first["expect"] == {"verdict": "pass"} and first["events"][0]["node"] == "gw2"


def test_html_is_self_contained_with_a_timeline_per_cell(cells: list, tmp_path: Path) -> None:
    files = report.write_reports(synthetic_result(cells), tmp_path / "r")
    assert sorted(p.name for p in files.values()) == ["junit.xml", "report.html", "results.json"]
    page = files["html"].read_text()
    assert page.count("<svg") == 2  # the errored cell never reached its fault: a note instead
    assert "no timeline" in page
    assert "420 ms gap, 84 lost" in page and ">fault<" in page and "converged 800 ms" in page
    assert "Grp 1 state Standby -&gt; Active" in page and "CHILD SA established" in page
    assert "test &lt;matrix&gt;" in page and "&lt;&amp;&gt;" in page  # escaped
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # no external assets
    assert "REGRESSION" in page and "FAILED" in page


# ---------------------------------------------------------------- timeline events


def test_sidecar_and_charon_events_are_parsed_in_the_window() -> None:
    side = ("2026-11-23T14:25:04.187541501Z 14:25:04 role: standby -> active\n"
            "2026-11-23T14:25:04.190560954Z 14:25:04 hsrp: eth0 Grp 2 state Standby -> Active (active timer expired)\n"
            "2026-11-23T14:25:04.267623133Z 14:25:04 rri: injected 10.73.0.0/24\n"
            "2026-11-23T14:29:00.000000000Z 14:29:00 role: active -> standby\n")
    start = 1795443903.0  # 2026-11-23T14:25:03Z
    found = events.sidecar_events("gw2", side, start, start + 10)
    assert [(e["text"], e["node"]) for e in found] == [("role standby -> active", "gw2"),
                                                      ("Grp 2 state Standby -> Active", "gw2")]
    assert found[0]["time"] == pytest.approx(start + 1.1875, abs=1e-3)
    log = ("14:25:04.300 12[IKE] <site|1> inbound CHILD_SA net{4} established with SPIs 63c6_i db48_o\n"
           "14:25:04.400 09[IKE] <site|1> ESP sequence number verification failed\n"
           "14:25:04.401 09[IKE] <site|1> ESP sequence number verification failed\n"
           "14:25:04.500 09[IKE] <site|1> closing CHILD_SA net{3} with SPIs 6041_i\n"
           "14:30:00.000 09[IKE] <site|1> closing CHILD_SA net{5}\n")
    sa = events.charon_events("peer", log, start, start + 10)
    assert [e["text"] for e in sa] == ["CHILD SA established", "ESP replay drop x2", "CHILD SA closed"]
    assert sa[0]["time"] == pytest.approx(start + 1.3, abs=1e-3)


def test_html_leads_with_what_needs_attention_and_records_what_ran(cells: list) -> None:
    result = synthetic_result(cells)
    result.environment = {"labctl": "0.1.0", "commit": "abc123def456", "images": {"node": "sha256:1234"},
                          "esp": "userspace (kernel-libipsec)", "cpus": 2, "python": "3.11.7", "timers": {}}
    page = report.to_html(result)
    attention = page.index("Needs attention (2)")
    assert attention < page.index("<h2>" + cells[0].topology)  # before the per-topology tables
    summary = page[attention:page.index("</ul>", attention)]
    assert "expected verdict FAIL, got PASS" in summary and "lab dual did not get ready" in summary
    assert f">{cells[0].id}</a>" not in summary  # the cell that met is not listed
    assert page.count("<details") == 3 and page.count("\" open>") == 2  # only unmet/error cells start open
    assert "commit abc123def456" in page and "ESP userspace (kernel-libipsec)" in page and "2 CPUs" in page
    assert report.to_json(result)["environment"]["commit"] == "abc123def456"
    result.results = [r for r in result.results if r.status == "met"]
    assert "Every cell met its expectation." in report.to_html(result)


# ---------------------------------------------------------------- several engines (issue 15)


class FakeEngine:
    """What run_matrix asks of an engine, recording the image sources it was given."""

    def __init__(self, name: str, host: str | None = None) -> None:
        self.name, self.url, self.sources, self.host = name, name, None, host or name

    def labs(self) -> dict:
        return {}

    def ensure_images(self, progress: object, sources: list) -> None:
        self.sources = [s.name for s in sources]

    def image_status(self) -> list:
        return []

    def kernel_has_esp(self) -> bool:
        return False


def four_groups(tmp_path: Path) -> str:
    """The BASE matrix over dual and three more topologies: four groups of cells."""
    others = [other_topology(tmp_path, f"o{n}", 81 + n) for n in range(3)]
    text = BASE.replace(f"  dual: {DUAL}", f"  dual: {DUAL}\n" + "".join(f"  o{n}: {p}\n" for n, p in
                                                                         enumerate(others)))
    return text.replace("topologies: [dual]\n    faults: [node-kill, link", "topologies: [dual, o0, o1, o2]\n"
                        "    faults: [node-kill, link")


def test_cells_spread_over_engines_one_per_group_and_engine_at_a_time(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from labctl.matrix import run as running

    matrix = load_matrix(write(tmp_path, four_groups(tmp_path)))
    lock, ran, busy, peak = threading.Lock(), [], {"A": 0, "B": 0}, {"A": 0, "B": 0}
    lab_busy: dict[tuple[str, str], int] = {}
    lab_peak: dict[tuple[str, str], int] = {}

    def fake_cell(engine: FakeEngine, cell: object, reporter: object, gate: object = None) -> CellResult:
        key = (engine.name, cell.lab)  # type: ignore[attr-defined]
        with lock:
            busy[engine.name] += 1
            peak[engine.name] = max(peak[engine.name], busy[engine.name])
            lab_busy[key] = lab_busy.get(key, 0) + 1
            lab_peak[key] = max(lab_peak.get(key, 0), lab_busy[key])
            ran.append(key)
        time.sleep(0.02)
        with lock:
            busy[engine.name] -= 1
            lab_busy[key] -= 1
        return CellResult(cell, "met", engine=engine.name)  # type: ignore[arg-type]

    monkeypatch.setattr(running, "run_cell", fake_cell)
    a, b = FakeEngine("A"), FakeEngine("B")
    result = running.run_matrix(matrix, matrix.cells, jobs=1, engines=[a, b])  # type: ignore[list-item]
    assert result.passed and len(ran) == len(matrix.cells)
    engines_of_lab: dict[str, set] = {}
    for engine, lab in ran:
        engines_of_lab.setdefault(lab, set()).add(engine)
    assert engines_of_lab["dual"] == {"A", "B"}  # the largest group is shared out, not left to one engine
    assert set(lab_peak.values()) == {1}  # never two cells of one lab on one engine at once
    assert {e for e, _ in ran} == {"A", "B"} and peak == {"A": 1, "B": 1}  # both used, --jobs per engine
    assert a.sources == [] and b.sources == ["A"]  # the second engine may copy the first's images
    assert result.environment["engines"] == ["A", "B"]
    assert {r.engine for r in result.results} == {"A", "B"}


@pytest.mark.parametrize(("hosts", "shared"), [(("h", "h"), True), (("h1", "h2"), False)])
def test_engines_of_one_host_share_one_quiet_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  hosts: tuple[str, str], shared: bool) -> None:
    import time

    from labctl.matrix import run as running
    from labctl.matrix.gate import OpenGate, QuietGate

    matrix = load_matrix(write(tmp_path, four_groups(tmp_path)))
    gates: dict[str, set[int]] = {}
    kinds: set[type] = set()

    def fake_cell(engine: FakeEngine, cell: object, reporter: object, gate: object = None) -> CellResult:
        gates.setdefault(engine.name, set()).add(id(gate))
        kinds.add(type(gate))
        time.sleep(0.02)  # both engines' workers get cells
        return CellResult(cell, "met", engine=engine.name)  # type: ignore[arg-type]

    monkeypatch.setattr(running, "run_cell", fake_cell)
    engines = [FakeEngine("A", hosts[0]), FakeEngine("B", hosts[1])]
    running.run_matrix(matrix, matrix.cells, jobs=1, engines=engines)  # type: ignore[arg-type]
    assert len(gates["A"]) == len(gates["B"]) == 1
    assert (gates["A"] == gates["B"]) is shared
    assert kinds == ({QuietGate} if shared else {OpenGate})  # one lab at a time per host: nothing to keep apart


def test_the_summary_table_fits_80_columns_and_never_cuts_a_cell_id() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from labctl.cli.matrix import summary_table

    long_id = "dual/node-kill/stateful/default/lossy-takeover"
    rows = [SimpleNamespace(cell=SimpleNamespace(id=long_id, expect=SimpleNamespace(verdict="fail")), status="met",
                            seconds=52.4, verdict={"verdict": "fail", "ike_sa_preserved": True, "child_sa": "same",
                                                   "outage_ms": {"a->b": 701.6, "b->a": 688.0}}),
            SimpleNamespace(cell=SimpleNamespace(id="easyvpn/node-kill/stateless/default",
                                                 expect=SimpleNamespace(verdict="pass")),
                            status="error", seconds=3.0, verdict=None)]
    console = Console(width=80, record=True, color_system=None)
    console.print(summary_table("default", rows))
    text = console.export_text()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    width = next(line for line in text.splitlines() if "want/got" in line).index("want/got")
    assert long_id in "".join(line[:width].strip() for line in text.splitlines())  # folded, whole
    assert "fail/fail" in text and "kept" in text and " 702 " in text and "error" in text and "pass/-" in text


def test_matrix_durations_must_be_a_results_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from labctl.cli import main

    bad = tmp_path / "results.json"
    bad.write_text("[]")
    out = CliRunner().invoke(main, ["matrix", "--durations", str(bad), "--filter", "dual/node-kill/stateful/default"])
    assert out.exit_code == 2 and "--durations" in out.output and "not a results.json" in out.output

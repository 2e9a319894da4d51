"""Matrix reports: JUnit XML for CI (one testcase per cell), JSON for tools, and a self-contained HTML
page for people (a table per topology, per cell a timeline of the probe around the fault)."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labctl.matrix.run import MatrixResult

STATUS_TEXT = {"met": "OK", "unmet": "REGRESSION", "error": "ERROR", "skipped": "SKIPPED", "pending": "NOT RUN"}


def to_json(result: MatrixResult) -> dict[str, Any]:
    positions = {cell.id: index for index, cell in enumerate(result.matrix.cells)}
    return {
        "matrix": result.matrix.name,
        "file": str(result.matrix.path),
        "description": result.matrix.description,
        "passed": result.passed,
        "started_at": result.started_at,
        "seconds": round(result.seconds, 3),
        "jobs": result.jobs,
        "shard": f"{result.shard[0]}/{result.shard[1]}" if result.shard else None,
        "filters": result.filters,
        "totals": result.totals(),
        "environment": result.environment,
        # position: the cell's place in the whole matrix file, so shards merge back into the whole run's order
        "cells": [{**r.to_dict(), "position": positions.get(r.cell.id, r.position)} for r in result.results],
    }


def _summary(verdict: dict[str, Any] | None) -> str:
    if not verdict:
        return "no verdict"
    outage = ", ".join(f"{k} {v:.0f} ms" for k, v in (verdict.get("outage_ms") or {}).items())
    return (f"verdict {str(verdict.get('verdict')).upper()}; ike_sa_preserved={verdict.get('ike_sa_preserved')}; "
            f"child_sa={verdict.get('child_sa')}; outage: {outage or '-'}; converge_ms={verdict.get('converge_ms')}; "
            f"active {verdict.get('old_active')} -> {verdict.get('new_active')}")


def to_junit(result: MatrixResult) -> str:
    """One <testsuite> per topology, one <testcase> per cell; an unmet expectation is a <failure> whose text
    lists the mismatches and the verdict's reasons, a cell that could not run is an <error>."""
    root = ET.Element("testsuites", name=f"labctl matrix {result.matrix.name}", tests=str(len(result.results)),
                      time=f"{result.seconds:.3f}")
    by_topology: dict[str, list] = {}
    for r in result.results:
        by_topology.setdefault(r.cell.topology, []).append(r)
    for topology, results in by_topology.items():
        suite = ET.SubElement(root, "testsuite", name=f"matrix.{result.matrix.name}.{topology}",
                              tests=str(len(results)),
                              failures=str(sum(r.status == "unmet" for r in results)),
                              errors=str(sum(r.status == "error" for r in results)),
                              skipped=str(sum(r.status in ("skipped", "pending") for r in results)),
                              time=f"{sum(r.seconds for r in results):.3f}")
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"matrix.{result.matrix.name}.{topology}",
                                 name=r.cell.id, time=f"{r.seconds:.3f}")
            expect = r.cell.expect.model_dump(exclude_none=True)
            reasons = (r.verdict or {}).get("reasons") or []
            text = "\n".join([*r.mismatches, f"expected: {json.dumps(expect)}", _summary(r.verdict),
                              *(f"reason: {x}" for x in reasons)])
            if r.status == "unmet":
                ET.SubElement(case, "failure", message="; ".join(r.mismatches)[:500], type="expectation").text = text
            elif r.status == "error":
                ET.SubElement(case, "error", message=(r.error or "").splitlines()[0][:500] if r.error else "error",
                              type="cell").text = (r.error or "") + "\n" + text
            elif r.status in ("skipped", "pending"):
                ET.SubElement(case, "skipped", message="; ".join(r.mismatches) or "not run")
            ET.SubElement(case, "system-out").text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---------------------------------------------------------------- HTML

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1300px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0} th,td{padding:3px 8px;border:1px solid #ddd;text-align:left}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.met{background:#e6f4ea} .unmet{background:#fce8e6} .error{background:#fef7e0} .skipped,.pending{background:#eee}
.badge{font-weight:bold} .met .badge{color:#137333} .unmet .badge{color:#c5221f} .error .badge{color:#b06000}
.cell{margin:1em 0;padding:.5em 1em;border-left:4px solid #ccc} .cell.met{border-color:#34a853}
.cell.unmet{border-color:#ea4335} .cell.error{border-color:#fbbc04}
.mono{font-family:ui-monospace,monospace;font-size:12px} ul{margin:.3em 0}
svg text{font:11px system-ui,sans-serif}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def timeline_svg(verdict: dict[str, Any] | None, events: list[dict[str, Any]], width: int = 1100) -> str:
    """An inline SVG: time relative to the fault on x; a lane per probe direction (traffic flowing in green,
    the longest gap in red with its length), HSRP/redundancy events per gateway, SA events on the peer."""
    timeline = (verdict or {}).get("timeline") or {}
    fault_at = timeline.get("fault_at")
    probe = (verdict or {}).get("probe") or {}
    directions = probe.get("directions") or []
    if not fault_at or not timeline.get("probe_start"):
        return '<p class="mono">no timeline (the cell did not reach the fault)</p>'
    start = float(timeline["probe_start"]) - fault_at
    end = float(timeline.get("probe_end") or fault_at) - fault_at
    for e in events:
        start, end = min(start, e["time"] - fault_at), max(end, e["time"] - fault_at)
    span = max(end - start, 0.5)
    left, right = 150, 20
    plot = width - left - right

    def x(t: float) -> float:
        return round(left + (t - start) / span * plot, 1)

    lanes: list[tuple[str, str]] = [(d["name"], "probe") for d in directions]
    nodes = sorted({e["node"] for e in events if e["lane"] == "hsrp"})
    lanes += [(n, "hsrp") for n in nodes]
    lanes += [(n, "sa") for n in sorted({e["node"] for e in events if e["lane"] == "sa"})]
    lane_h, top = 34, 22
    height = top + lane_h * len(lanes) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="probe timeline around the fault">']
    out.append(f'<rect x="{left}" y="{top - 4}" width="{plot}" height="{lane_h * len(lanes) + 4}" fill="#fafafa" '
                'stroke="#ddd"/>')
    # ticks every "nice" interval
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120) if span / s <= 12)
    tick = step * (int(start / step) - (1 if start < 0 else 0))
    while tick <= end:
        if tick >= start:
            out.append(f'<line x1="{x(tick)}" y1="{top - 4}" x2="{x(tick)}" y2="{height - 26}" stroke="#eee"/>')
            out.append(f'<text x="{x(tick)}" y="{height - 12}" text-anchor="middle" fill="#666">'
                       f'{tick:+.1f}s</text>'.replace("+0.0s", "0"))
        tick = round(tick + step, 6)
    for index, (name, kind) in enumerate(lanes):
        y = top + index * lane_h
        label = {"probe": f"probe {name}", "hsrp": f"{name} HSRP", "sa": f"{name} SAs"}[kind]
        out.append(f'<text x="{left - 6}" y="{y + lane_h / 2 + 4}" text-anchor="end">{_esc(label)}</text>')
        if kind == "probe":
            d = next(d for d in directions if d["name"] == name)
            bar_y = y + 8
            out.append(f'<rect x="{x(float(timeline["probe_start"]) - fault_at)}" y="{bar_y}" '
                       f'width="{max(1.0, x(end) - x(float(timeline["probe_start"]) - fault_at))}" height="14" '
                       'fill="#81c995"><title>packets arriving</title></rect>')
            if d.get("gap_start") and d.get("longest_gap_ms"):
                g0 = float(d["gap_start"]) - fault_at
                g1 = g0 + float(d["longest_gap_ms"]) / 1000
                out.append(f'<rect x="{x(g0)}" y="{bar_y - 2}" width="{max(2.0, x(g1) - x(g0))}" height="18" '
                           f'fill="#ea4335"><title>longest gap {d["longest_gap_ms"]:.0f} ms, '
                           f'{d.get("lost", 0)} lost</title></rect>')
                out.append(f'<text x="{x(g1) + 4}" y="{bar_y + 11}" fill="#c5221f">{d["longest_gap_ms"]:.0f} ms'
                           f' gap, {d.get("lost", 0)} lost</text>')
        else:
            lane_events = [e for e in events if e["lane"] == kind and e["node"] == name]
            free = [0.0, 0.0]  # x where each of the two label rows is free again (labels never overlap)
            for e in lane_events:
                ex = x(e["time"] - fault_at)
                color = "#1a73e8" if kind == "hsrp" else "#9334e6"
                out.append(f'<line x1="{ex}" y1="{y + 4}" x2="{ex}" y2="{y + lane_h - 4}" stroke="{color}" '
                           f'stroke-width="2"><title>{_esc(e["detail"])}</title></line>')
                row = next((r for r in (0, 1) if ex >= free[r]), None)
                if row is not None:  # otherwise the marker's tooltip still tells
                    text = e["text"][:38]
                    free[row] = ex + 3 + len(text) * 5.6 + 6
                    out.append(f'<text x="{ex + 3}" y="{y + 12 + row * 13}" fill="{color}">'
                               f'<title>{_esc(e["detail"])}</title>{_esc(text)}</text>')
    out.append(f'<line x1="{x(0)}" y1="{top - 8}" x2="{x(0)}" y2="{height - 26}" stroke="#c5221f" '
               'stroke-width="2" stroke-dasharray="5,3"/>')
    out.append(f'<text x="{x(0)}" y="{top - 10}" text-anchor="middle" fill="#c5221f">fault</text>')
    if timeline.get("converged_at"):
        cx = x(float(timeline["converged_at"]) - fault_at)
        out.append(f'<line x1="{cx}" y1="{top - 8}" x2="{cx}" y2="{height - 26}" stroke="#137333" '
                   'stroke-width="2" stroke-dasharray="2,2"/>')
        out.append(f'<text x="{cx + 3}" y="{top - 10}" fill="#137333">converged '
                   f'{(verdict or {}).get("converge_ms", 0):.0f} ms</text>')
    out.append("</svg>")
    return "".join(out)


def to_html(result: MatrixResult) -> str:
    totals = result.totals()
    when = datetime.fromtimestamp(result.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    overall = "PASSED" if result.passed else "FAILED"
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>labctl matrix {_esc(result.matrix.name)}: {overall}</title><style>{CSS}</style></head><body>",
        f"<h1>labctl matrix <code>{_esc(result.matrix.name)}</code>: "
        f"<span class=\"{'met' if result.passed else 'unmet'}\">{overall}</span></h1>",
        f"<p>{_esc(result.matrix.description)}</p>",
        f"<p class=\"mono\">{_esc(result.matrix.path)} · started {when} · {result.seconds:.0f} s · "
        f"--jobs {result.jobs}" + (f" · shard {result.shard[0]}/{result.shard[1]}" if result.shard else "")
        + (f" · filter {_esc(' | '.join(result.filters))}" if result.filters else "") + "</p>",
        f"<p>{totals['cells']} cells: <b>{totals['met']}</b> met their expectation, <b>{totals['unmet']}</b> "
        f"did not (regression), <b>{totals['error']}</b> errors, <b>{totals['skipped']}</b> skipped. A cell "
        "expected to FAIL (known-bad variant) is OK when it fails for the expected reason.</p>",
        _environment_html(result.environment),
        _attention_html(result),
    ]
    by_topology: dict[str, list] = {}
    for r in result.results:
        by_topology.setdefault(r.cell.topology, []).append(r)
    for topology, results in by_topology.items():
        first = results[0].cell
        parts.append(f"<h2>{_esc(topology)} <small class=\"mono\">({_esc(first.topology_file)}, lab "
                     f"{_esc(first.lab)})</small></h2>")
        parts.append("<table><tr><th>cell</th><th>fault</th><th>mode</th><th>timers</th><th>sabotage</th>"
                     "<th>expected</th><th>verdict</th><th>IKE SA kept</th><th>CHILD SA</th>"
                     "<th>gap per direction (ms)</th><th>converge (ms)</th><th>time (s)</th><th>result</th></tr>")
        for r in results:
            v = r.verdict or {}
            anchor = r.cell.id.replace("/", "-")
            gaps = " / ".join(f"{ms:.0f}" for ms in (v.get("outage_ms") or {}).values()) or "-"
            parts.append(
                f"<tr class=\"{r.status}\"><td><a href=\"#{_esc(anchor)}\">{_esc(r.cell.id)}</a></td>"
                f"<td>{_esc(r.cell.fault_name)}</td><td>{_esc(r.cell.mode)}</td><td>{_esc(r.cell.timers_name)}"
                f"{_esc(' ' + ' '.join(r.cell.timers.values())) if r.cell.timers else ''}</td>"
                f"<td>{_esc(r.cell.sabotage or '')}</td><td>{_esc(r.cell.expect.verdict.upper())}</td>"
                f"<td>{_esc(str(v.get('verdict', '-')).upper())}</td><td>{_esc(v.get('ike_sa_preserved', '-'))}</td>"
                f"<td>{_esc(v.get('child_sa', '-'))}</td><td class=\"num\">{gaps}</td>"
                f"<td class=\"num\">{_esc(v.get('converge_ms') if v.get('converge_ms') is not None else '-')}</td>"
                f"<td class=\"num\">{r.seconds:.0f}</td>"
                f"<td><span class=\"badge\">{STATUS_TEXT.get(r.status, r.status)}</span></td></tr>")
        parts.append("</table>")
        for r in results:
            v = r.verdict or {}
            anchor = r.cell.id.replace("/", "-")
            opened = " open" if r.status in ("unmet", "error") else ""
            parts.append(f"<details class=\"cell {r.status}\" id=\"{_esc(anchor)}\"{opened}><summary><b>"
                         f"{_esc(r.cell.id)}</b> — {STATUS_TEXT.get(r.status, r.status)}</summary>")
            parts.append(f"<p class=\"mono\">expected {_esc(json.dumps(r.cell.expect.model_dump(exclude_none=True)))}"
                         f"<br>{_esc(_summary(v) if v else 'no verdict')}"
                         + (f"<br>engine {_esc(r.engine)}" if r.engine else "") + "</p>")
            if r.mismatches:
                parts.append("<p><b>Does not meet its expectation:</b></p><ul>"
                             + "".join(f"<li>{_esc(m)}</li>" for m in r.mismatches) + "</ul>")
            if v.get("reasons"):
                parts.append("<p>Verdict reasons:</p><ul>" + "".join(f"<li>{_esc(m)}</li>" for m in v["reasons"])
                             + "</ul>")
            if r.error:
                parts.append(f"<pre class=\"mono\">{_esc(r.error)}</pre>")
            back = v.get("recovery")
            if back:
                split = (back.get("timeline") or {}).get("probe_start") or float("inf")
                parts.append(timeline_svg(v, [e for e in r.events if e["time"] < split]))
                parts.append(f"<p class=\"mono\">the way back: {_esc(_summary(back))}</p>")
                parts.append(timeline_svg(back, [e for e in r.events if e["time"] >= split]))
            else:
                parts.append(timeline_svg(v, r.events))
            parts.append("</details>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _environment_html(environment: dict[str, Any]) -> str:
    if not environment:
        return ""
    images = ", ".join(f"{kind} {image_id}" for kind, image_id in (environment.get("images") or {}).items())
    commit = environment.get("commit") or "n/a"
    engines = environment.get("engines")
    shards = environment.get("shards")
    return (f"<p class=\"mono\">labctl {_esc(environment.get('labctl'))} (commit {_esc(commit)})"
            f" · ESP {_esc(environment.get('esp'))} · {_esc(environment.get('cpus'))} CPUs · Python "
            f"{_esc(environment.get('python'))} · images {_esc(images)}"
            + (f" · engines {_esc(', '.join(engines))}" if engines else "")
            + (f" · merged from {len(shards)} shards" if shards else "") + "</p>")


def _attention_html(result: MatrixResult) -> str:
    """Regressions and errors first, each with its first reason, linked to its cell."""
    bad = [r for r in result.results if r.status in ("unmet", "error")]
    if not bad:
        return "<p><b>Every cell met its expectation.</b></p>"
    items = []
    for r in bad:
        why = (r.mismatches or [r.error or ""])[0]
        items.append(f"<li class=\"{r.status}\"><a href=\"#{_esc(r.cell.id.replace('/', '-'))}\">{_esc(r.cell.id)}"
                     f"</a> — {STATUS_TEXT.get(r.status, r.status)}: {_esc(why)}</li>")
    return f"<h2>Needs attention ({len(bad)})</h2><ul>{''.join(items)}</ul>"


def write_reports(result: MatrixResult, out_dir: Path) -> dict[str, Path]:
    """junit.xml, results.json and report.html in `out_dir`; returns what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"junit": out_dir / "junit.xml", "json": out_dir / "results.json", "html": out_dir / "report.html"}
    files["junit"].write_text(to_junit(result))
    files["json"].write_text(json.dumps(to_json(result), indent=2, default=str) + "\n")
    files["html"].write_text(to_html(result))
    return files

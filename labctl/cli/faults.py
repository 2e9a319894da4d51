"""Fault and verdict commands: fail, failover, probe."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from labctl.cli.base import clean_errors, console, emit_json, err_console, main, progress_to_stderr
from labctl.errors import LabctlError

FAULT_NAMES = ("node-kill", "node-stop", "link-down", "link-up", "sync-partition", "loss", "charon-crash",
               "sidecar-crash", "recover")


@main.command()
@click.argument("lab")
@click.argument("fault", required=False, type=click.Choice(FAULT_NAMES))
@click.option("--node", help="Node to break (default: the HSRP Active gateway).")
@click.option("--link", help="Link for link-down/link-up/loss: outside, inside or sync (default outside).")
@click.option("--percent", type=int, help="Loss percentage for `loss` (1-100).")
@click.option("--undo", is_flag=True, help="Repair FAULT instead of injecting it.")
@click.option("--list", "list_only", is_flag=True, help="List the faults active in the lab.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@clean_errors
def fail(lab: str, fault: str | None, node: str | None, link: str | None, percent: int | None, undo: bool,
         list_only: bool, as_json: bool) -> None:
    """Inject FAULT into LAB (or repair it with --undo; --list shows what is broken).

    \b
    node-kill       SIGKILL the container        node-stop      graceful stop
    link-down/up    --link outside|inside|sync   sync-partition drop all sync traffic
    loss            --percent N on --link        charon-crash   kill -9 charon
    sidecar-crash   kill -9 the sidecar          recover        undo everything, wait for preempt
    """
    from labctl.experiment import faults
    from labctl.lab import open_running

    running = open_running(lab)
    if list_only or fault is None:
        found = [f.to_dict() for f in faults.list_faults(running)]
        if as_json:
            emit_json({"lab": lab, "faults": found})
            return
        table = Table("fault", "node", "link", "percent", title=f"active faults in lab {lab}")
        for item in found:
            table.add_row(item["fault"], item["node"], item.get("link", "-"), str(item.get("percent", "-")))
        console.print(table if found else f"lab {lab}: no active faults")
        return
    if undo:
        repaired = faults.undo(running, fault, node, link, percent)
        data = {"lab": lab, "undone": [f.describe() for f in repaired]}
        if as_json:
            emit_json(data)
        else:
            undone = ", ".join(data["undone"]) or f"nothing ({fault} not active)"
            console.print(f"lab [bold]{lab}[/]: undone {undone}")
        return
    with err_console.status(f"{fault}…"):
        done = faults.inject(running, fault, node, link, percent)
    if as_json:
        emit_json({"lab": lab, "injected": done.describe(), "fault": done.name, "node": done.node,
                   "link": done.link, "percent": done.percent})
    else:
        hint = "" if done.instant or done.name == "recover" else f" — `labctl fail {lab} {fault} --undo` repairs it"
        console.print(f"lab [bold]{lab}[/]: {done.describe()}{hint}")


@main.command()
@click.argument("lab")
@click.option("--fault", default="node-kill", show_default=True,
              type=click.Choice([f for f in FAULT_NAMES if f not in ("recover", "link-up")]), help="Fault to inject.")
@click.option("--node", help="Node to break (default: the HSRP Active gateway).")
@click.option("--link", help="Link for link-down/loss (default outside).")
@click.option("--percent", type=click.IntRange(1, 100), help="Loss percentage (loss only).")
@click.option("--rate", default=1000.0, show_default=True, help="Probe packets per second, each direction.")
@click.option("--max-outage-ms", type=float,
              help="Fail when a direction is silent longer (default: derived from the HSRP hold / DPD timers).")
@click.option("--max-loss-percent", type=click.FloatRange(0, 100),
              help="Fail when a direction loses more after the outage (default: topology, else 0.5).")
@click.option("--timeout", "converge_timeout", type=float, help="Seconds to wait for convergence (default: topology).")
@click.option("--no-recover", is_flag=True, help="Leave the lab broken afterwards (default: undo, wait for preempt).")
@click.option("--judge-recovery", is_flag=True,
              help="Also judge the way back under traffic: undo, the preferred gateway preempts, sessions survive.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@clean_errors
def failover(lab: str, fault: str, node: str | None, link: str | None, percent: int | None, rate: float,
             max_outage_ms: float | None, max_loss_percent: float | None, converge_timeout: float | None,
             no_recover: bool, judge_recovery: bool, as_json: bool) -> None:
    """Break LAB under traffic and judge the failover (exit code 0 only on PASS)."""
    from labctl.experiment.failover import failover as run_failover
    from labctl.experiment.failover import failover_and_back
    from labctl.lab import open_running

    if judge_recovery and no_recover:
        raise click.UsageError("--judge-recovery recovers the lab: it cannot go with --no-recover")
    running = open_running(lab)
    with progress_to_stderr(f"failover of lab {lab}: {fault}", quiet=as_json) as progress:
        if judge_recovery:
            verdict = failover_and_back(running, fault, node, link, rate, max_outage_ms, converge_timeout,
                                        progress=progress, percent=percent, max_loss_percent=max_loss_percent)
        else:
            verdict = run_failover(running, fault, node, link, rate, max_outage_ms, converge_timeout,
                                   recover=not no_recover, progress=progress, percent=percent,
                                   max_loss_percent=max_loss_percent)
    if as_json:
        emit_json(verdict.to_dict())
    else:
        colour = "green" if verdict.passed else "red"
        table = Table(show_header=False, title=f"failover lab {lab}: {verdict.fault} ({verdict.mode}"
                      + (f", sabotage {','.join(verdict.sabotage)}" if verdict.sabotage else "") + ")")
        table.add_row("verdict", f"[bold {colour}]{verdict.verdict.upper()}[/]")
        table.add_row("ike_sa_preserved", str(verdict.ike_sa_preserved).lower())
        table.add_row("child_sa", verdict.child_sa)
        table.add_row("outage budget", f"{verdict.max_outage_ms:.0f} ms ({verdict.budget.get('derived_from', '?')})")
        for name, ms in verdict.outage_ms.items():
            table.add_row(f"outage {name}", f"{ms:.1f} ms (max {verdict.max_outage_ms:.0f})")
        table.add_row("lost_packets", str(verdict.lost_packets))
        for name, loss in verdict.loss.items():
            table.add_row(f"loss {name}", f"{loss['lost_in_outage']} in the outage, {loss['lost_after']} of "
                          f"{loss['sent_after']} after it ({loss['after_percent']:.2f} %)")
        table.add_row("active", f"{verdict.old_active} -> {verdict.new_active}")
        table.add_row("converged", f"{verdict.converge_ms} ms" if verdict.converged else "no")
        if verdict.recovery:
            back = verdict.recovery
            gaps = ", ".join(f"{ms:.0f}" for ms in back["outage_ms"].values())
            table.add_row("way back", f"{back['old_active']} -> {back['active_after']}, outage {gaps} ms, "
                          f"IKE SA kept {str(back['ike_sa_preserved']).lower()}, child_sa {back['child_sa']}")
        for reason in verdict.reasons:
            table.add_row("[red]reason[/]", reason)
        for note in verdict.notes:
            table.add_row("note", note)
        console.print(table)
    sys.exit(0 if verdict.passed else 1)


@main.command()
@click.argument("lab")
@click.option("--rate", default=1000.0, show_default=True, help="Packets per second, each direction.")
@click.option("--duration", default=5.0, show_default=True, help="Seconds to send.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@clean_errors
def probe(lab: str, rate: float, duration: float, as_json: bool) -> None:
    """Sequenced UDP probe through the tunnel, both directions: loss, duplicates, reordering, longest gap."""
    from labctl.experiment.probe import run_probe
    from labctl.lab import open_running

    running = open_running(lab)
    if rate <= 0 or duration <= 0:
        raise LabctlError("--rate and --duration must be positive")
    with err_console.status(f"probing {lab} at {rate:.0f} pps for {duration:.1f}s…"):
        result = run_probe(running, rate, duration)
    if as_json:
        emit_json(result.to_dict())
        return
    table = Table("direction", "sent", "received", "lost", "dup", "reordered", "longest gap ms", "gap start",
                  "latency ms", title=f"probe lab {lab} ({rate:.0f} pps, {result.duration_s:.1f}s)")
    import time as _time

    for d in result.directions:
        start = _time.strftime("%H:%M:%S", _time.localtime(d.gap_start)) + f".{int(d.gap_start % 1 * 1000):03d}" \
            if d.gap_start else "-"
        table.add_row(d.name, str(d.sent), str(d.received), str(d.lost), str(d.duplicated), str(d.reordered),
                      f"{d.longest_gap_ms:.1f}", start, str(d.mean_latency_ms))
    console.print(table)

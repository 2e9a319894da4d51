"""The probe works in the lab's clock domain (issue 15): on a remote engine the agents' CLOCK_MONOTONIC and
wall clock are another machine's. The controller reads the lab's clocks once and converts its own instants
(the common start, the fault, the stop); every comparison is then between lab timestamps."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace as NS

import pytest

from labctl.experiment import probe as probe_mod
from labctl.experiment.probe import TrafficProbe
from labctl.nodes import host

MONO_SKEW, WALL_SKEW = 5000.0, -3600.0  # the remote host booted long ago; its wall clock is an hour behind


class Node:
    """A host node on a machine whose clocks run at our rate but from other origins."""

    def __init__(self, name: str, files: dict[str, str]) -> None:
        self.name, self.files, self.detached = name, files, []

    def exec(self, cmd: list[str] | str, timeout: float | None = 15.0) -> tuple[int, str]:
        if cmd[:2] == ["python3", "-S"]:
            return 0, f"{time.monotonic() + MONO_SKEW!r} {time.time() + WALL_SKEW!r}\n"
        if cmd[0] == "cat":
            return (0, self.files[cmd[1]]) if cmd[1] in self.files else (1, "")
        return 0, ""

    def exec_detached(self, cmd: list[str]) -> None:
        self.detached.append(cmd)


def make_probe() -> tuple[TrafficProbe, dict[str, Node]]:
    files: dict[str, str] = {}
    nodes = {"a": Node("a", files), "b": Node("b", files)}
    lab = NS(topo=NS(name="rm"), node=lambda name: nodes[name])
    probe = TrafficProbe(lab, rate=100, endpoints=(("a", "10.95.0.2"), ("b", "10.95.0.1")))  # type: ignore[arg-type]
    return probe, nodes


def write_progress(probe: TrafficProbe, nodes: dict, sent: float) -> None:
    """Both agents' progress files: the last packet through was sent at lab time `sent`."""
    for name in ("a", "b"):
        nodes[name].files[host.result_path(probe.run, ".progress")] = json.dumps(
            {"last_arrival": sent + 0.01, "last_sent_at": sent, "now": sent + 0.02})


def test_lab_clock_reads_the_offsets_once() -> None:
    clock = host.lab_clock(Node("a", {}))  # type: ignore[arg-type]
    assert clock.mono == pytest.approx(MONO_SKEW, abs=0.05)
    assert clock.wall == pytest.approx(WALL_SKEW, abs=0.05)
    assert host.lab_clock(NS(exec=lambda *a, **k: (126, "no python")))  == host.LabClock()  # type: ignore[arg-type]


def test_the_common_start_is_told_in_the_lab_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_mod, "START_DELAY", 0.0)
    probe, nodes = make_probe()
    probe.start()
    start_at = float(nodes["a"].detached[0][nodes["a"].detached[0].index("--start-at") + 1])
    assert start_at == pytest.approx(probe.started_at + WALL_SKEW, abs=0.05)  # type: ignore[operator]


def test_flowing_compares_lab_send_times_with_the_fault_in_the_lab_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_mod, "START_DELAY", 0.0)
    probe, nodes = make_probe()
    probe.start()
    fault_at = time.monotonic()  # the controller's instant of the fault
    lab_fault = fault_at + MONO_SKEW

    def progress(sent_after_fault: float) -> None:
        write_progress(probe, nodes, lab_fault + sent_after_fault)

    progress(-0.2)  # the last packets through were sent before the fault: not converged
    assert not probe.flowing(since=fault_at)
    progress(+0.1)  # sent after it: converged (in one clock domain this compared 5000 s apart and never held)
    assert probe.flowing(since=fault_at)


def test_flowing_counts_only_packets_sent_beyond_the_clock_reads_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab clock is read at the exec's return, up to `exec_s` late: a packet sent 0.1 s after the fault by
    that reading may have left before it, and does not show convergence; one sent after the error does."""
    monkeypatch.setattr(probe_mod, "START_DELAY", 0.0)
    probe, nodes = make_probe()
    probe.start()
    probe.clock = host.LabClock(MONO_SKEW, WALL_SKEW, exec_s=0.3)
    fault_at = time.monotonic()
    lab_fault = fault_at + MONO_SKEW

    def progress(sent_after_fault: float) -> None:
        write_progress(probe, nodes, lab_fault + sent_after_fault)

    progress(+0.1)
    assert not probe.flowing(since=fault_at)
    progress(+0.35)
    assert probe.flowing(since=fault_at)


def test_the_common_stop_is_told_in_the_lab_wall_clock() -> None:
    probe, nodes = make_probe()
    probe.clock = host.LabClock(MONO_SKEW, WALL_SKEW)
    probe.started_at = time.time()
    sent: list[str] = []
    nodes["a"].exec = lambda cmd, timeout=15.0: (sent.append(cmd[-1]), (1, ""))[1]  # type: ignore[method-assign]
    with pytest.raises(Exception, match="did not report"):
        probe.stop(timeout=0.0)
    stop_at = float(sent[0].split()[1])
    assert stop_at == pytest.approx(time.time() + probe_mod.STOP_DELAY + WALL_SKEW, abs=0.1)


def test_slow_execs_push_the_common_stop_out() -> None:
    """Over SSH an exec takes tenths of a second: the second agent must still get the instant before it."""
    probe, nodes = make_probe()
    probe.clock = host.LabClock(MONO_SKEW, WALL_SKEW, exec_s=0.5)
    probe.started_at = time.time()
    sent: list[str] = []
    nodes["a"].exec = lambda cmd, timeout=15.0: (sent.append(cmd[-1]), (1, ""))[1]  # type: ignore[method-assign]
    with pytest.raises(Exception, match="did not report"):
        probe.stop(timeout=0.0)
    stop_at = float(sent[0].split()[1])
    want = time.time() + probe_mod.STOP_DELAY + probe_mod.STOP_EXECS * 0.5 + WALL_SKEW
    assert stop_at == pytest.approx(want, abs=0.1)

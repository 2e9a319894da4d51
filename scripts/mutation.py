#!/usr/bin/env python3
"""Score of the last `mutmut run` (issue 12: the unit tests must kill >= 90 % of the judges' mutants).

Reads `mutmut results --all true` (run from the repository root, after `mutmut run`) and prints killed /
survived per module, the overall score and every surviving mutant. Exits 1 below the threshold.

In scope: the pure judging code of the modules `[tool.mutmut] only_mutate` names. Out of scope (counted
apart, never in the score): the parts that exec into containers and are covered by the container tests
only (`EXCLUDED` below). A timeout counts as killed (the mutant hung the tests), a mutant no test
reaches (`no tests`) as survived.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

THRESHOLD = 90.0
KILLED = {"killed", "timeout", "caught by type check"}
SKIPPED = {"skipped", "not checked"}
# mutant name prefixes (module.x_function or module.xǁClassǁmethod) that need a lab, not a unit test
EXCLUDED = (
    "labctl.experiment.probe.xǁTrafficProbeǁ",  # starts/stops the agents in the host containers
    "labctl.experiment.probe.x_run_probe_",  # `labctl probe`: TrafficProbe start, sleep, stop
    "labctl.experiment.judges.peer.xǁPeerJudgeǁ",  # reads charon on the peer container (docker exec)
    "labctl.experiment.judges.clients.xǁClientsJudgeǁ",  # reads charon on the client containers
    "labctl.experiment.judges.overlap.x_both_active_spans",  # reads the gateways' Docker logs
    "labctl.experiment.judges.overlap.x_drops_while_both_active",  # the same, for every far end
)
LINE = re.compile(r"^\s*(\S+?)__mutmut_(\d+): (.+)$")
FUNC = re.compile(r"^(?P<module>.+?)\.x(?:_|ǁ)(?P<func>.+)$")


def results(mutmut: str) -> list[tuple[str, str]]:
    out = subprocess.run([mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        match = LINE.match(line)
        if match:
            rows.append((f"{match.group(1)}__mutmut_{match.group(2)}", match.group(3).strip()))
    return rows


def module_of(name: str) -> str:
    match = FUNC.match(name.rsplit("__mutmut_", 1)[0])
    return match.group("module") if match else name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutmut", default=str(Path(sys.executable).with_name("mutmut")))
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    args = parser.parse_args()
    rows = results(args.mutmut)
    if not rows:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 2
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    survivors: list[tuple[str, str]] = []
    excluded = 0
    for name, status in rows:
        if name.startswith(EXCLUDED):
            excluded += 1
            continue
        module = stats[module_of(name)]
        if status in SKIPPED:
            module["skipped"] += 1
        elif status in KILLED:
            module["killed"] += 1
        else:
            module["survived"] += 1
            survivors.append((name, status))
    print(f"{'module':<40} {'killed':>7} {'survived':>9} {'score':>7}")
    total_killed = total_survived = 0
    for module in sorted(stats):
        killed, survived = stats[module]["killed"], stats[module]["survived"]
        total_killed, total_survived = total_killed + killed, total_survived + survived
        score = 100.0 * killed / (killed + survived) if killed + survived else 100.0
        print(f"{module:<40} {killed:>7} {survived:>9} {score:>6.1f}%")
    total = total_killed + total_survived
    score = 100.0 * total_killed / total if total else 100.0
    print(f"{'total':<40} {total_killed:>7} {total_survived:>9} {score:>6.1f}%")
    print(f"({excluded} mutants in lab-facing code out of scope: {', '.join(p.rstrip('_ǁ') for p in EXCLUDED)})")
    if survivors:
        print(f"\n{len(survivors)} surviving mutants (`mutmut show NAME` shows the change):")
        for name, status in survivors:
            print(f"  {name}: {status}")
    ok = score >= args.threshold
    print(f"\nmutation score {score:.1f}% ({total_survived} surviving of {total}): "
          + ("ok" if ok else f"below the {args.threshold:.0f}% the issue asks for"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

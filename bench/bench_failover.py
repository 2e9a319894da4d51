"""Failover outage per direction for a node kill / outside link down on the active gateway, across HSRP
timers and redundancy modes (stateful and stateless side by side).

Prints one line per run (a figure, not a test): outage in each direction, lost packets, convergence time,
IKE SA preserved, CHILD SA outcome. Brings the lab up per configuration and down at the end.

    .venv/bin/python bench/bench_failover.py                       # all timers x faults x modes
    .venv/bin/python bench/bench_failover.py --timers 100ms/300ms --modes stateful --topology /tmp/x.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labctl.experiment.failover import failover
from labctl.lab import load, open_lab, up
from labctl.model.topology import parse_duration_ms
from labctl.runtime.docker.client import get_client
from labctl.runtime.docker.engine import DockerEngine

ROOT = Path(__file__).resolve().parents[1]
TIMERS = ("3s/10s", "1s/3s", "100ms/300ms")
MODES = ("stateful", "stateless")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default=str(ROOT / "topologies" / "dual-interface.yaml"))
    parser.add_argument("--timers", nargs="+", default=list(TIMERS), help="hello/hold pairs, e.g. 1s/3s")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--faults", nargs="+", default=["node-kill", "link-down"],
                        help="faults to inject (link-down takes the outside link)")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--json", action="store_true", help="one JSON object per run instead of a table")
    args = parser.parse_args()
    client = get_client()
    lab = load(args.topology).name
    if not args.json:
        print(f"{'mode':9} {'hello/hold':12} {'fault':10} {'in->out ms':>10} {'out->in ms':>10} {'lost':>6} "
              f"{'converge ms':>11} {'IKE kept':>8} {'child':>12} verdict  target (stateful: hold + 50 ms)")
    try:
        for timers in args.timers:
            for fault in args.faults:
                for mode in args.modes:
                    hello, hold = timers.split("/")
                    DockerEngine(client).down(lab)
                    up(args.topology, timeout=180, engine=DockerEngine(client),
                                   overrides={"redundancy": mode, "hello": hello, "hold": hold})
                    verdict = failover(open_lab(DockerEngine(client).lab(lab)), fault,
                                       link="outside" if fault == "link-down" else None, rate=args.rate, recover=False)
                    if args.json:
                        row = verdict.to_dict()
                        row.pop("probe")
                        print(json.dumps({"timers": timers, **row}), flush=True)
                        continue
                    a, b = list(verdict.outage_ms.values())
                    target = parse_duration_ms(hold) + 50
                    met = "-" if mode != "stateful" else f"<= {target} ms " + ("met" if max(a, b) <= target else
                                                                               "MISSED")
                    print(f"{mode:9} {timers:12} {fault:10} {a:10.0f} {b:10.0f} {verdict.lost_packets:6d} "
                          f"{verdict.converge_ms or float('nan'):11.0f} {str(verdict.ike_sa_preserved):>8} "
                          f"{verdict.child_sa:>12} {verdict.verdict:7}  {met}", flush=True)
    finally:
        DockerEngine(client).down(lab)
    return 0


if __name__ == "__main__":
    sys.exit(main())

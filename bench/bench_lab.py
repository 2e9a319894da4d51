"""`up` (to "tunnel passes traffic") and `down` times per topology, with images cached.

Targets from the foundation issue (2-core machine): dual-interface up <= 5 s, down <= 2 s. Prints figures;
it is not a test and asserts nothing.

    .venv/bin/python bench/bench_lab.py                          # dual-interface, 3 rounds
    .venv/bin/python bench/bench_lab.py --rounds 5 topologies/*.yaml
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from labctl.lab import load, up
from labctl.runtime.docker import images
from labctl.runtime.docker.client import get_client
from labctl.runtime.docker.engine import DockerEngine

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topologies", nargs="*", default=[str(ROOT / "topologies" / "dual-interface.yaml")])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    client = get_client()
    images.ensure_images(client)  # cached images: building is measured by bench_images.py
    print(f"{'topology':28} {'round':>5} {'up s':>7} {'tunnel s':>9} {'down s':>7}")
    for path in args.topologies:
        lab = load(path).name
        DockerEngine(client).down(lab)
        ups, downs = [], []
        for round_no in range(1, args.rounds + 1):
            result = up(path, engine=DockerEngine(client))
            tunnel = next((t for stage, t in result.stages.items() if stage.startswith("ping")), float("nan"))
            started = time.monotonic()
            DockerEngine(client).down(lab)
            down_s = time.monotonic() - started
            ups.append(result.seconds)
            downs.append(down_s)
            print(f"{Path(path).name:28} {round_no:5} {result.seconds:7.2f} {tunnel:9.2f} {down_s:7.2f}")
        up_s, down_s = statistics.median(ups), statistics.median(downs)
        print(f"{Path(path).name:28} {'median':>5} {up_s:7.2f} {'':9} {down_s:7.2f}")


if __name__ == "__main__":
    main()

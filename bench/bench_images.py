"""How long image builds take: cold base (--cold, about two minutes), node/host rebuilds, a no-op ensure.

    .venv/bin/python bench/bench_images.py [--cold] [-v]

Rebuilds the shared labctl images in place (running containers keep their old image).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker

from labctl.runtime.docker import images


def timed(label: str, run: Callable[[], images.Ensured]) -> None:
    start = time.monotonic()
    result = run()
    print(f"{label:<44} {time.monotonic() - start:7.2f} s   built: {', '.join(result.built) or 'nothing'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="also rebuild the base from scratch (slow)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print build progress")
    args = parser.parse_args()
    client = docker.from_env()

    def progress(kind: str, message: str) -> None:
        if args.verbose or message.startswith(("built ", "cannot pull")):
            print(f"    {kind}: {message}")

    def ensure(**kwargs: object) -> images.Ensured:
        return images.ensure_images(client, progress, **kwargs)  # type: ignore[arg-type]

    timed("ensure (whatever is missing or stale)", ensure)
    if args.cold:
        timed("cold: base + node + host, no cache", lambda: ensure(force=True))
    timed("node + host rebuild, no cache", lambda: ensure(force={"node", "host"}))
    with tempfile.TemporaryDirectory(prefix="labctl-bench-") as tmp:
        root = Path(tmp)
        shutil.copytree(images.REPO_ROOT / "images", root / "images")
        shutil.copytree(images.REPO_ROOT / "labctl", root / "labctl")
        with open(root / "labctl/sidecar/__init__.py", "a") as f:
            f.write(f"# bench {time.time()}\n")
        timed("node + host after a sidecar change (cached)", lambda: ensure(root=root))
    timed("node + host back to the real sources", ensure)
    timed("no-op ensure", ensure)


if __name__ == "__main__":
    main()

"""A Docker engine of a test's or a bench's own, on this machine: its own socket, data root, exec root,
pidfile, containerd and default bridge, so a second engine can be reached without a second machine.

Care for the shared engine: a dockerd started with `--bridge=none` deletes the host's `docker0` (moby's
removeDefaultBridgeInterface), and one that manages iptables flushes the DOCKER and DOCKER-ISOLATION chains at
start; both would break the engine everyone else uses. So this one gets its own bridge and --iptables=false:
the shared engine already set FORWARD to DROP, so its labs pass routed traffic only through the DOCKER-USER
rules labctl's firewall helper adds.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=120)


def start(where: Path, bridge: str, address: str, group: str | None = None,
          timeout: float = 90.0) -> tuple[subprocess.Popen[bytes], Path]:
    """Start the dockerd under `where` (made here) on a new bridge `bridge` with `address`; returns the process
    and its socket once `docker info` answers on it."""
    for sub in ("data", "exec"):
        (where / sub).mkdir(parents=True)
    (where / "daemon.json").write_text("{}")  # not the host's /etc/docker/daemon.json
    _run("ip", "link", "add", bridge, "type", "bridge")
    _run("ip", "addr", "add", address, "dev", bridge)
    _run("ip", "link", "set", bridge, "up")
    sock = where / "docker.sock"
    proc = subprocess.Popen(
        [DOCKERD, "--config-file", str(where / "daemon.json"), "--host", f"unix://{sock}", "--data-root",
         str(where / "data"), "--exec-root", str(where / "exec"), "--pidfile", str(where / "docker.pid"),
         *(["--group", group] if group else []), "--bridge", bridge, "--iptables=false", "--ip-forward=false",
         "--ip-masq=false", "--storage-driver", "fuse-overlayfs", "--mtu", "1400"],
        stdout=subprocess.DEVNULL, stderr=open(where / "log", "wb"))  # noqa: SIM115
    deadline = time.monotonic() + timeout
    while not (sock.exists() and _run("docker", "-H", f"unix://{sock}", "info", check=False).returncode == 0):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the dockerd in {where} did not come up: {(where / 'log').read_text()[-2000:]}")
        time.sleep(0.2)
    return proc, sock


def stop(procs: list[subprocess.Popen[bytes]], base: Path, bridges: list[str]) -> None:
    """Stop the processes, unmount what a dockerd left under `base`, delete the bridges."""
    for proc in reversed(procs):
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    with open("/proc/self/mounts") as mounts:  # fuse-overlayfs mounts a dockerd may have left
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{base}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    for bridge in bridges:
        _run("ip", "link", "del", bridge, check=False)


@contextlib.contextmanager
def own_engine(bridge: str = "lb2br0", address: str = "10.97.255.1/24") -> Iterator[str]:
    """A second engine for as long as the block runs; yields its unix:// URL; removes everything after."""
    base = Path(tempfile.mkdtemp(prefix="labctl-engine-", dir="/tmp"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, sock = start(base / "engine", bridge, address)
        procs.append(proc)
        yield f"unix://{sock}"
    finally:
        stop(procs, base, [bridge])
        shutil.rmtree(base, ignore_errors=True)

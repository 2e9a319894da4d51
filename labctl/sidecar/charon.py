"""Supervise charon inside a gateway container and drive its ha plugin through the FIFO."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

CHARON = "/usr/lib/ipsec/charon"
HA_FIFO = Path("/var/run/charon.ha")
VICI = Path("/var/run/charon.vici")
STALE = ("/var/run/charon.vici", "/var/run/charon.pid", "/var/run/charon.ctl", "/var/run/charon.ha")


def kill_leftover() -> None:
    """A charon left by a crashed sidecar would fight the new one for the sockets: reload cleanly."""
    try:
        pid = int(Path("/var/run/charon.pid").read_text().strip())
        os.kill(pid, 9)
        time.sleep(0.05)
    except (OSError, ValueError):
        pass


class Charon:
    """Start charon, load swanctl.conf, notice when it dies (charon crash fault)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 5.0) -> bool:
        kill_leftover()
        for stale in STALE:
            Path(stale).unlink(missing_ok=True)
        self.process = subprocess.Popen([CHARON], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not VICI.exists():
            time.sleep(0.02)
        loaded = subprocess.run(["swanctl", "--load-all", "--noprompt"], capture_output=True, check=False)
        return loaded.returncode == 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ha_command(self, command: str) -> bool:
        """Write one ha plugin command (`+1`, `-1`, `*1`): the plugin reads one per open of the FIFO."""
        if not HA_FIFO.exists():
            return False
        try:
            fd = os.open(HA_FIFO, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            os.write(fd, command.encode())
        finally:
            os.close(fd)
        return True

    def kill(self) -> None:
        """SIGKILL: a reload must not let charon shut down cleanly, which would send DELETEs for its
        (possibly still ESTABLISHED) SAs to the peer and, through the ha plugin, to the new active."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def stop(self) -> None:
        if self.running and self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()

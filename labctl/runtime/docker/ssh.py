"""SSH channels bounded by a permit each (paramiko, the `remote` extra): imported only for ssh:// engines,
so labctl without paramiko still runs against local and tcp:// engines."""

from __future__ import annotations

import contextlib
import queue
import threading
import time

from docker.transport.sshconn import SSHConnection

from labctl.errors import EnvironmentProblem


class BoundedChannel(SSHConnection):
    """An SSH channel that holds one of its transport's permits from connect to close."""

    def __init__(self, pool: object, permits: threading.BoundedSemaphore, wait: float, size: int) -> None:
        super().__init__(pool.ssh_transport, pool.timeout, pool.ssh_host)  # type: ignore[attr-defined]
        self._pool, self._permits, self._held = pool, permits, False
        self._wait, self._size = wait, size

    def connect(self) -> None:
        deadline = time.monotonic() + self._wait
        while not self._permits.acquire(timeout=0.1):
            _close_one_idle(self._pool)
            if time.monotonic() > deadline:
                raise EnvironmentProblem(f"no free SSH channel in {self._wait:.0f}s ({self._size} in use)")
        self._held = True
        try:
            super().connect()
        except BaseException:
            self._release()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._held:
            self._held = False
            self._permits.release()

    def __del__(self) -> None:  # a stream nobody closed: its channel dies with it
        self._release()


def _close_one_idle(pool: object) -> None:
    """Close one idle pooled connection (its slot keeps a placeholder), freeing its channel's permit."""
    slots = getattr(pool, "pool", None)
    if slots is None:
        return
    items = []
    with contextlib.suppress(queue.Empty):
        while True:
            items.append(slots.get_nowait())
    victim = next((item for item in items if item is not None), None)
    for item in items:
        with contextlib.suppress(queue.Full):
            slots.put_nowait(None if item is victim else item)
    if victim is not None:
        victim.close()

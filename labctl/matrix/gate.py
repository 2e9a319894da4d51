"""Measurement hygiene for parallel cells: no lab is created or removed while another cell measures.

Creating and removing a lab (containers, networks, charon start-up) is the heaviest load a matrix puts on
its engine; on a small machine it starves the userspace ESP of the labs being measured and shows up in
their verdicts as outage and loss that the failover did not cause. The gate lets any number of cells
measure at once, or any number set up / tear down at once, never both. Whichever kind waits gets its turn
when the running batch drains (a waiting kind blocks newcomers of the other), so neither starves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Kind = Literal["measure", "churn"]


class QuietGate:
    """Two kinds of holders that exclude each other; holders of one kind share."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holding: Kind | None = None
        self._holders = 0
        self._waiting: dict[Kind, int] = {"measure": 0, "churn": 0}
        # when a batch drains while the other kind waits, those waiters (all of them) are admitted next
        self._turn: Kind | None = None
        self._admitted = 0

    @staticmethod
    def _other(kind: Kind) -> Kind:
        return "churn" if kind == "measure" else "measure"

    def _may_enter(self, kind: Kind) -> bool:
        if self._turn is not None:
            return self._turn == kind and self._admitted > 0 and self._holding in (None, kind)
        if self._holding is None:
            return True
        return self._holding == kind and not self._waiting[self._other(kind)]

    @contextmanager
    def hold(self, kind: Kind) -> Iterator[None]:
        """Hold the gate as `kind` for the block (waits while the other kind holds it or waits for it)."""
        with self._cond:
            self._waiting[kind] += 1
            self._cond.wait_for(lambda: self._may_enter(kind))
            self._waiting[kind] -= 1
            if self._turn == kind:
                self._admitted -= 1
                if not self._admitted:
                    self._turn = None
            self._holding = kind
            self._holders += 1
        try:
            yield
        finally:
            with self._cond:
                self._holders -= 1
                if not self._holders:
                    self._holding = None
                    other = self._other(kind)
                    if self._waiting[other]:
                        self._turn, self._admitted = other, self._waiting[other]
                self._cond.notify_all()

    def state(self) -> tuple[Kind | None, int, dict[Kind, int]]:
        """Who holds the gate, how many, and how many wait of each kind (for tests and progress)."""
        with self._cond:
            return self._holding, self._holders, dict(self._waiting)


class OpenGate(QuietGate):
    """A gate that never waits: a single job (nothing to keep apart)."""

    @contextmanager
    def hold(self, kind: Kind) -> Iterator[None]:
        yield


def gates_by_host(hosts: list[str], jobs: int, groups: int) -> list[QuietGate]:
    """The gate of each engine (given the host each runs on): engines on one host share one gate, since what it
    keeps out of the measurements is load on the host's CPUs, whichever dockerd causes it (two engines of one
    host at `--jobs 1` each overlapped one lab's start with the other's measurement: Easy VPN cells lost 1-4 %).
    A host where at most one lab runs at a time needs no gate."""
    shared: dict[str, QuietGate] = {}
    for host in dict.fromkeys(hosts):
        labs_at_once = min(jobs * hosts.count(host), groups)
        shared[host] = QuietGate() if labs_at_once > 1 else OpenGate()
    return [shared[host] for host in hosts]

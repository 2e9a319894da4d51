"""Which cell a matrix worker runs next: the exclusive groups (`model.exclusive_groups`: same lab name or
overlapping subnets) clash on one engine only, so each group runs at most one cell per engine at a time, and
a large group is shared out over several engines instead of holding one of them to the end (the default
matrix's `dual` group is over a third of its cells). Largest groups first. Threads only: no Docker here."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class CellQueue(Generic[T]):
    """Hands out items of `groups` to workers of engines (`engine`: any hashable key per engine)."""

    def __init__(self, groups: Sequence[Sequence[T]]) -> None:
        self.pending = [list(group) for group in groups]
        self.busy: set[tuple[Hashable, int]] = set()  # (engine, group) running now
        self.ready = threading.Condition()

    def take(self, engine: Hashable) -> tuple[int, T] | None:
        """The next item this engine may run (its group index with it), waiting while every group with items
        left runs on this engine already; None when nothing is left at all."""
        with self.ready:
            while True:
                if not any(self.pending):
                    return None
                for index, group in enumerate(self.pending):
                    if group and (engine, index) not in self.busy:
                        self.busy.add((engine, index))
                        return index, group.pop(0)
                self.ready.wait()

    def done(self, engine: Hashable, index: int) -> None:
        """The item of group `index` finished on `engine`: the group is free there again."""
        with self.ready:
            self.busy.discard((engine, index))
            self.ready.notify_all()

    def drain(self) -> list[T]:
        """Everything not handed out yet (an interrupted run skips it)."""
        with self.ready:
            left = [item for group in self.pending for item in group]
            for group in self.pending:
                group.clear()
            self.ready.notify_all()
            return left

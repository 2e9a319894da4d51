"""Which cell a matrix worker runs next: the exclusive groups (`model.exclusive_groups`: same lab name or
overlapping subnets) clash on one engine only, so each group runs at most one cell per engine at a time, and
a large group is shared out over several engines instead of holding one of them to the end (the default
matrix's `dual` group is over a third of its cells). With a cost per cell (seconds an earlier run took, see
`durations`) the longest cell an engine may run goes first, so the long ones (the IOS-timer cells take 170 s
against 20-30 s for most) do not start last and leave one engine running alone; without, the largest group
first. Threads only: no Docker here."""

from __future__ import annotations

import json
import statistics
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class CellQueue(Generic[T]):
    """Hands out items of `groups` to workers of engines (`engine`: any hashable key per engine)."""

    def __init__(self, groups: Sequence[Sequence[T]], cost: Callable[[T], float] | None = None) -> None:
        self.cost = cost or (lambda _item: 0.0)
        self.pending = [sorted(group, key=self.cost, reverse=True) for group in groups]  # stable on ties
        self.busy: set[tuple[Hashable, int]] = set()  # (engine, group) running now
        self.ready = threading.Condition()

    def take(self, engine: Hashable) -> tuple[int, T] | None:
        """The next item this engine may run (its group index with it), waiting while every group with items
        left runs on this engine already; None when nothing is left at all."""
        with self.ready:
            while True:
                if not any(self.pending):
                    return None
                free = [index for index, group in enumerate(self.pending) if group and (engine, index) not in self.busy]
                if free:  # the longest next cell; on a tie the earlier (larger) group
                    index = max(free, key=lambda i: (self.cost(self.pending[i][0]), -i))
                    self.busy.add((engine, index))
                    return index, self.pending[index].pop(0)
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


def durations(path: Path) -> dict[str, float]:
    """Seconds each cell took in an earlier run's results.json (a whole run, a shard or a merged report), by
    cell id."""
    try:
        cells = json.loads(path.read_text()).get("cells", [])
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not a results.json of labctl matrix ({exc})") from exc
    return {c["id"]: float(c["seconds"]) for c in cells if isinstance(c, dict) and c.get("seconds") is not None
            and "id" in c}


def cost_of(known: Mapping[str, float]) -> Callable[[str], float]:
    """Cost of a cell id: its earlier duration; a cell the earlier run did not have counts as a median one."""
    default = statistics.median(known.values()) if known else 0.0
    return lambda cell_id: known.get(cell_id, default)

"""Reading a daemon's log for what went wrong last (pure): shared by the strongSwan and vpnc client kinds."""

from __future__ import annotations

import re
from collections.abc import Iterable


def last_failure(log: str, patterns: Iterable[tuple[re.Pattern[str], str]]) -> str | None:
    """The sentence of the failure pattern that matched latest in `log`; None when none matched."""
    best: tuple[int, str] | None = None
    for pattern, reason in patterns:
        for match in pattern.finditer(log):
            if best is None or match.start() >= best[0]:
                best = (match.start(), reason)
    return best[1] if best else None

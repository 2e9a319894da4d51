"""The `labctl` command line: thin, it parses, calls the library and prints (tables or --json).

One module per verb (up, down, status, show, failover, ...); each registers itself on `main` (cli/base.py).
"""

from __future__ import annotations

from labctl.cli import (  # noqa: F401  (importing a verb module registers the verb)
    capture,
    clear,
    debug,
    down,
    exec,
    faults,
    graph,
    images,
    logs,
    matrix,
    render,
    report,
    schema,
    show,
    status,
    up,
    validate,
    watch,
)
from labctl.cli.base import main

__all__ = ["main"]

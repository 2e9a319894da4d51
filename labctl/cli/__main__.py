"""`python -m labctl.cli` runs the CLI (tests use it to stay inside the same interpreter)."""

from labctl.cli import main

main()

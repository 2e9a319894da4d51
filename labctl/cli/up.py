"""`labctl up TOPOLOGY`: start a lab and wait until it works (idempotent)."""

from __future__ import annotations

import click

from labctl.cli.base import clean_errors, console, emit_json, main, progress_to_stderr
from labctl.model.sabotage import SABOTAGES


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
@click.option("--sabotage", multiple=True, type=click.Choice(list(SABOTAGES)),
              help="Start a known-bad variant, which a failover verdict must FAIL (repeatable): "
              + "; ".join(f"{name}: {what}" for name, what in SABOTAGES.items()) + ".")
@click.option("--redundancy", type=click.Choice(["stateful", "stateless"]),
              help="Override the topology's redundancy mode.")
@click.option("--hello", metavar="DURATION", help="Override the HSRP hello time (e.g. 100ms, 3s).")
@click.option("--hold", metavar="DURATION", help="Override the HSRP hold time (e.g. 300ms, 10s).")
@click.option("--timeout", default=90.0, show_default=True,
              help="Seconds to wait for the lab to be ready (beyond the topology's own start delay, "
              "`standby delay reload`).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@clean_errors
def up(topology: str, sabotage: tuple[str, ...], redundancy: str | None, hello: str | None, hold: str | None,
       timeout: float, as_json: bool) -> None:
    """Start the lab described by TOPOLOGY and wait until the tunnel passes traffic (idempotent)."""
    from labctl import lab

    with progress_to_stderr(f"starting {topology}", quiet=as_json) as progress:
        overrides = {"redundancy": redundancy, "hello": hello, "hold": hold}
        result = lab.up(topology, sabotage, timeout, progress, overrides=overrides)
    if as_json:
        emit_json({"lab": result.lab, "seconds": round(result.seconds, 3), "stages": result.stages})
    else:
        console.print(f"lab [bold]{result.lab}[/] is up in {result.seconds:.2f}s — "
                      f"`labctl status {result.lab}` to look, `labctl down {result.lab}` to remove")

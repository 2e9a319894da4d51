"""`labctl render TOPOLOGY`: the exact files each node runs with, or the lab as a compose file."""

from __future__ import annotations

from pathlib import Path

import click

from labctl.cli.base import clean_errors, console, err_console, main


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(), help="Directory to write each node's files into "
              "[default: out/rendered]; with --compose the compose file [default: stdout].")
@click.option("--sabotage", multiple=True, metavar="VARIANT", help="Render a known-bad variant.")
@click.option("--compose", is_flag=True, help="Write the lab as one docker-compose file instead "
              "(same containers, networks and labels as `up`; `docker-compose up -d` starts it).")
@clean_errors
def render(topology: str, out_dir: str | None, sabotage: tuple[str, ...], compose: bool) -> None:
    """Write the exact files each node runs with (strongswan.conf, swanctl.conf, sidecar config)."""
    from labctl.lab import load
    from labctl.render import render_lab, write_rendered

    topo = load(topology)
    if compose:
        from labctl.render.compose import render_compose

        text = render_compose(topo, topology, sabotage)
        if out_dir:
            Path(out_dir).write_text(text)
            err_console.print(f"wrote {out_dir}: `docker-compose -f {out_dir} up -d` starts lab {topo.name}")
        else:
            click.echo(text, nl=False)
        return
    out_dir = out_dir or "out/rendered"
    written = write_rendered(render_lab(topo, str(Path(topology).resolve()), sabotage), Path(out_dir))
    for path in written:
        console.print(str(path), highlight=False)

"""`labctl images build|ls`: the node/host images (content-hashed; offline debootstrap base)."""

from __future__ import annotations

import click
from rich.table import Table

from labctl.cli.base import clean_errors, console, emit_json, main, progress_to_stderr


@main.group()
def images() -> None:
    """Build and inspect the node/host images (offline debootstrap base when no registry)."""

@images.command("build")
@click.option("--force", is_flag=True, help="Rebuild even when the content hash is unchanged.")
@click.option("--from", "sources", multiple=True, metavar="URL",
              help="Another engine to copy missing images from (docker save | load) when it has the same ones.")
@clean_errors
def images_build(force: bool, sources: tuple[str, ...]) -> None:
    """Build what is missing or out of date (or transfer it from --from engines)."""
    from labctl.lab import connect

    with progress_to_stderr("checking images") as progress:
        result = connect().ensure_images(lambda kind, msg: progress(f"{kind}: {msg}"), force=force,
                                         sources=[connect(url) for url in sources])
    built = set(getattr(result, "built", []))
    table = Table("image", "id", "this run", box=None)
    for kind, image_id in result.items():
        table.add_row(kind, str(image_id).removeprefix("sha256:")[:12],
                      "built or transferred" if kind in built else "up to date")
    console.print(table)

@images.command("ls")
@click.option("--json", "as_json", is_flag=True)
@clean_errors
def images_ls(as_json: bool) -> None:
    """Show the images, whether present and up to date."""
    from labctl.lab import connect

    rows = connect().image_status()
    if as_json:
        emit_json(rows)
        return
    table = Table(*(rows[0].keys() if rows else ["kind"]))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@images.command("rm")
@click.option("--json", "as_json", is_flag=True)
@clean_errors
def images_rm(as_json: bool) -> None:
    """Remove every labctl image (node, host, base and superseded ones); labs using them must be down."""
    from labctl.lab import connect

    removed = connect().remove_images()
    if as_json:
        emit_json({"removed": removed})
    else:
        console.print(f"removed {len(removed)} images" if removed else "no labctl images to remove")

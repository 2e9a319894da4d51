"""Lab lifecycle commands: up, down, status, render, validate, images."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich import box
from rich.table import Table

from labctl.cli import _client, clean_errors, console, emit_json, err_console, main
from labctl.errors import LabctlError


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
@click.option("--sabotage", multiple=True, metavar="VARIANT",
              help="Start a known-bad variant: no-sync, no-rekey or no-rri (repeatable).")
@click.option("--redundancy", type=click.Choice(["stateful", "stateless"]),
              help="Override the topology's redundancy mode.")
@click.option("--hello", metavar="DURATION", help="Override the HSRP hello time (e.g. 100ms, 3s).")
@click.option("--hold", metavar="DURATION", help="Override the HSRP hold time (e.g. 300ms, 10s).")
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for the lab to be ready.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@clean_errors
def up(topology: str, sabotage: tuple[str, ...], redundancy: str | None, hello: str | None, hold: str | None,
       timeout: float, as_json: bool) -> None:
    """Start the lab described by TOPOLOGY and wait until the tunnel passes traffic (idempotent)."""
    from labctl import orchestrate

    with err_console.status("starting lab…") as status:
        def progress(message: str) -> None:
            status.update(message)
            if not as_json and (message.startswith("ready:") or " built " in f" {message} "
                                or "up to date" in message):
                err_console.log(message)

        overrides = {"redundancy": redundancy, "hello": hello, "hold": hold}
        result = orchestrate.up(topology, sabotage, timeout, progress, overrides=overrides)
    if as_json:
        emit_json({"lab": result.lab, "seconds": round(result.seconds, 3), "stages": result.stages})
    else:
        console.print(f"lab [bold]{result.lab}[/] is up in {result.seconds:.2f}s — "
                      f"`labctl status {result.lab}` to look, `labctl down {result.lab}` to remove")


@main.command()
@click.argument("lab_or_topology")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
@clean_errors
def down(lab_or_topology: str, as_json: bool) -> None:
    """Remove every container, network and firewall rule of a lab (found by label; idempotent)."""
    from labctl import orchestrate
    from labctl.runtime.docker import lab as runtime

    client = _client()
    lab = orchestrate.resolve_lab(client, lab_or_topology)
    started = time.monotonic()
    removed = runtime.down(client, lab)
    removed_s = round(time.monotonic() - started, 3)
    if as_json:
        emit_json({"lab": lab, "removed": removed, "seconds": removed_s})
    else:
        console.print(f"lab [bold]{lab}[/]: removed {removed['containers']} containers, {removed['networks']} "
                      f"networks, {removed['firewall_rules']} firewall rules in {removed_s:.2f}s")


@main.command()
@click.argument("lab_or_topology", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print status as JSON.")
@clean_errors
def status(lab_or_topology: str | None, as_json: bool) -> None:
    """Show nodes, roles, HSRP/redundancy state and live SAs (all labs when LAB is omitted)."""
    from labctl import orchestrate
    from labctl.runtime.docker import lab as runtime
    from labctl.status import lab_status

    client = _client()
    if lab_or_topology is None:
        labs = runtime.list_labs(client)
        if as_json:
            emit_json([{"lab": name, **info} for name, info in labs.items()])
            return
        table = Table("lab", "nodes", "topology", title="labs")
        for name, info in sorted(labs.items()):
            table.add_row(name, info["nodes"], info["topology"])
        console.print(table if labs else "no labs running")
        return
    lab = orchestrate.resolve_lab(client, lab_or_topology)
    data = lab_status(client, lab)
    if not data["nodes"]:
        raise LabctlError(f"no lab named {lab} is running (`labctl status` lists labs)")
    if as_json:
        emit_json(data)
        return
    from labctl.show import STATUS_COLUMNS, status_rows

    table = Table(*STATUS_COLUMNS, title=f"lab {lab}", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True)
    for row in status_rows(data):
        table.add_row(*row)
    console.print(table)
    if data.get("easyvpn_clients"):
        clients = Table("client", "user", "virtual IP", "state", "IKE SA (SPIs)", "reason", title="Easy VPN clients",
                        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for c in data["easyvpn_clients"]:
            if "error" in c:
                console.print(c["error"])
                continue
            sa = c.get("ike_sa") or {}
            spis = f"{sa.get('initiator_spi', '')[:8]}/{sa.get('responder_spi', '')[:8]}" if sa else "-"
            state = c["state"] + (" (expected to fail)" if c.get("expect_failure") else "")
            clients.add_row(c["name"], c["user"], c.get("virtual_ip") or "-", state, spis, c.get("reason") or "")
        console.print(clients)


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
    from labctl import orchestrate
    from labctl.render import render_lab, write_rendered

    topo = orchestrate.load(topology, check_host=False)
    if compose:
        from labctl.compose import render_compose

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


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
@clean_errors
def validate(topology: str) -> None:
    """Check a topology file (schema, addressing, overlap with this host's routes) without starting it."""
    from labctl import orchestrate

    topo = orchestrate.load(topology)
    console.print(f"{topology}: lab [bold]{topo.name}[/] is valid ({len(topo.node_names())} nodes, "
                  f"{len(topo.networks)} networks, {topo.redundancy})")


@main.group()
def images() -> None:
    """Build and inspect the node/host images (offline debootstrap base when no registry)."""


@images.command("build")
@click.option("--force", is_flag=True, help="Rebuild even when the content hash is unchanged.")
@clean_errors
def images_build(force: bool) -> None:
    """Build what is missing or out of date."""
    from labctl.runtime.docker import images as image_mod

    with err_console.status("checking images…") as status:
        result = image_mod.ensure_images(_client(), progress=lambda kind, msg: status.update(f"{kind}: {msg}"),
                                         force=force)
    console.print(result)


@images.command("ls")
@click.option("--json", "as_json", is_flag=True)
@clean_errors
def images_ls(as_json: bool) -> None:
    """Show the images, whether present and up to date."""
    from labctl.runtime.docker import images as image_mod

    rows = image_mod.image_status(_client())
    if as_json:
        emit_json(rows)
        return
    table = Table(*(rows[0].keys() if rows else ["kind"]))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)

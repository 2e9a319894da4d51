"""`labctl clear LAB NODE crypto isakmp|sa|session [active|standby]`: delete SAs on one node (IOS `clear crypto`)."""

from __future__ import annotations

import click

from labctl.cli.base import clean_errors, emit_json, main

_EPILOG = """\b
WHAT (IOS words; unique prefixes work, e.g. `cry sess stand`):
  crypto sa [active|standby]        IPsec (CHILD) SAs
  crypto isakmp [active|standby]    IKE SAs (strongSwan deletes their CHILD SAs with them)
  crypto session [active|standby]   CHILD SAs first, then the IKE SAs
active = the SAs this node drives; standby = the ha-synced (PASSIVE) copies, destroyed locally.
A synced CHILD SA cannot be deleted on its own (charon refuses): `clear ... sa standby` says so.
Then watch the peer: `labctl show LAB peer crypto isakmp sa`.
"""


@main.command(epilog=_EPILOG)
@click.argument("lab_or_topology")
@click.argument("node")
@click.argument("what", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print what was cleared as JSON.")
@clean_errors
def clear(lab_or_topology: str, node: str, what: tuple[str, ...], as_json: bool) -> None:
    """Really delete IKE/IPsec SAs on NODE, like IOS `clear crypto ...` (e.g. `labctl clear dual gw1 crypto sa`)."""
    from labctl.lab import connect, resolve_lab
    from labctl.lab.inspect import clear as clear_sas
    from labctl.views import clear as clear_view

    kind, which = clear_view.parse(what)  # bad words fail before touching Docker
    lab = resolve_lab(lab_or_topology)
    actions = clear_sas(connect().lab(lab), node, kind, which)
    if as_json:
        emit_json({"lab": lab, "node": node, "command": f"clear crypto {kind}" + (f" {which}" if which else ""),
                   "actions": [{k: v for k, v in a.items() if k != "output"} for a in actions],
                   "cleared": sum(1 for a in actions if a.get("cleared")),
                   "not_cleared": sum(1 for a in actions if not a.get("cleared"))})
    else:
        click.echo(clear_view.render(node, kind, which, actions), nl=False)

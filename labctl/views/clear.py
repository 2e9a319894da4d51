"""`clear crypto isakmp|sa|session [active|standby]`: which SAs to delete, how, and the report (pure).

The guide's semantics on strongSwan: `sa` deletes the IPsec (CHILD) SAs, `isakmp` the IKE SAs (strongSwan
cannot keep CHILD_SAs without their IKE_SA, so they go too), `session` the CHILD SAs first, then the IKE SAs.
`active` selects the SAs this node drives (ESTABLISHED), `standby` the ha-synced copies (PASSIVE).

What charon can do with a PASSIVE copy (strongSwan ike_sa.c): `delete` of a PASSIVE IKE_SA destroys it at once,
locally, without a DELETE to the peer; `delete_child_sa` of a CHILD_SA under a PASSIVE IKE_SA returns
INVALID_STATE. So on the standby, `clear crypto isakmp|session standby` removes the synced copy (the Active
and the peer keep their SA; the standby holds no copy until the next rekey or resync), while
`clear crypto sa standby` cannot delete a synced CHILD_SA alone and says so instead of pretending.
"""

from __future__ import annotations

from typing import Any

from labctl.errors import LabctlError

WHAT = ("isakmp", "sa", "session")
WHICH = ("active", "standby")

PASSIVE_CHILD = ("charon refuses to delete a CHILD_SA of a PASSIVE (ha-synced) IKE_SA on its own "
                 "(INVALID_STATE); `clear crypto session standby` removes the whole synced copy")


def parse(words: tuple[str, ...] | list[str]) -> tuple[str, str | None]:
    """`('crypto', 'sess', 'stand')` -> ('session', 'standby'); IOS unique prefixes."""
    def pick(word: str, options: tuple[str, ...], what: str) -> str:
        found = [o for o in options if o.startswith(word.lower())]
        if word.lower() in options:
            return word.lower()
        if len(found) != 1:
            raise LabctlError(f"clear crypto: {'ambiguous' if found else 'unknown'} {what} `{word}`; "
                              "use: clear crypto isakmp|sa|session [active|standby]")
        return found[0]

    words = list(words)
    if not words or not "crypto".startswith(words[0].lower()) or len(words) < 2 or len(words) > 3:
        raise LabctlError("use: clear crypto isakmp|sa|session [active|standby]")
    what = pick(words[1], WHAT, "word")
    which = pick(words[2], WHICH, "qualifier") if len(words) == 3 else None
    return what, which


def _status(sa: dict[str, Any]) -> str:
    return {"ESTABLISHED": "active", "REKEYING": "active", "PASSIVE": "standby"}.get(sa.get("state") or "", "other")


def plan(sas: list[dict[str, Any]], what: str, which: str | None) -> list[dict[str, Any]]:
    """The actions, in order: {kind: child|ike, id, name, force, peer, spi_in/spi_out or spis, skip (reason)}."""
    chosen = [sa for sa in sas if which is None or _status(sa) == which]
    children, ikes = [], []
    for sa in chosen:
        passive = sa.get("state") == "PASSIVE"
        if what in ("sa", "session"):
            for child in sa["child_sas"]:
                children.append({"kind": "child", "id": child.get("uniqueid"), "name": child.get("name"),
                                 "peer": sa.get("remote_host"), "ike_id": sa.get("uniqueid"),
                                 "spi_in": child.get("spi_in"), "spi_out": child.get("spi_out"), "force": False,
                                 # in a session the passive IKE_SA's destruction takes its CHILD_SAs with it
                                 "skip": (PASSIVE_CHILD if what == "sa" else "removed with its IKE_SA")
                                 if passive else None})
        if what in ("isakmp", "session"):
            ikes.append({"kind": "ike", "id": sa.get("uniqueid"), "name": sa.get("name"),
                         "peer": sa.get("remote_host"), "state": sa.get("state"), "force": passive,
                         "spis": f"{sa.get('initiator_spi')}_i {sa.get('responder_spi')}_r",
                         "children": len(sa["child_sas"]), "skip": None})
    return children + ikes


def outcome(actions: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark each executed action `cleared` only if its SA is gone from a fresh `--list-sas` (never the word
    of swanctl alone)."""
    ike_ids = {sa.get("uniqueid") for sa in after}
    child_keys = {(c.get("uniqueid"), c.get("spi_in")) for sa in after for c in sa["child_sas"]}
    for action in actions:
        if action.get("skip"):
            action["cleared"] = False
        elif action["kind"] == "ike":
            action["cleared"] = action["id"] not in ike_ids
        else:
            action["cleared"] = (action["id"], action["spi_in"]) not in child_keys
    return actions


def render(node: str, what: str, which: str | None, actions: list[dict[str, Any]]) -> str:
    said = f"clear crypto {what}" + (f" {which}" if which else "")
    lines = [f"{node}# {said}"]
    if not actions:
        kind = {"standby": "synced (PASSIVE) ", "active": "active "}.get(which or "", "")
        lines.append(f"! nothing to clear: no {kind}SA on {node}")
    for a in actions:
        if a["kind"] == "child":
            head = (f"IPsec SA {a['name']}{{{a['id']}}} with {a['peer']} "
                    f"(spi in 0x{(a['spi_in'] or '0').upper()}, out 0x{(a['spi_out'] or '0').upper()})")
        else:
            head = (f"IKE SA {a['name']}[{a['id']}] with {a['peer']} ({a['spis']}, {a['state']}"
                    + (f", {a['children']} CHILD_SA{'s' if a['children'] != 1 else ''}" if a["children"] else "")
                    + ")")
        if a.get("skip"):
            lines.append(f"! not cleared: {head}: {a['skip']}")
        elif a.get("cleared"):
            how = " (synced copy destroyed locally; the peer is not told)" if a.get("force") else ""
            lines.append(f"cleared {head}{how}")
        else:
            error = (a.get("output") or "").strip().splitlines()
            lines.append(f"! NOT cleared: {head}: still listed by charon"
                         + (f" ({error[-1]})" if error else ""))
    if what == "isakmp" and any(a["kind"] == "ike" and a.get("children") and a.get("cleared") for a in actions):
        lines.append("! labctl: strongSwan deletes an IKE SA's CHILD SAs with it (IOS would keep the IPsec SAs)")
    if any(a.get("cleared") and not a.get("force") for a in actions):
        lines.append("! the peer was sent a DELETE; `show crypto isakmp sa` on it shows what it does next")
    if any(a.get("cleared") and a.get("force") for a in actions):
        lines.append("! the standby holds no copy of these SAs until the Active rekeys or resyncs them")
    return "\n".join(lines) + "\n"

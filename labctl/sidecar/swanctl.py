"""Read live IKE/CHILD SA state from charon via `swanctl --list-sas --pretty` (stdlib only).

Used inside the gateway containers by the sidecar and on the host (through `docker exec`) by
`labctl status`: both read the daemon, never the rendered config.
"""

from __future__ import annotations

import subprocess
from typing import Any

SWANCTL = "swanctl"


def parse_pretty(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse vici's pretty dump (`name {`, `key = value`, `key = [`, items, `]`, `}`) into sections."""
    top: list[tuple[str, dict[str, Any]]] = []
    stack: list[dict[str, Any] | list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.endswith(" {") or line == "{":
            section: dict[str, Any] = {}
            name = line[:-1].strip()
            if not stack:
                top.append((name, section))
            elif isinstance(stack[-1], dict):
                stack[-1][name] = section
            stack.append(section)
        elif line in ("}", "]"):
            if stack:
                stack.pop()
        elif line.endswith(" = ["):
            items: list[str] = []
            if stack and isinstance(stack[-1], dict):
                stack[-1][line[: -len(" = [")]] = items
            stack.append(items)
        elif stack and isinstance(stack[-1], list):
            stack[-1].append(line)
        elif stack and " = " in line:
            key, value = line.split(" = ", 1)
            stack[-1][key] = value  # type: ignore[index]
    return top


# which vici keys each SA dict takes, by kind of value (vici spells `spi_in` as `spi-in`)
CHILD_FIELDS = {
    "text": ("uniqueid", "reqid", "state", "mode", "protocol", "spi_in", "spi_out", "encr_alg", "encr_keysize",
             "integ_alg"),
    "count": ("bytes_in", "bytes_out", "packets_in", "packets_out", "install_time", "rekey_time", "life_time"),
    "list": ("local_ts", "remote_ts"),
    "flag": ("encap",),
}
IKE_FIELDS = {
    "text": ("uniqueid", "version", "state", "local_host", "local_port", "remote_host", "remote_port", "local_id",
             "remote_id", "initiator_spi", "responder_spi", "encr_alg", "encr_keysize", "integ_alg", "dh_group"),
    "count": ("established", "rekey_time"),
    "list": ("remote_vips", "local_vips"),
    "flag": ("initiator",),
}


def _fields(raw: dict[str, Any], fields: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    def get(key: str, default: Any = None) -> Any:
        return raw.get(key.replace("_", "-"), default)

    out: dict[str, Any] = {key: get(key) for key in fields["text"]}
    out |= {key: int(get(key, 0) or 0) for key in fields["count"]}
    out |= {key: list(get(key, [])) for key in fields["list"]}
    out |= {key: get(key) == "yes" for key in fields["flag"]}
    return out


def _child(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    return {"name": raw.get("name", name), **_fields(raw, CHILD_FIELDS)}


def ike_sas_from_text(text: str) -> list[dict[str, Any]]:
    """Flatten `--list-sas` output into IKE SA dicts, each with its CHILD SAs."""
    result = []
    for _event, body in parse_pretty(text):
        for name, raw in body.items():
            if not isinstance(raw, dict):
                continue
            children = raw.get("child-sas", {})
            result.append({"name": name, **_fields(raw, IKE_FIELDS),
                           "child_sas": [_child(n, c) for n, c in children.items() if isinstance(c, dict)]})
    return result


def list_sas(timeout: float = 3.0) -> list[dict[str, Any]]:
    """IKE SAs of the local charon; empty when charon is not answering."""
    try:
        out = subprocess.run(
            [SWANCTL, "--list-sas", "--pretty"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ike_sas_from_text(out.stdout) if out.returncode == 0 else []

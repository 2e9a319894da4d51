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


def _child(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", name),
        "uniqueid": raw.get("uniqueid"),
        "reqid": raw.get("reqid"),
        "state": raw.get("state"),
        "mode": raw.get("mode"),
        "protocol": raw.get("protocol"),
        "encap": raw.get("encap") == "yes",
        "spi_in": raw.get("spi-in"),
        "spi_out": raw.get("spi-out"),
        "bytes_in": int(raw.get("bytes-in", 0) or 0),
        "bytes_out": int(raw.get("bytes-out", 0) or 0),
        "packets_in": int(raw.get("packets-in", 0) or 0),
        "packets_out": int(raw.get("packets-out", 0) or 0),
        "install_time": int(raw.get("install-time", 0) or 0),
        "rekey_time": int(raw.get("rekey-time", 0) or 0),
        "life_time": int(raw.get("life-time", 0) or 0),
        "encr_alg": raw.get("encr-alg"),
        "encr_keysize": raw.get("encr-keysize"),
        "integ_alg": raw.get("integ-alg"),
        "local_ts": list(raw.get("local-ts", [])),
        "remote_ts": list(raw.get("remote-ts", [])),
    }


def ike_sas_from_text(text: str) -> list[dict[str, Any]]:
    """Flatten `--list-sas` output into IKE SA dicts, each with its CHILD SAs."""
    result = []
    for _event, body in parse_pretty(text):
        for name, raw in body.items():
            if not isinstance(raw, dict):
                continue
            children = raw.get("child-sas", {})
            result.append(
                {
                    "name": name,
                    "uniqueid": raw.get("uniqueid"),
                    "version": raw.get("version"),
                    "state": raw.get("state"),
                    "local_host": raw.get("local-host"),
                    "local_port": raw.get("local-port"),
                    "remote_host": raw.get("remote-host"),
                    "remote_port": raw.get("remote-port"),
                    "local_id": raw.get("local-id"),
                    "remote_id": raw.get("remote-id"),
                    "initiator": raw.get("initiator") == "yes",
                    "initiator_spi": raw.get("initiator-spi"),
                    "responder_spi": raw.get("responder-spi"),
                    "established": int(raw.get("established", 0) or 0),
                    "rekey_time": int(raw.get("rekey-time", 0) or 0),
                    "encr_alg": raw.get("encr-alg"),
                    "encr_keysize": raw.get("encr-keysize"),
                    "integ_alg": raw.get("integ-alg"),
                    "dh_group": raw.get("dh-group"),
                    "remote_vips": list(raw.get("remote-vips", [])),
                    "local_vips": list(raw.get("local-vips", [])),
                    "child_sas": [_child(n, c) for n, c in children.items() if isinstance(c, dict)],
                }
            )
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

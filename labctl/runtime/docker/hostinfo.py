"""Facts of the engine's host, asked of the engine through a helper container (host network): the routed
prefixes a lab subnet must not overlap, whether the kernel has ESP, whether the engine is privileged enough.
On a remote engine these are the remote machine's facts, never those of the machine labctl runs on."""

from __future__ import annotations

import json

import docker

from labctl.errors import EnvironmentProblem
from labctl.runtime.docker.helper import run_helper
from labctl.runtime.spec import BRIDGE_PREFIX

SCRIPT = ("ip -j -4 route; echo '#'; uname -r; test -e /proc/net/xfrm_stat && echo xfrm; "
          "test -e /sys/module/esp4 && echo esp4; test -e /dev/net/tun && echo tun; true")


def facts(client: docker.DockerClient) -> dict[str, object]:
    """{"routes": [...], "kernel": str, "esp": bool} from one helper run."""
    code, out = run_helper(client, "hostinfo", SCRIPT)
    routes_text, _, rest = out.partition("#")
    try:
        routes = json.loads(routes_text.strip() or "[]")
    except ValueError:
        routes = []
    words = rest.split()
    return {"routes": routes, "kernel": words[0] if words else "?", "esp": "xfrm" in words and "esp4" in words}


def routed_prefixes(routes: list[dict[str, object]]) -> list[str]:
    """Routed destinations except the default route and labctl's own bridges (pure)."""
    return [str(r["dst"]) for r in routes
            if r.get("dst") not in (None, "default") and not str(r.get("dev", "")).startswith(BRIDGE_PREFIX)]


def host_networks(client: docker.DockerClient) -> list[str]:
    return routed_prefixes(facts(client)["routes"])  # type: ignore[arg-type]


_esp: dict[int, bool] = {}


def kernel_has_esp(client: docker.DockerClient) -> bool:
    """Cached per client: a kernel does not grow ESP while labctl runs."""
    if id(client) not in _esp:
        _esp[id(client)] = bool(facts(client)["esp"])
    return _esp[id(client)]


def check_privileges(client: docker.DockerClient, name: str) -> None:
    """Rootless engines cannot give containers the host network's firewall or real NET_ADMIN."""
    info = client.info()
    options = " ".join(info.get("SecurityOptions") or [])
    if "rootless" in options:
        raise EnvironmentProblem(f"engine {name} is a rootless Docker: labctl's labs need a rootful engine "
                                 "(NET_ADMIN, /dev/net/tun, host-network firewall rules)")

"""Short-lived helper containers in the engine host's network namespace: the only way labctl touches the
engine's machine (firewall rules, routes, kernel facts), so a remote engine works like the local one and
nothing runs on the machine labctl itself runs on.

A helper is labelled (`labctl.helper`, and `labctl.lab` when it acts for a lab) like every other object, so
`down` finds one an interrupted run left behind.
"""

from __future__ import annotations

import contextlib
import secrets

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from labctl.errors import EnvironmentProblem
from labctl.runtime import labels
from labctl.runtime.spec import IMAGE_FOR_ROLE

IMAGE = IMAGE_FOR_ROLE["ha-gateway"]  # labctl/node has iptables, iproute2 and python3
TIMEOUT = 60


def run_helper(client: docker.DockerClient, kind: str, script: str, lab: str | None = None,
               caps: tuple[str, ...] = ()) -> tuple[int, str]:
    """Run `sh -c script` in a host-network container on the engine; (exit code, output)."""
    tags = {labels.HELPER: kind, labels.ROLE: kind, **({labels.LAB: lab, labels.NODE: kind} if lab else {})}
    name = f"labctl-helper-{kind}-{secrets.token_hex(3)}"
    try:
        container = client.containers.run(IMAGE, ["sh", "-c", script], name=name, detach=True,
                                          network_mode="host", cap_add=list(caps), labels=tags)
    except ImageNotFound:
        raise EnvironmentProblem(f"no {IMAGE} image on the engine for the {kind} helper: run `labctl images "
                                 "build`") from None
    except APIError as exc:
        raise EnvironmentProblem(f"the engine refused a {kind} helper container (host network"
                                 f"{', ' + ', '.join(caps) if caps else ''}): {exc.explanation}; labctl needs a "
                                 "rootful engine that grants these") from None
    try:
        code = int(container.wait(timeout=TIMEOUT).get("StatusCode", 1))
        return code, container.logs().decode(errors="replace")
    except DockerException as exc:
        raise EnvironmentProblem(f"the {kind} helper on the engine did not finish: {exc}") from None
    finally:
        with contextlib.suppress(NotFound, APIError):
            container.remove(force=True)


def remove_helpers(client: docker.DockerClient, lab: str) -> int:
    """Helpers of `lab` left by an interrupted run."""
    found = client.containers.list(all=True, filters={"label": [labels.HELPER, f"{labels.LAB}={lab}"]})
    for container in found:
        with contextlib.suppress(NotFound, APIError):
            container.remove(force=True)
    return len(found)

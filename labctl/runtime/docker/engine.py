"""A Docker engine as labctl uses it: lab handles, `up`/`down` of a lab's objects, images, and the facts of
the engine's host (routes, kernel ESP) asked of the engine itself, so a remote engine is judged by its own
machine and never by the one labctl runs on."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import docker

from labctl.model.topology import Topology
from labctl.runtime.docker import capture as capturing
from labctl.runtime.docker import hostinfo, images
from labctl.runtime.docker import lab as lab_objects
from labctl.runtime.docker.client import describe, engine_host, engine_scope, get_client, resolve
from labctl.runtime.docker.handle import DockerLab
from labctl.runtime.spec import NodeConfig, bridge_name


class DockerEngine:
    """One Docker engine (local socket, unix://, tcp://, ssh:// or a context): lab handles; what `up`/`down`
    need. `url` is what it was reached by (None: the local default)."""

    def __init__(self, client: docker.DockerClient, url: str | None = None) -> None:
        self.client = client
        self.url = url
        self._images: dict[str, str] | None = None  # kind -> content tag, once ensured or looked up

    @classmethod
    def connect(cls, url: str | None = None) -> DockerEngine:
        resolved = resolve(url)
        return cls(get_client(resolved), resolved)

    @property
    def name(self) -> str:
        return describe(self.url)

    @property
    def host(self) -> str:
        """The machine the engine runs on (`client.engine_host`): engines of one host share its CPUs."""
        return engine_host(self.client)

    def host_networks(self) -> list[str]:
        """Prefixes routed on the engine's host, except labctl's own bridges (asked of the engine)."""
        return hostinfo.host_networks(self.client)

    def kernel_has_esp(self) -> bool:
        """Does the engine host's kernel have ESP/XFRM (else charon uses kernel-libipsec)?"""
        return hostinfo.kernel_has_esp(self.client)

    def check_privileges(self) -> None:
        """A lab needs a rootful engine that grants NET_ADMIN, /dev/net/tun and the host network."""
        hostinfo.check_privileges(self.client, self.name)

    def lab(self, name: str) -> DockerLab:
        return DockerLab(self.client, name)

    def up(self, topo: Topology, configs: dict[str, NodeConfig], topology_file: str, sabotage: tuple[str, ...],
           progress: Callable[[str], None], overrides: dict[str, object],
           extra_labels: dict[str, str] | None = None) -> None:
        lab_objects.up(self.client, topo, configs, topology_file, sabotage, progress, overrides, extra_labels,
                       self.image_refs())

    def down(self, name: str, progress: Callable[[str], None] = lambda _m: None) -> dict[str, int]:
        return lab_objects.down(self.client, name, progress)

    def labs(self) -> dict[str, dict[str, object]]:
        return lab_objects.list_labs(self.client)

    def ensure_images(self, progress: Callable[[str, str], None], sources: Sequence[DockerEngine] = (),
                      **kwargs: object) -> object:
        """Build what is missing, or transfer it from one of `sources` (other engines) when they have it."""
        ensured = images.ensure_images(self.client, progress=progress, sources=[e.client for e in sources],
                                       **kwargs)
        self._images = dict(ensured.refs)
        return ensured

    def image_refs(self) -> dict[str, str]:
        """kind -> the image tag this checkout's labs run (looked up once when nothing was ensured)."""
        if self._images is None:
            self._images = dict(images.current_images(self.client).refs)
        return self._images

    def image_status(self) -> list[dict[str, object]]:
        return images.image_status(self.client)

    def remove_images(self) -> list[str]:
        return images.remove_images(self.client)

    def capture(self, lab: str, network: str, duration: float, packet_filter: str = "") -> bytes:
        """A pcap of the lab network's bridge (found by its link name, as `up` named it)."""
        bridge = bridge_name(lab, network, engine_scope(self.client))
        return capturing.capture(self.client, lab, bridge, duration, packet_filter, self.image_refs()["node"])

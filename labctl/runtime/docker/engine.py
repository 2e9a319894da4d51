"""A Docker engine as labctl uses it: lab handles, `up`/`down` of a lab's objects, images."""

from __future__ import annotations

from collections.abc import Callable

import docker

from labctl.model.topology import Topology
from labctl.runtime.docker import capture as capturing
from labctl.runtime.docker import images
from labctl.runtime.docker import lab as lab_objects
from labctl.runtime.docker.client import get_client
from labctl.runtime.docker.handle import DockerLab
from labctl.runtime.spec import NodeConfig, bridge_name


class DockerEngine:
    """One Docker engine (local socket, or DOCKER_HOST): makes lab handles; what `up`/`down` need."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self._images: dict[str, str] | None = None  # kind -> content tag, once ensured or looked up

    @classmethod
    def connect(cls) -> DockerEngine:
        return cls(get_client())

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

    def ensure_images(self, progress: Callable[[str, str], None], **kwargs: object) -> object:
        ensured = images.ensure_images(self.client, progress=progress, **kwargs)
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
        return capturing.capture(self.client, lab, bridge_name(lab, network), duration, packet_filter,
                                 self.image_refs()["node"])

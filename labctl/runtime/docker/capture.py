"""Packet capture on a lab bridge, from a short-lived helper container on the target engine.

The helper shares the engine host's network namespace (where the lab bridges live), so this works the same
on a remote engine; it is labelled with the lab, so `down` removes it even if labctl died mid-capture.
"""

from __future__ import annotations

import contextlib
import io
import tarfile

import docker
from docker.errors import NotFound

from labctl.errors import LabctlError
from labctl.runtime import labels
from labctl.runtime.spec import container_name

PCAP = "/tmp/labctl-capture.pcap"


def capture(client: docker.DockerClient, lab: str, bridge: str, duration: float, packet_filter: str = "",
            image: str = "labctl/node:latest") -> bytes:
    """tcpdump on `bridge` for `duration` seconds; returns the pcap file's bytes."""
    name = container_name(lab, f"capture-{bridge}")
    with contextlib.suppress(NotFound):  # one left by an interrupted capture
        client.containers.get(name).remove(force=True)
    script = f"timeout {duration:g} tcpdump -q -i {bridge} -U -w {PCAP} {packet_filter} 2>&1; test -s {PCAP}"
    container = client.containers.run(
        image, ["sh", "-c", script], name=name, detach=True, network_mode="host",
        cap_add=["NET_ADMIN", "NET_RAW"], labels={labels.LAB: lab, labels.NODE: f"capture-{bridge}",
                                                  labels.ROLE: "capture", labels.HELPER: "capture"})
    try:
        result = container.wait(timeout=duration + 30)
        if result.get("StatusCode") != 0:
            log = container.logs().decode(errors="replace").strip()
            raise LabctlError(f"capture on {bridge} failed: {log or 'no packets written'}")
        stream, _ = container.get_archive(PCAP)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            return member.read() if member else b""
    finally:
        container.remove(force=True)

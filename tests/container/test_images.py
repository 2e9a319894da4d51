"""The built images against a real Docker: strongSwan with the plugins labctl needs, importable sidecar, no-op
rebuilds. The first run may build the base (about two minutes without a registry)."""

from __future__ import annotations

import docker
import pytest

from labctl.runtime import labels
from labctl.runtime.docker import images

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        pytest.skip(f"no Docker engine: {e}")
    return client


@pytest.fixture(scope="module")
def ensured(client: docker.DockerClient) -> images.Ensured:
    return images.ensure_images(client)


def sh(client: docker.DockerClient, kind: str, script: str) -> str:
    """Run a shell snippet in a throwaway container of the image; a non-zero exit raises ContainerError."""
    out = client.containers.run(
        images.current_images(client).refs[kind], ["sh", "-ec", script], remove=True, stderr=True,
        labels={labels.LAB: "test-images"},
    )
    return out.decode()


def test_node_has_charon_from_bookworm_security(client, ensured) -> None:
    assert "strongSwan 5.9" in sh(client, "node", "/usr/lib/ipsec/charon --version")
    # plain bookworm has 5.9.8-5+deb12u5; the base must carry the security suite's upgrade
    version = "$(dpkg-query -W -f='${Version}' strongswan-charon)"
    sh(client, "node", f"dpkg --compare-versions {version} ge 5.9.8-5+deb12u6")


def test_node_has_the_plugins_and_tools_labctl_needs(client, ensured) -> None:
    plugins = "/usr/lib/ipsec/plugins/libstrongswan"
    sh(client, "node", f"test -f {plugins}-ha.so; test -f {plugins}-kernel-libipsec.so; test -f {plugins}-unity.so")
    sh(client, "node", "command -v swanctl ip arping nft iptables tcpdump vtysh freeradius radtest")


@pytest.mark.parametrize("kind", ["node", "host"])
def test_python_imports_the_sidecar_from_opt(client, ensured, kind: str) -> None:
    out = sh(client, kind, "python3 -c 'import labctl.sidecar, labctl; print(labctl.__file__)'")
    assert out.strip() == "/opt/labctl/labctl/__init__.py"


def test_images_carry_kind_and_content_hash(client, ensured) -> None:
    for kind in ("node", "host"):
        image = client.images.get(ensured.refs[kind])
        assert image.id == ensured[kind]
        assert image.labels[labels.IMAGE_KIND] == kind
        assert image.labels[labels.IMAGE_HASH] == images.content_hash(kind, ensured["base"])
    assert client.images.get(ensured.refs["base"]).labels[labels.IMAGE_KIND] == "base"


def test_second_ensure_builds_nothing(client, ensured) -> None:
    again = images.ensure_images(client)
    assert again.built == []
    assert again == ensured
    rows = images.image_status(client)
    assert [(r["kind"], r["present"], r["up_to_date"]) for r in rows] == [
        ("base", True, True),
        ("node", True, True),
        ("host", True, True),
    ]

"""Image inputs without Docker: build contexts, content hashes, and what ensure_images decides to rebuild."""

from __future__ import annotations

import fcntl
import shutil
import threading
import time
from pathlib import Path

import pytest
from docker.errors import APIError, ImageNotFound

from labctl.errors import LabctlError
from labctl.runtime import labels
from labctl.runtime.docker import images

SIDECAR = ["labctl/sidecar/__init__.py", "labctl/sidecar/hsrp/__init__.py", "labctl/sidecar/hsrp/fsm.py"]
# the node image's build stage: strongSwan's libipsec rebuilt with labctl's patch (replay-state sync)
STRONGSWAN = ["strongswan-build.sh", "strongswan-ha-resync.patch", "strongswan-replay.patch"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the real images/ plus a small labctl tree with files that must stay out of the context."""
    shutil.copytree(images.REPO_ROOT / images.IMAGES_DIR, tmp_path / images.IMAGES_DIR)
    for name in ["labctl/__init__.py", "labctl/errors.py", "labctl/cli.py", "labctl/controller/__init__.py", *SIDECAR]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\n")
    (tmp_path / "labctl/sidecar/__pycache__").mkdir()
    (tmp_path / "labctl/sidecar/__pycache__/fsm.cpython-311.pyc").write_bytes(b"\0bytecode")
    return tmp_path


def test_context_holds_exactly_the_image_dir_and_the_sidecar_sources(root: Path, tmp_path: Path) -> None:
    dest = tmp_path / "ctx"
    dest.mkdir()
    names = images.assemble_context("node", dest, root)
    on_disk = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    shared = "labctl/images/install-missing.sh"  # the install step both images share
    assert on_disk == sorted(names) == sorted(["Dockerfile", "packages.txt", "labctl/__init__.py", shared, *SIDECAR,
                                               *STRONGSWAN])
    assert (dest / "labctl/sidecar/hsrp/fsm.py").read_text() == "# labctl/sidecar/hsrp/fsm.py\n"


def test_real_repo_context_is_the_sidecar_and_agent_trees_and_nothing_else() -> None:
    repo = images.REPO_ROOT
    sidecar = {p.relative_to(repo).as_posix() for tree in ("labctl/sidecar", "labctl/agent")
               for p in (repo / tree).rglob("*.py")}
    for kind in ("node", "host"):
        files = set(images.context_files(kind))
        shared = {"labctl/__init__.py", "labctl/images/install-missing.sh"}
        # vpnc, installed without perl (its own list); the node's strongSwan build stage
        own = {"host": {"vpnc-packages.txt"}, "node": set(STRONGSWAN)}.get(kind, set())
        assert {"Dockerfile", "packages.txt"} | own | shared | sidecar == files


def test_vpnc_is_no_base_package_so_the_base_does_not_change() -> None:
    """vpnc's dependency exception needs dpkg: it is installed by the host Dockerfile, never by debootstrap."""
    assert "vpnc" not in images.base_packages()
    host = images.REPO_ROOT / "labctl/images/host"
    assert images.read_packages(host / "vpnc-packages.txt") == ["vpnc"]
    assert "vpnc-packages.txt perl:any,perl" in (host / "Dockerfile").read_text()


def test_hash_is_stable_and_independent_of_where_the_tree_lives(root: Path, tmp_path: Path) -> None:
    first = images.content_hash("node", "sha256:base", root)
    assert images.content_hash("node", "sha256:base", root) == first
    moved = shutil.copytree(root, tmp_path / "elsewhere")
    assert images.content_hash("node", "sha256:base", moved) == first


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / images.IMAGES_DIR / "node/Dockerfile").write_text(
            (r / images.IMAGES_DIR / "node/Dockerfile").read_text() + "\n# x\n"),
        lambda r: (r / "labctl/images/node/packages.txt").write_text("strongswan-charon\n"),
        lambda r: (r / "labctl/images/node/strongswan-replay.patch").write_text("--- a\n+++ b\n"),
        lambda r: (r / "labctl/sidecar/hsrp/fsm.py").write_text("# changed\n"),
        lambda r: (r / "labctl/sidecar/new.py").write_text(""),
        lambda r: (r / "labctl/sidecar/hsrp/fsm.py").rename(r / "labctl/sidecar/hsrp/fsm2.py"),
        lambda r: (r / "labctl/__init__.py").write_text('__version__ = "9"\n'),
    ],
    ids=["dockerfile", "packages", "strongswan-patch", "sidecar-edit", "sidecar-add", "sidecar-rename", "package-init"],
)
def test_hash_changes_with_every_copied_input(root: Path, change) -> None:
    before = images.content_hash("node", "sha256:base", root)
    change(root)
    assert images.content_hash("node", "sha256:base", root) != before


def test_hash_ignores_files_outside_the_context(root: Path) -> None:
    before = images.content_hash("host", "sha256:base", root)
    (root / "labctl/errors.py").write_text("# edited\n")
    (root / "labctl/sidecar/__pycache__/fsm.cpython-311.pyc").write_bytes(b"other")
    (root / "labctl/images/node/Dockerfile").write_text("FROM elsewhere\n")  # node's, not host's
    assert images.content_hash("host", "sha256:base", root) == before


def test_hash_depends_on_base_and_kind(root: Path) -> None:
    node = images.content_hash("node", "sha256:a", root)
    assert images.content_hash("node", "sha256:b", root) != node
    assert images.content_hash("host", "sha256:a", root) != node


def test_debootstrap_inputs(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABCTL_DEBIAN_MIRROR", raising=False)
    monkeypatch.delenv("LABCTL_DEBIAN_SECURITY_MIRROR", raising=False)
    assert images.mirrors() == ("http://deb.debian.org/debian", "http://deb.debian.org/debian-security")
    packages = images.base_packages(root)
    assert {"strongswan-charon", "libcharon-extra-plugins", "frr", "freeradius", "python3", "iputils-arping"} <= set(
        packages
    )
    assert packages == sorted(set(packages))  # union of node and host, no duplicates
    before = images.debootstrap_hash(root)
    assert images.debootstrap_hash(root) == before
    monkeypatch.setenv("LABCTL_DEBIAN_MIRROR", "http://mirror.example/debian/")
    assert images.mirrors() == ("http://mirror.example/debian", "http://mirror.example/debian-security")
    assert images.debootstrap_hash(root) != before
    monkeypatch.delenv("LABCTL_DEBIAN_MIRROR")
    (root / "labctl/images/host/packages.txt").write_text("iproute2 # inline comment\ncurl\n")
    assert images.read_packages(root / "labctl/images/host/packages.txt") == ["iproute2", "curl"]
    assert images.debootstrap_hash(root) != before


# ---- ensure_images decisions, with a fake Docker and fake builds ----


class FakeImage:
    created = iter(range(10_000))

    def __init__(self, image_id: str, kind: str, hash_: str) -> None:
        self.id, self.short_id, self.tags = image_id, image_id[:12], [f"labctl/{kind}"]
        self.labels = {labels.IMAGE_KIND: kind, labels.IMAGE_HASH: hash_}
        self.attrs = {"Created": f"2020-01-01T00:00:{next(self.created):05d}Z"}  # old unless a test says
        self.client: FakeImages | None = None

    def tag(self, repository: str, tag: str) -> None:
        assert self.client is not None
        self.client.add(f"{repository}:{tag}", self)


class FakeImages:
    def __init__(self) -> None:
        self.tags: dict[str, FakeImage] = {}  # tag -> image
        self.all: dict[str, FakeImage] = {}  # id -> image, tagged or not
        self.removed: list[str] = []

    def add(self, tag: str, image: FakeImage) -> FakeImage:
        image.client = self
        self.tags[tag] = self.all[image.id] = image
        return image

    def get(self, ref: str) -> FakeImage:
        if ref not in self.tags:
            raise ImageNotFound(ref)
        return self.tags[ref]

    def list(self, filters: dict) -> list[FakeImage]:
        tagged = {image.id for image in self.tags.values()}
        key, _, value = filters.get("label", "").partition("=")
        return [i for i in self.all.values() if (not filters.get("dangling") or i.id not in tagged)
                and key in i.labels and (not value or i.labels[key] == value)]

    def remove(self, image_id: str) -> None:
        self.removed.append(image_id)
        del self.all[image_id]
        self.tags = {tag: image for tag, image in self.tags.items() if image.id != image_id}


class FakeClient:
    def __init__(self) -> None:
        self.images = FakeImages()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, root: Path) -> FakeClient:
    client = FakeClient()
    monkeypatch.setattr(images, "LOCK_DIR", str(root))  # never wait on a real build
    counter = iter(range(1000))

    def build_base(client_, say, root_):
        hash_ = images.debootstrap_hash(root_)
        image = FakeImage(f"sha256:base{next(counter)}", "base", hash_)
        return client.images.add(images.content_tag("base", hash_), image)

    def build_kind(client_, kind, want, say, root_, base, nocache):
        assert base == images.content_tag("base", images.debootstrap_hash(root_))  # FROM this checkout's base
        return client.images.add(images.content_tag(kind, want), FakeImage(f"sha256:{kind}{next(counter)}", kind, want))

    monkeypatch.setattr(images, "_build_base", build_base)
    monkeypatch.setattr(images, "_build_kind", build_kind)
    return client


def test_ensure_builds_only_what_is_missing_or_stale(fake: FakeClient, root: Path) -> None:
    first = images.ensure_images(fake, root=root)
    assert first.built == ["base", "node", "host"] and set(first) == {"base", "node", "host"}
    assert first.refs["node"] == images.content_tag("node", images.content_hash("node", first["base"], root))
    assert fake.images.get(first.refs["node"]).id == fake.images.get(images.TAGS["node"]).id == first["node"]
    again = images.ensure_images(fake, root=root)
    assert again.built == [] and again == first and again.refs == first.refs

    (root / "labctl/sidecar/hsrp/fsm.py").write_text("# changed\n")
    after_edit = images.ensure_images(fake, root=root)
    assert after_edit.built == ["node", "host"] and after_edit["base"] == first["base"]
    assert after_edit.refs["node"] != first.refs["node"]
    assert fake.images.get(images.TAGS["node"]).id == after_edit["node"]  # the moving tag follows
    assert fake.images.removed == []  # the first version stays: another checkout may run it

    (root / "labctl/images/node/packages.txt").write_text("strongswan-charon\n")  # base content changes too
    assert images.ensure_images(fake, root=root).built == ["base", "node", "host"]

    assert images.ensure_images(fake, force={"host"}, root=root).built == ["host"]
    assert images.ensure_images(fake, force=True, root=root).built == ["base", "node", "host"]
    with pytest.raises(LabctlError, match="unknown image kind"):
        images.ensure_images(fake, force={"router"}, root=root)


def test_two_checkouts_keep_their_own_images(fake: FakeClient, root: Path, tmp_path: Path) -> None:
    """A worktree with other sources and this checkout alternate on one engine: nothing is rebuilt twice."""
    other = tmp_path / "other"
    shutil.copytree(root, other)
    (other / "labctl/sidecar/hsrp/fsm.py").write_text("# the worktree's change\n")
    mine, theirs = images.ensure_images(fake, root=root), images.ensure_images(fake, root=other)
    assert theirs.built == ["node", "host"] and mine.refs["node"] != theirs.refs["node"]
    assert images.ensure_images(fake, root=root).built == []
    assert images.ensure_images(fake, root=other).built == []
    assert images.current_images(fake, root=root).refs == mine.refs


def test_old_versions_beyond_the_newest_few_are_pruned(fake: FakeClient, root: Path) -> None:
    versions = []
    for n in range(images.KEEP_VERSIONS + 2):
        (root / "labctl/sidecar/hsrp/fsm.py").write_text(f"# version {n}\n")
        versions.append(images.ensure_images(fake, root=root)["node"])
    node_ids = {i.id for i in fake.images.all.values() if i.labels[labels.IMAGE_KIND] == "node"}
    assert node_ids == set(versions[-images.KEEP_VERSIONS:])
    assert versions[0] in fake.images.removed and versions[-1] not in fake.images.removed


def test_the_strongswan_build_stage_is_kept_as_the_cache(fake: FakeClient, root: Path) -> None:
    """The node image's build stage ends in an untagged image carrying the base's labels; an untagged node
    image is a superseded version. Only the latter goes (the former made every sidecar change recompile)."""
    images.ensure_images(fake, root=root)
    stage = FakeImage("sha256:stage", "base", "whatever")
    stale = FakeImage("sha256:stale", "node", "old")
    fake.images.all[stage.id] = stage
    fake.images.all[stale.id] = stale
    (root / "labctl/sidecar/hsrp/fsm.py").write_text("# changed\n")
    images.ensure_images(fake, root=root)
    assert stale.id in fake.images.removed and stage.id not in fake.images.removed


def test_versions_made_today_are_kept_whatever_their_number(fake: FakeClient, root: Path) -> None:
    """Another checkout's matrix may be between two cells: an image of the last day is never pruned."""
    fresh = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    versions = []
    for n in range(images.KEEP_VERSIONS + 2):
        (root / "labctl/sidecar/hsrp/fsm.py").write_text(f"# version {n}\n")
        ensured = images.ensure_images(fake, root=root)
        fake.images.get(ensured.refs["node"]).attrs["Created"] = fresh + f".{n:03d}Z"
        versions.append(ensured["node"])
    assert not set(versions) & set(fake.images.removed)


def test_current_images_names_the_missing_build(fake: FakeClient, root: Path) -> None:
    with pytest.raises(LabctlError, match="no base image.*labctl images build"):
        images.current_images(fake, root=root)


def test_progress_reports_each_kind(fake: FakeClient, root: Path) -> None:
    seen: list[tuple[str, str]] = []
    ensured = images.ensure_images(fake, lambda kind, message: seen.append((kind, message)), root=root)
    assert [k for k, m in seen if m.startswith("built ")] == ["base", "node", "host"]
    seen.clear()
    images.ensure_images(fake, lambda kind, message: seen.append((kind, message)), root=root)
    assert seen == [(k, f"{ensured.refs[k]} up to date") for k in images.KINDS]


def test_concurrent_ensure_waits_for_the_running_one(fake: FakeClient, root: Path) -> None:
    seen: list[str] = []
    lock = Path(images.LOCK_DIR) / f"labctl-images-base-{images.debootstrap_hash(root)[:12]}.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(
            target=images.ensure_images, args=(fake, lambda k, m: seen.append(m)), kwargs={"root": root}
        )
        worker.start()
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == ["waiting for another labctl image build to finish"]
    worker.join(5)
    assert not worker.is_alive() and any(m.startswith("built ") for m in seen)


def test_remove_images_takes_node_and_host_before_base(fake: FakeClient, root: Path) -> None:
    ids = images.ensure_images(fake, root=root)
    assert images.remove_images(fake) == [ids["node"], ids["host"], ids["base"]]
    assert fake.images.all == {}
    ids = images.ensure_images(fake, root=root)

    def in_use(image_id: str) -> None:
        raise APIError("409", explanation="image is being used by running container abc")

    fake.images.remove = in_use  # type: ignore[method-assign]
    with pytest.raises(LabctlError, match="being used by running container.*labctl down"):
        images.remove_images(fake)


def test_debootstrap_base_says_what_is_missing(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images.os, "geteuid", lambda: 1000)
    with pytest.raises(LabctlError, match="needs root"):
        images._debootstrap_base(FakeClient(), lambda kind, message: None, root)
    monkeypatch.setattr(images.os, "geteuid", lambda: 0)
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    with pytest.raises(LabctlError, match=r"apt-get install debootstrap"):
        images._debootstrap_base(FakeClient(), lambda kind, message: None, root)

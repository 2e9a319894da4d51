"""labctl's three images (base, node, host), built locally because there may be no registry.

base (labctl/base:bookworm) is debian:bookworm-slim when Docker has it or can pull it; otherwise a debootstrap
of bookworm + updates + security with every node/host package preinstalled, fed to `docker import`, so node
and host builds then need no network at all. node and host are small Dockerfiles (images/<kind>/) on top of
base that install only what base lacks and copy the labctl sources the containers run.

Every image is labelled with its kind and a content hash of its inputs and tagged by that hash
(`labctl/node:<hash>`); `ensure_images` builds only the images whose hash has no image yet, and labs run
the image of their checkout's hash. So two checkouts (a worktree, a wheel beside a clone) sharing one
engine each keep their own images instead of rebuilding one shared tag in turn. The moving tags
(`labctl/node:latest` ...) follow the newest ensure, for docker-compose and people.

Given other engines as `sources` (a matrix over several engines, `labctl images build --from URL`), an image
missing on the target is first looked for there and transferred (`docker save` on the source streamed into
`docker load` on the target, through the Docker API) when the source has the very hash the target wants: a
remote engine needs no registry, no debootstrap and no root on the machine labctl runs on.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound
from docker.models.images import Image

from labctl.errors import EnvironmentProblem, UsageError
from labctl.runtime import labels

Progress = Callable[[str, str], None]  # progress(kind, message)

# the folder holding the labctl package (the checkout, or site-packages for a wheel): image contexts and the
# sources copied into them are package files, so a non-editable install can build images too
REPO_ROOT = Path(__file__).resolve().parents[3]
IMAGES_DIR = "labctl/images"
KINDS = ("base", "node", "host")  # build order: node and host are built FROM base
TAGS = {"base": "labctl/base:bookworm", "node": "labctl/node:latest", "host": "labctl/host:latest"}  # moving
# per kind, the newest images are kept, and every one made in the last day (other checkouts on this engine may
# run them now: a matrix in a worktree must not lose its image between two cells); older ones are pruned
KEEP_VERSIONS = 3
KEEP_RECENT_S = 86400
SLIM = "debian:bookworm-slim"
SUITES = ("bookworm", "bookworm-updates", "bookworm-security")  # plain bookworm lags security (strongswan)
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_RECIPE = "2"  # bump when _debootstrap_base changes what ends up in the image
# repo paths copied into node/host as /opt/labctl/labctl (the sidecar, and the probe agent the hosts run)
SOURCES = ("labctl/__init__.py", "labctl/sidecar", "labctl/agent", "labctl/images/install-missing.sh")
PULL_TIMEOUT = 30.0  # seconds; without a registry the pull fails at once, this only guards against a stall
BUILD_TIMEOUT = 900  # seconds of silence tolerated from a docker build
LOCK_DIR = "/var/tmp"  # labctl-images-<kind>-<hash>.lock: one build of one content at a time per host
TAIL = 25  # lines of build output quoted in an error
# Like debian:bookworm-slim: no docs, man pages or translations (a quarter of the files, and every build step
# of node/host diffs the whole tree on fuse-overlayfs). Kept out of later dpkg installs too.
NODOC = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")
NODOC_DPKG = "".join(f"path-exclude /{d}/*\n" for d in NODOC) + "path-include /usr/share/doc/*/copyright\n"
IMAGE_ENV = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8"


class Ensured(dict[str, str]):
    """kind -> image id, plus `built`: the kinds this call actually (re)built, in build order, and `refs`:
    kind -> the content tag labs of this checkout run."""

    def __init__(self) -> None:
        super().__init__()
        self.built: list[str] = []
        self.refs: dict[str, str] = {}


def content_tag(kind: str, hash_: str) -> str:
    """The tag naming one content of one kind: labctl/node:0123456789ab, labctl/base:bookworm-0123456789ab."""
    repository, moving = TAGS[kind].split(":")
    return f"{repository}:{moving + '-' if kind == 'base' else ''}{hash_[:12]}"


# ---- inputs and hashes (pure, no Docker) ----


def mirrors() -> tuple[str, str]:
    """(main, security) Debian mirrors: LABCTL_DEBIAN_MIRROR, and its -security sibling unless
    LABCTL_DEBIAN_SECURITY_MIRROR says otherwise."""
    main = os.environ.get("LABCTL_DEBIAN_MIRROR", "").rstrip("/") or DEFAULT_MIRROR
    security = os.environ.get("LABCTL_DEBIAN_SECURITY_MIRROR", "").rstrip("/")
    if not security:
        security = main + "-security" if main.endswith("/debian") else DEFAULT_MIRROR + "-security"
    return main, security


def read_packages(path: Path) -> list[str]:
    """Package names in a packages.txt (whitespace separated, # comments)."""
    words = (line.split("#", 1)[0].split() for line in path.read_text().splitlines())
    return [word for line in words for word in line]


def base_packages(root: Path = REPO_ROOT) -> list[str]:
    """Everything node and host need: what the debootstrap base preinstalls."""
    return sorted({p for kind in ("node", "host") for p in read_packages(root / IMAGES_DIR / kind / "packages.txt")})


def _walk(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for p in sorted(path.rglob("*")):
        if p.is_file() and "__pycache__" not in p.relative_to(path).parts and p.suffix not in (".pyc", ".pyo"):
            yield p


def context_files(kind: str, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Every file of the node/host build context, keyed by its path inside the context."""
    image_dir = root / IMAGES_DIR / kind
    if not (image_dir / "Dockerfile").is_file():
        raise EnvironmentProblem(f"{image_dir / 'Dockerfile'} not found: labctl builds images from its source tree")
    files = {p.relative_to(image_dir).as_posix(): p for p in _walk(image_dir)}
    for source in SOURCES:
        files.update({p.relative_to(root).as_posix(): p for p in _walk(root / source)})
    return dict(sorted(files.items()))


def assemble_context(kind: str, dest: Path, root: Path = REPO_ROOT) -> list[str]:
    """Copy the build context of `kind` into dest; returns the context's file names."""
    files = context_files(kind, root)
    for name, src in files.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name)
    return list(files)


def content_hash(kind: str, base_id: str, root: Path = REPO_ROOT) -> str:
    """sha256 over the base image id and every file (name and bytes) of the node/host build context."""
    h = hashlib.sha256(f"{kind}\0{base_id}\0".encode())
    for name, path in context_files(kind, root).items():
        data = path.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def debootstrap_hash(root: Path = REPO_ROOT) -> str:
    """Hash of a debootstrap base: recipe version, suites, mirrors, packages."""
    inputs = {"recipe": BASE_RECIPE, "suites": SUITES, "mirrors": mirrors(), "packages": base_packages(root)}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def slim_hash(slim_id: str) -> str:
    """Hash of a base that is just debian:bookworm-slim relabelled."""
    return hashlib.sha256(f"{SLIM}\0{slim_id}".encode()).hexdigest()


# ---- Docker ----


def _local(client: docker.DockerClient, ref: str) -> Image | None:
    try:
        return client.images.get(ref)
    except ImageNotFound:
        return None


def _base_hashes(client: docker.DockerClient, root: Path) -> set[str]:
    """Hashes an existing base may carry and still count as current."""
    slim = _local(client, SLIM)
    return {debootstrap_hash(root)} | ({slim_hash(slim.id)} if slim else set())


def _hash_of(image: Image | None) -> str | None:
    return image.labels.get(labels.IMAGE_HASH) if image else None


def ensure_images(
    client: docker.DockerClient,
    progress: Progress | None = None,
    force: bool | Collection[str] = False,
    *,
    root: Path = REPO_ROOT,
    sources: Iterable[docker.DockerClient] = (),
) -> Ensured:
    """Build (or transfer from `sources`) the images that are missing or whose inputs changed; returns
    kind -> image id (and `.built`).

    force=True rebuilds all three from scratch (no layer cache); force={"node", "host"} only those kinds.
    """
    say = progress or (lambda kind, message: None)
    forced = set(KINDS) if force is True else set(force or ())
    if forced - set(KINDS):
        raise UsageError(f"unknown image kind(s): {', '.join(sorted(forced - set(KINDS)))}")
    return _ensure(client, say, forced, root, list(sources))


def current_images(client: docker.DockerClient, *, root: Path = REPO_ROOT) -> Ensured:
    """The images of this checkout's content, without building: a clear error when one is missing."""
    found = Ensured()
    for kind in KINDS:
        image = _find(client, kind, _wanted(client, kind, found, root))
        if image is None:
            raise EnvironmentProblem(f"no {kind} image for this labctl's sources: `labctl images build` first")
        found[kind], found.refs[kind] = image.id, content_tag(kind, _hash_of(image) or "")
    return found


def _wanted(client: docker.DockerClient, kind: str, so_far: Ensured, root: Path) -> set[str]:
    """The hashes an image of `kind` may carry and count as current (node/host: on the base found so far)."""
    if kind == "base":
        return _base_hashes(client, root)
    return {content_hash(kind, so_far["base"], root)}


def _find(client: docker.DockerClient, kind: str, hashes: set[str]) -> Image | None:
    """The image of `kind` carrying one of `hashes`: by content tag, or (built before content tags) the
    moving tag."""
    for hash_ in sorted(hashes):
        image = _local(client, content_tag(kind, hash_))
        if image is not None and _hash_of(image) == hash_:
            return image
    image = _local(client, TAGS[kind])
    return image if _hash_of(image) in hashes else None


@contextlib.contextmanager
def _build_lock(say: Progress, kind: str, hashes: set[str]) -> Iterator[None]:
    """One build of one content at a time per host (a concurrent one would build it twice); builds of other
    contents (another checkout's) go on in parallel."""
    fd = os.open(os.path.join(LOCK_DIR, f"labctl-images-{kind}-{min(hashes)[:12]}.lock"), os.O_RDONLY | os.O_CREAT,
                 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(kind, "waiting for another labctl image build to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ensure(client: docker.DockerClient, say: Progress, forced: set[str], root: Path,
            sources: list[docker.DockerClient] | None = None) -> Ensured:
    result = Ensured()
    for kind in KINDS:
        hashes = _wanted(client, kind, result, root)
        with _build_lock(say, kind, hashes):
            image = None if kind in forced else _find(client, kind, hashes)
            if image is not None:
                say(kind, f"{content_tag(kind, _hash_of(image) or '')} up to date")
            else:
                start = time.monotonic()
                image = None if kind in forced else _transfer(client, kind, hashes, sources or [], say)
                how = "transferred"
                if image is None:
                    how = "built"
                    if kind == "base":
                        image = _build_base(client, say, root)
                    else:
                        image = _build_kind(client, kind, min(hashes), say, root, result.refs["base"],
                                            nocache=kind in forced)
                result.built.append(kind)
            ref = content_tag(kind, _hash_of(image) or "")
            for tag in (ref, TAGS[kind]):
                repository, name = tag.split(":")
                image.tag(repository, name)
            if kind in result.built:
                say(kind, f"{how} {ref} ({image.short_id}) in {time.monotonic() - start:.1f}s")
        result[kind], result.refs[kind] = image.id, ref
    _prune_superseded(client, set(result.values()))
    return result


def _transfer(client: docker.DockerClient, kind: str, wanted: set[str], sources: list[docker.DockerClient],
              say: Progress) -> Image | None:
    """Copy the image of `kind` from the first source that has a wanted hash (save | load, streamed); None
    when no source has it. Image ids survive save/load, so node/host hashes (over the base id) stay valid."""
    for source in sources:
        if source is client:
            continue
        found = _find(source, kind, wanted)
        if found is None:
            continue
        ref = content_tag(kind, _hash_of(found) or "")
        say(kind, f"loading {ref} from another engine (docker save | docker load)")
        try:
            for _line in client.api.load_image(source.api.get_image(found.id)):
                pass
        except (DockerException, OSError) as e:
            raise EnvironmentProblem(f"transferring {ref} between engines failed: {e}") from e
        try:
            image = client.images.get(found.id)
        except ImageNotFound:
            continue
        if _hash_of(image) in wanted:
            return image
    return None


def _children_first(found: list[Image]) -> list[Image]:
    """node/host before base: an image cannot be removed while images built on it exist."""
    return sorted(found, key=lambda image: image.labels.get(labels.IMAGE_KIND) == "base")


def _prune_superseded(client: docker.DockerClient, current: set[str], now: float | None = None) -> None:
    """Remove untagged labctl images and, per kind, versions beyond the KEEP_VERSIONS newest that are over
    KEEP_RECENT_S old, unless a container (or an image built on them) still uses them; `current` stays."""
    # an untagged image labelled `base` is no superseded version (every base keeps its content tag): it is the
    # last layer of the node image's strongSwan build stage, which inherits the base's labels. It is the
    # build cache: pruning it made every sidecar change recompile strongSwan (minutes)
    superseded = [image for image in client.images.list(filters={"label": labels.IMAGE_KIND, "dangling": True})
                  if image.labels.get(labels.IMAGE_KIND) != "base"]
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((now or time.time()) - KEEP_RECENT_S))
    for kind in KINDS:
        versions = client.images.list(filters={"label": f"{labels.IMAGE_KIND}={kind}"})
        versions.sort(key=lambda image: image.attrs.get("Created", ""), reverse=True)
        superseded += [image for image in versions[KEEP_VERSIONS:]
                       if image.id not in current and image.attrs.get("Created", "") < cutoff]
    for image in _children_first(list({image.id: image for image in superseded}.values())):
        with contextlib.suppress(APIError):  # in use, or already gone with a child
            client.images.remove(image.id)


def _build_base(client: docker.DockerClient, say: Progress, root: Path) -> Image:
    """debian:bookworm-slim relabelled if Docker has it or can pull it, else a debootstrap import."""
    slim = _local(client, SLIM) or _pull(client, SLIM, say)
    if slim:
        labelled = {labels.IMAGE_KIND: "base", labels.IMAGE_HASH: slim_hash(slim.id)}
        return _docker_build(client, "base", say, tag=content_tag("base", slim_hash(slim.id)),
                             fileobj=io.BytesIO(f"FROM {SLIM}\n".encode()), labels=labelled)
    return _debootstrap_base(client, say, root)


def _pull(client: docker.DockerClient, ref: str, say: Progress) -> Image | None:
    """Try `docker pull ref`; no registry is the normal case here, so failure or a stall just returns None."""
    say("base", f"trying docker pull {ref}")
    outcome: dict[str, Any] = {}

    def pull() -> None:
        try:
            outcome["image"] = client.images.pull(ref)
        except (DockerException, OSError) as e:
            outcome["error"] = e

    thread = threading.Thread(target=pull, daemon=True)  # the pull API has no timeout of its own
    thread.start()
    thread.join(PULL_TIMEOUT)
    if "image" in outcome:
        return outcome["image"]
    error = outcome.get("error")
    reason = (getattr(error, "explanation", None) or str(error)) if error else f"no answer in {PULL_TIMEOUT:.0f}s"
    reason = reason.splitlines()[0][:200]
    say("base", f"cannot pull {ref} ({reason}); building the base with debootstrap")
    return None


def _build_kind(client: docker.DockerClient, kind: str, want: str, say: Progress, root: Path, base: str,
                nocache: bool) -> Image:
    """docker build of images/<kind>/ FROM base (its content tag), in a context assembled from the repo."""
    with tempfile.TemporaryDirectory(prefix=f"labctl-{kind}-") as ctx:
        assemble_context(kind, Path(ctx), root)
        return _docker_build(
            client,
            kind,
            say,
            path=ctx,
            tag=content_tag(kind, want),
            buildargs={"BASE": base},
            nocache=nocache,
            labels={labels.IMAGE_KIND: kind, labels.IMAGE_HASH: want},
        )


def _docker_build(client: docker.DockerClient, kind: str, say: Progress, tag: str, **kwargs: Any) -> Image:
    """Run a build, streaming its log to progress; failures carry the log's last lines."""
    tail: deque[str] = deque(maxlen=TAIL)
    try:
        stream = client.api.build(tag=tag, rm=True, forcerm=True, decode=True, timeout=BUILD_TIMEOUT, **kwargs)
        for chunk in stream:
            for line in chunk.get("stream", "").splitlines():
                if line.strip():
                    tail.append(line)
                    say(kind, line)
            if "error" in chunk:
                tail.append(chunk["error"].strip())
                raise EnvironmentProblem(f"building {tag} failed:\n" + "\n".join(tail))
    except (DockerException, OSError) as e:
        raise EnvironmentProblem(f"building {tag} failed: {e}\n" + "\n".join(tail)) from e
    return client.images.get(tag)


def _debootstrap_base(client: docker.DockerClient, say: Progress, root: Path) -> Image:
    """debootstrap bookworm with every package, upgrade from updates + security, `docker import` it."""
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            f"no {SLIM} image and no registry to pull it from; building the base with debootstrap needs root "
            f"(it chroots). Run as root, `docker load` a {SLIM} image first, or copy labctl's images from an "
            "engine that has them: `labctl images build --engine TARGET --from SOURCE`"
        )
    if not shutil.which("debootstrap"):
        raise EnvironmentProblem(f"no {SLIM} image and no registry: install debootstrap (apt-get install debootstrap)")
    main, security = mirrors()
    work = Path(tempfile.mkdtemp(prefix="labctl-base-", dir="/var/tmp"))
    rootfs = work / "rootfs"
    try:
        packages = ",".join(base_packages(root))
        cmd = ["debootstrap", "--variant=minbase", f"--include={packages}", SUITES[0], str(rootfs), main]
        _run(cmd, say, log=rootfs / "debootstrap" / "debootstrap.log")
        policy = rootfs / "usr/sbin/policy-rc.d"  # never start daemons (frr, freeradius) in the chroot
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        (rootfs / "etc/dpkg/dpkg.cfg.d/labctl-nodoc").write_text(NODOC_DPKG)
        sources = [f"deb {main} {SUITES[0]} main", f"deb {main} {SUITES[1]} main", f"deb {security} {SUITES[2]} main"]
        (rootfs / "etc/apt/sources.list").write_text("\n".join(sources) + "\n")
        subprocess.run(["mount", "-t", "proc", "proc", str(rootfs / "proc")], check=True)
        try:
            chroot = ["chroot", str(rootfs), "apt-get", "-q", "-y"]
            _run([*chroot, "update"], say)
            _run([*chroot, "-o", "Dpkg::Options::=--force-confold", "upgrade"], say)
            _run([*chroot, "clean"], say)
        finally:
            _unmount_below(work)
        for junk in ("var/lib/apt/lists", "var/log", "tmp", *NODOC):  # files only: postinsts expect the dirs
            for path in (rootfs / junk).rglob("*"):
                if (path.is_symlink() or path.is_file()) and path.name != "copyright":
                    path.unlink()
        (rootfs / "etc/resolv.conf").write_text("")  # Docker mounts its own; do not bake the host's in
        return _import(client, rootfs, debootstrap_hash(root), work / "tar.err", say)
    finally:
        _unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)


def _run(cmd: list[str], say: Progress, log: Path | None = None) -> None:
    """Run one base build step, streaming its output to progress; failures carry the output's last lines."""
    tail: deque[str] = deque(maxlen=TAIL)
    env = {
        **os.environ,
        "LC_ALL": "C",
        "DEBIAN_FRONTEND": "noninteractive",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip():
                tail.append(line.rstrip())
                say("base", line.rstrip())
    if proc.returncode:
        if log and log.is_file():
            tail.extend(log.read_text(errors="replace").splitlines()[-TAIL:])
        step = " ".join(c for c in cmd if not c.startswith("--include") and "/" not in c)
        raise EnvironmentProblem(f"base image: `{step}` failed (exit {proc.returncode}):\n" + "\n".join(tail))


def _unmount_below(path: Path) -> None:
    """Lazily unmount anything left mounted inside path, so removing it cannot reach into /proc."""
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for point in sorted((p for p in points if p.startswith(f"{path}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def _import(client: docker.DockerClient, rootfs: Path, hash_: str, errlog: Path, say: Progress) -> Image:
    """`tar -C rootfs -c . | docker import` with the base labels, streamed (no tarball on disk)."""
    say("base", "importing the root filesystem into Docker")
    labelled = f"LABEL {labels.IMAGE_KIND}=base {labels.IMAGE_HASH}={hash_}"
    tar_cmd = [
        "tar",
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=security.capability",
        "--exclude=./proc/*",
        "--exclude=./sys/*",
        "--exclude=./dev/*",
        "-C",
        str(rootfs),
        "-c",
        ".",
    ]
    repository, tag = content_tag("base", hash_).split(":")
    with open(errlog, "wb") as err, subprocess.Popen(tar_cmd, stdout=subprocess.PIPE, stderr=err) as tar:
        assert tar.stdout is not None
        chunks: Iterable[bytes] = iter(lambda: tar.stdout.read(1 << 20), b"")  # type: ignore[union-attr]
        try:
            answer = client.api.import_image_from_data(
                chunks, repository=repository, tag=tag, changes=[labelled, IMAGE_ENV]
            )
        except (DockerException, OSError) as e:
            raise EnvironmentProblem(f"docker import of the base failed: {e}") from e
    if tar.returncode:
        tail = errlog.read_text(errors="replace")[-2000:]
        raise EnvironmentProblem(f"tar of the base root filesystem failed:\n{tail}")
    for line in answer.splitlines():
        if line.strip() and "error" in json.loads(line):
            raise EnvironmentProblem(f"docker import of the base failed: {json.loads(line)['error']}")
    return client.images.get(f"{repository}:{tag}")


def image_status(client: docker.DockerClient, *, root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """One row per image for `labctl images ls`: this checkout's content of each kind (up_to_date: ensure
    would not rebuild it), else whatever the moving tag holds."""
    found, rows = Ensured(), []
    for kind in KINDS:
        hashes = _wanted(client, kind, found, root) if kind == "base" or "base" in found else set()
        image = _find(client, kind, hashes) if hashes else None
        if image is not None:
            found[kind] = image.id
        shown = image or _local(client, TAGS[kind])
        rows.append({
            "kind": kind,
            "tag": content_tag(kind, _hash_of(shown) or "") if shown is not None and _hash_of(shown) else TAGS[kind],
            "present": shown is not None,
            "up_to_date": image is not None,
            "id": shown.id if shown else None,
            "size": shown.attrs.get("Size") if shown else None,
            "created": shown.attrs.get("Created") if shown else None,
        })
    return rows


def remove_images(client: docker.DockerClient) -> list[str]:
    """Remove every labctl image (also superseded untagged ones), node/host before base; returns their ids."""
    found = client.images.list(filters={"label": labels.IMAGE_KIND})
    removed = []
    for image in _children_first(found):
        try:
            client.images.remove(image.id)
            removed.append(image.id)
        except ImageNotFound:
            pass  # went with a child removed before it
        except APIError as e:
            raise EnvironmentProblem(
                f"cannot remove {image.tags or image.short_id}: {e.explanation} (stop the labs using it: labctl down)"
            ) from e
    return removed

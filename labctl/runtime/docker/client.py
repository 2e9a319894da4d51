"""Connection to a Docker engine: the local socket, `unix://`, `tcp://`, `ssh://user@host[:port]` (paramiko,
the `remote` extra) or a Docker context, chosen by `--engine`, LABCTL_ENGINE, DOCKER_HOST or the current
Docker context, in that order.

Over SSH the Docker library opens one SSH channel (a remote `docker system dial-stdio`) per HTTP connection,
keeps a pool per request URL (an idle channel per endpoint used), opens more connections than a pool keeps
when requests run in parallel, and `exec` and streams take theirs out of the pool for good. sshd refuses
channels beyond `MaxSessions` (10 by default: `ChannelException(2, 'Connect failed')`). Here all requests
share one pool and every channel holds one of SSH_POOL permits until it closes; a request that finds none
waits, closing an idle pooled connection if there is one, so parallel requests reuse and share channels
instead of failing. (A pool that blocks instead would deadlock: urllib3 never gets hijacked exec
connections back.)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import docker
from docker.errors import DockerException

from labctl.errors import EnvironmentProblem, UsageError

SSH_POOL = 8  # channels per SSH connection: below sshd's default MaxSessions 10
ONE_POOL = "http+docker://ssh"
CHANNEL_WAIT = 600.0  # seconds a request may wait for a free channel before it is an error
SCHEMES = ("unix", "tcp", "ssh", "npipe", "http", "https")
_selected: list[str | None] = [None]  # set by the CLI's --engine
_lock = threading.Lock()


def select(url: str | None) -> None:
    """The engine every later `connect()` of this process talks to (the CLI's --engine)."""
    _selected[0] = url or None


@functools.lru_cache(maxsize=32)
def _identity(client: docker.DockerClient) -> tuple[str, str]:
    """(`docker info` ID, DockerRootDir), read once per engine: the scope and the host both come from it."""
    info = client.info()
    return str(info.get("ID", "")), str(info.get("DockerRootDir", ""))


def engine_scope(client: docker.DockerClient) -> str:
    """A short, stable id of the engine: what keeps the lab bridges and firewall rules of two engines on one host
    (a second dockerd beside the first) apart. `docker info`'s ID alone does not: it comes from the host's
    /etc/docker/key.json, the same for every dockerd there; their data roots differ."""
    host_id, root = _identity(client)
    return hashlib.sha1(f"{host_id}|{root}".encode()).hexdigest()[:8]


def engine_host(client: docker.DockerClient) -> str:
    """Which machine the engine runs on: `docker info`'s ID, from the host's /etc/docker/key.json (the same for
    every dockerd of one host, unlike `engine_scope`); engines with one host share its CPUs."""
    return _identity(client)[0] or engine_scope(client)


def _docker_config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def context_endpoint(name: str) -> str | None:
    """The Docker endpoint of context `name` as the docker CLI stores it (None: the local default)."""
    if name == "default":
        return None
    meta = _docker_config_dir() / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        raise EnvironmentProblem(f"no Docker context {name!r} ({meta} not readable): `docker context ls`") from None
    host = ((data.get("Endpoints") or {}).get("docker") or {}).get("Host")
    if not host:
        raise EnvironmentProblem(f"Docker context {name!r} has no docker endpoint")
    return str(host)


def current_context() -> str | None:
    """DOCKER_CONTEXT, else `currentContext` of the docker CLI's config.json (None: none set)."""
    if os.environ.get("DOCKER_CONTEXT"):
        return os.environ["DOCKER_CONTEXT"]
    try:
        return json.loads((_docker_config_dir() / "config.json").read_text()).get("currentContext") or None
    except (OSError, ValueError):
        return None


def resolve(url: str | None = None) -> str | None:
    """The engine URL to use (None: the Docker library's local default socket). `context:NAME` names a
    Docker context; without an explicit URL: LABCTL_ENGINE, DOCKER_HOST, then the current context."""
    url = url or _selected[0] or os.environ.get("LABCTL_ENGINE") or None
    if url is None:
        if os.environ.get("DOCKER_HOST"):
            return os.environ["DOCKER_HOST"]
        context = current_context()
        return context_endpoint(context) if context else None
    if url.startswith("context:"):
        return context_endpoint(url.removeprefix("context:"))
    scheme = urlparse(url).scheme
    if scheme not in SCHEMES:
        raise UsageError(f"--engine {url!r}: want ssh://user@host[:port], tcp://host:port, unix:///path or "
                         "context:NAME")
    return url


def describe(url: str | None) -> str:
    """A short name of an engine for messages and reports (no credentials: URLs carry none here)."""
    return url or "local"


def _reason(exc: BaseException) -> str:
    """The root cause of a connection error in a few words ("[Errno 111] Connection refused")."""
    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] [^'\")\]]+", text)
    if found:
        return found[-1].strip()
    wrapped = re.findall(r"(\w+Error)\(-?\d+, '([^']+)'\)", text)  # ('Connection aborted.', FileNotFoundError(2, ..))
    if wrapped:
        return f"{wrapped[-1][0]}: {wrapped[-1][1]}"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _ssh_client(url: str, timeout: int) -> docker.DockerClient:
    """A client over paramiko with a bounded, blocking channel pool; errors are one clean line."""
    try:
        import paramiko
    except ImportError:
        raise EnvironmentProblem(f"engine {url} is reached over SSH, which needs paramiko: "
                                 "pip install 'labctl[remote]'") from None
    from labctl.runtime.docker.ssh import BoundedChannel  # the Docker library's SSH transport needs paramiko

    target = urlparse(url)
    where = f"{target.username + '@' if target.username else ''}{target.hostname}:{target.port or 22}"
    try:
        client = docker.DockerClient(base_url=url, use_ssh_client=False, timeout=timeout, max_pool_size=SSH_POOL)
    except paramiko.AuthenticationException as exc:
        raise EnvironmentProblem(f"engine {url}: SSH authentication to {where} failed ({exc}); is your key in "
                                 "the remote user's authorized_keys?") from None
    except paramiko.SSHException as exc:
        raise EnvironmentProblem(f"engine {url}: SSH to {where} failed: {exc} (is the host key in "
                                 "~/.ssh/known_hosts? `ssh-keyscan` it after checking it)") from None
    except OSError as exc:
        raise EnvironmentProblem(f"engine {url}: cannot reach {where} over SSH ({exc.__class__.__name__}: "
                                 f"{exc})") from None
    except DockerException as exc:
        raise EnvironmentProblem(f"engine {url}: {exc}") from None
    adapter = client.api.get_adapter("http+docker://ssh")
    permits = threading.BoundedSemaphore(SSH_POOL)
    original = adapter.get_connection

    def bounded(_url: str, proxies: object = None) -> object:
        # one pool for every request: the library keys its pools by the whole request URL, so each endpoint
        # got its own pool with its own idle channel (9 pools kept: past MaxSessions on their own)
        pool = original(ONE_POOL, proxies)
        if not getattr(pool, "_labctl_bounded", False):
            pool._new_conn = lambda: BoundedChannel(pool, permits, CHANNEL_WAIT, SSH_POOL)
            pool._labctl_bounded = True
        return pool

    adapter.get_connection = bounded
    adapter.pools.clear()  # the version check's pool, from before: its channel closes
    return client


@functools.cache
def _client(url: str | None) -> docker.DockerClient:
    timeout = 120
    if url and url.startswith("ssh://"):
        client = _ssh_client(url, timeout)
    else:
        try:
            client = docker.DockerClient(base_url=url, timeout=timeout) if url else docker.from_env(timeout=timeout)
        except DockerException as exc:
            raise EnvironmentProblem(f"the Docker engine {describe(url)} is not usable ({_reason(exc)})") from None
    try:
        client.ping()
    except DockerException as exc:
        hint = ("the remote user needs the docker CLI (`docker system dial-stdio`) and access to the Docker "
                "socket" if url and url.startswith("ssh://") else
                "start it (e.g. `dockerd &`), pass --engine, or set LABCTL_ENGINE/DOCKER_HOST")
        raise EnvironmentProblem(f"the Docker engine {describe(url)} is not answering ({_reason(exc)}): {hint}"
                                 ) from None
    return client


def get_client(url: str | None = None) -> docker.DockerClient:
    """One client per engine URL per process; a dead, refused or unreachable engine is a clean error."""
    resolved = resolve(url)
    with _lock:
        return _client(resolved)

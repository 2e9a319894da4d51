"""Labs on Docker engines reached over SSH, for real (issue 15).

The test builds everything it needs on this machine and removes it afterwards:
- an `sshd` on 127.0.0.1 (its own port, host key and config; default MaxSessions), with a user key made here;
- two more `dockerd`s started by the test (own socket, data root, exec root, pidfile, containerd, and their own
  default bridge `rm2br0`/`rm3br0` in 10.98/10.99.255.0/24 made by the test), each reached over SSH as its own
  host: the Docker library over ssh:// runs `docker system dial-stdio` as the remote user, so a remote user
  per engine (`rmeng2`, `rmeng3`) whose docker CLI context points at that engine's socket selects it. A third
  remote user, `rmeng1` (group `docker`), reaches this machine's shared engine, used read-only here as the
  source the images are copied from;
- labctl runs as `rmlocal`, an unprivileged local user without access to any Docker socket and without
  iptables, so every call goes over SSH and the firewall rules can only come from the helper containers.

Care for the shared engine: a dockerd started with `--bridge=none` deletes the host's `docker0` (moby's
removeDefaultBridgeInterface), and one that manages iptables flushes the DOCKER and DOCKER-ISOLATION chains
at start; both would break the engine everyone else uses. So the test's dockerds get their own default
bridge and --iptables=false: the shared engine already set FORWARD to DROP, so their labs pass routed traffic
only through the DOCKER-USER rules labctl's helper adds, the very rule under test. No lab runs on the shared
engine (its images are whatever tree built them last; a lab there could rebuild them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from labctl.runtime import labels
from labctl.runtime.docker import firewall
from tests import dockerd

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = Path(__file__).parent / "topologies"
LOCAL, ENG1, GROUP = "rmlocal", "rmeng1", "rmdock"
ENGINES = {"rmeng2": ("rm2br0", "10.98.255.1/24"), "rmeng3": ("rm3br0", "10.99.255.1/24")}  # user: bridge, address
SSHD, DOCKERD = "/usr/sbin/sshd", shutil.which("dockerd") or "/usr/sbin/dockerd"
CLEAN = {"containers": 0, "networks": 0, "helpers": 0, "rules": 0}


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (it creates users and starts sshd and two dockerds)"
    for tool in (SSHD, DOCKERD, "ssh-keygen", "useradd", "runuser", "docker", "ip", "fuse-overlayfs"):
        if not shutil.which(tool):
            return f"{tool} not found (openssh-server: scripts/host-deps.sh installs it)"
    if not Path("/usr/bin/python3").exists():
        return "no /usr/bin/python3 for the unprivileged user"
    try:
        import paramiko  # noqa: F401
    except ImportError:
        return "paramiko missing: pip install -e '.[remote]'"
    if run("docker", "info", check=False).returncode != 0:
        return "no Docker engine on this machine (the image source)"
    return None


def run(*cmd: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=120, **kw)  # type: ignore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def wait_for(what: str, ok: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not come up in {timeout:.0f}s"
        time.sleep(0.2)


@dataclass
class Remote:
    base: Path
    port: int
    source: str  # ssh:// URL of this machine's shared engine (read only: images are copied from it)
    engines: dict[str, str]  # user -> ssh:// URL of the engine the test started
    sockets: dict[str, Path]  # user -> that engine's socket
    local_home: Path

    def labctl(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """labctl as the unprivileged local user (system python, this checkout and its venv's packages)."""
        site = Path(docker.__file__).resolve().parents[1]
        env = {"HOME": str(self.local_home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
               "PYTHONPATH": f"{ROOT}:{site}", "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.run(["runuser", "-u", LOCAL, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                               "/usr/bin/python3", "-m", "labctl.cli", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=str(ROOT))

    def client(self, user: str) -> docker.DockerClient:
        return docker.DockerClient(base_url=f"unix://{self.sockets[user]}", timeout=60)


def make_user(name: str, home: Path, groups: str | None = None) -> None:
    run("userdel", name, check=False)
    run("useradd", "-M", "-d", str(home), "-s", "/bin/sh", *(["-G", groups] if groups else []), name)
    run("usermod", "-p", "*", name)  # no password, not locked: sshd takes a key for it
    home.mkdir(parents=True, exist_ok=True)
    shutil.chown(home, name, name)
    home.chmod(0o700)


def start_dockerd(where: Path, bridge: str, address: str, procs: list[subprocess.Popen[bytes]]) -> Path:
    """A dockerd of the test's own (see tests/dockerd.py), its users in GROUP."""
    proc, sock = dockerd.start(where, bridge, address, GROUP)
    procs.append(proc)
    return sock


@pytest.fixture(scope="module")
def remote() -> Iterator[Remote]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    began = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="rm-remote-", dir="/tmp"))
    base.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []
    created: list[str] = []
    bridges: list[str] = []
    try:
        run("groupadd", "-f", GROUP)
        for user, groups in ((LOCAL, None), (ENG1, "docker"), *((u, GROUP) for u in ENGINES)):
            make_user(user, base / "home" / user, groups)
            created.append(user)
        # keys: a host key for sshd, a user key for the local user, authorized for the remote users
        (base / "sshd").mkdir()
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "sshd" / "host_key"))
        ssh_dir = base / "home" / LOCAL / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh_dir / "id_ed25519"))
        keys = base / "sshd" / "keys"
        keys.mkdir()
        for user in (ENG1, *ENGINES):
            (keys / user).write_text((ssh_dir / "id_ed25519.pub").read_text())
            (keys / user).chmod(0o644)
        port = free_port()
        host_pub = (base / "sshd" / "host_key.pub").read_text().split()
        (ssh_dir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        run("chown", "-R", f"{LOCAL}:{LOCAL}", str(ssh_dir))
        config = base / "sshd" / "sshd_config"
        config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base}/sshd/host_key\n"
                          f"PidFile {base}/sshd/sshd.pid\nAuthorizedKeysFile {keys}/%u\nPasswordAuthentication no\n"
                          "KbdInteractiveAuthentication no\nPermitRootLogin no\nUsePAM no\n"
                          "StrictModes no\n"  # the key files live under /tmp (world-writable): sshd would refuse
                          f"AllowUsers {ENG1} {' '.join(ENGINES)}\n")  # MaxSessions: the default (10)
        Path("/run/sshd").mkdir(exist_ok=True)
        procs.append(subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                      stderr=open(base / "sshd" / "log", "wb")))  # noqa: SIM115
        wait_for("sshd", lambda: port_open(port) or procs[-1].poll() is not None)
        assert procs[-1].poll() is None, (base / "sshd" / "log").read_text()
        sockets = {}
        for user, (bridge, address) in ENGINES.items():
            bridges.append(bridge)
            sockets[user] = start_dockerd(base / user, bridge, address, procs)
            home = base / "home" / user
            for args in (("create", "rm", "--docker", f"host=unix://{sockets[user]}"), ("use", "rm")):
                run("runuser", "-u", user, "--", "env", f"HOME={home}", "docker", "context", *args)
        print(f"remote fixture ready in {time.monotonic() - began:.1f}s")
        yield Remote(base, port, f"ssh://{ENG1}@127.0.0.1:{port}",
                     {user: f"ssh://{user}@127.0.0.1:{port}" for user in ENGINES}, sockets, base / "home" / LOCAL)
    finally:
        dockerd.stop(procs, base, bridges)
        for user in created:
            run("userdel", user, check=False)
        run("groupdel", GROUP, check=False)
        shutil.rmtree(base, ignore_errors=True)


def leftovers(client: docker.DockerClient, lab: str) -> dict[str, int]:
    return {"containers": len(client.containers.list(all=True, filters=labels.lab_filter(lab))),
            "networks": len(client.networks.list(filters=labels.lab_filter(lab))),
            "helpers": len(client.containers.list(all=True, filters={"label": labels.HELPER})),
            "rules": len(firewall.lab_rules(client, lab))}


def test_the_local_user_has_no_engine_and_no_iptables(remote: Remote) -> None:
    """The premise: without SSH the unprivileged user reaches nothing, so what follows went over SSH."""
    for sock in ("/var/run/docker.sock", *map(str, remote.sockets.values())):
        out = remote.labctl("--engine", f"unix://{sock}", "status")
        assert out.returncode == 3 and "Traceback" not in out.stderr, out.stderr
        assert "PermissionError" in out.stderr or "Permission denied" in out.stderr, out.stderr
    assert run("runuser", "-u", LOCAL, "--", "iptables", "-S", check=False).returncode != 0


def test_clean_errors_for_refused_and_unauthorised(remote: Remote) -> None:
    refused = remote.labctl("--engine", f"ssh://{ENG1}@127.0.0.1:{free_port()}", "status")
    assert refused.returncode == 3 and "cannot reach" in refused.stderr and "Traceback" not in refused.stderr
    denied = remote.labctl("--engine", f"ssh://{LOCAL}@127.0.0.1:{remote.port}", "status")  # not allowed in
    assert denied.returncode == 3 and "authentication" in denied.stderr and "Traceback" not in denied.stderr


def test_images_move_between_engines_only_when_missing(remote: Remote) -> None:
    eng2, eng3 = remote.engines["rmeng2"], remote.engines["rmeng3"]
    built = remote.labctl("--engine", eng2, "images", "build", "--from", remote.source)
    assert built.returncode == 0, built.stderr[-3000:]
    print(built.stderr[-1500:])
    assert "transferred labctl/base" in built.stderr, built.stderr[-2000:]  # node/host too, if the source's match
    moved = remote.labctl("--engine", eng3, "images", "build", "--from", eng2)  # engine to engine, both over SSH
    assert moved.returncode == 0 and moved.stderr.count("transferred labctl/") == 3, moved.stderr[-2000:]
    again = remote.labctl("--engine", eng3, "images", "build", "--from", eng2)
    assert again.returncode == 0 and "transferred" not in again.stderr and "built" not in again.stderr


def test_up_status_failover_down_over_ssh(remote: Remote) -> None:
    engine = ("--engine", remote.engines["rmeng2"])
    client = remote.client("rmeng2")
    try:
        up = remote.labctl(*engine, "up", str(TOPOLOGIES / "rmone.yaml"))
        assert up.returncode == 0, up.stderr[-3000:]
        status = remote.labctl(*engine, "status", "rmone", "--json")
        assert status.returncode == 0, status.stderr
        nodes = json.loads(status.stdout)["nodes"]
        assert {n["name"] for n in nodes} >= {"gw1", "gw2", "peer"} and all(n["running"] for n in nodes), nodes
        assert len(firewall.lab_rules(client, "rmone")) == 4  # added on the engine's host by the helper
        failover = remote.labctl(*engine, "failover", "rmone", "--json")
        verdict = json.loads(failover.stdout)
        print("verdict over ssh:", verdict.get("verdict"), verdict.get("outage_ms"), verdict.get("converge_ms"),
              verdict.get("reasons"))
        assert failover.returncode in (0, 1) and verdict.get("verdict") in ("pass", "fail"), failover.stderr
        assert verdict.get("converged") is True, verdict  # the convergence poll worked across the clock domains
    finally:
        down = remote.labctl(*engine, "down", "rmone")
    assert down.returncode == 0, down.stderr
    assert leftovers(client, "rmone") == CLEAN


def test_a_matrix_over_two_engines(remote: Remote) -> None:
    eng2, eng3 = remote.engines["rmeng2"], remote.engines["rmeng3"]
    where = remote.base / "matrix"  # readable and writable by the local user (pytest's tmp_path is not)
    where.mkdir(mode=0o777)
    where.chmod(0o777)
    matrix = where / "rm.yaml"
    matrix.write_text(f"name: rm-two-engines\ndescription: one cell per topology, one topology per engine\n"
                      f"topologies:\n  rmone: {TOPOLOGIES / 'rmone.yaml'}\n  rmtwo: {TOPOLOGIES / 'rmtwo.yaml'}\n"
                      "matrix:\n  - topologies: [rmone, rmtwo]\n    faults: [node-kill]\n    modes: [stateful]\n")
    matrix.chmod(0o644)
    out = where / "report"
    result = remote.labctl("matrix", str(matrix), "--engine", eng2, "--engine", eng3, "--jobs", "1", "--out",
                           str(out), "--json")
    data = json.loads(result.stdout or "{}")
    assert "cells" in data, (result.stdout[-2000:], result.stderr[-3000:])
    cells = {c["id"]: c for c in data["cells"]}
    print("two-engine matrix:", f"{data['seconds']:.1f}s", {k: (c["status"], c["engine"], c["seconds"],
                                                                 c["mismatches"][:1]) for k, c in cells.items()})
    for c in cells.values():
        for d in ((c.get("verdict") or {}).get("probe") or {}).get("directions", []):
            print("  ", c["id"], {k: d.get(k) for k in ("name", "sent", "received", "lost_before", "lost_in_outage",
                                                         "lost_after", "sent_after", "longest_gap_ms")})
    assert {c["engine"] for c in cells.values()} == {eng2, eng3}  # one lab on each
    assert all(c["status"] in ("met", "unmet") for c in cells.values()), [c["error"] for c in cells.values()]
    for user in ENGINES:
        for lab in ("rmone", "rmtwo"):
            assert leftovers(remote.client(user), lab) == CLEAN

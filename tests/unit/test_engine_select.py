"""Which engine labctl talks to (--engine, LABCTL_ENGINE, DOCKER_HOST, Docker contexts), the clean one-line
errors for engines it cannot use, and the firewall/host-fact helpers' scripts and parsing (issue 15)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.errors import EnvironmentProblem, UsageError
from labctl.runtime.docker import client, firewall, hostinfo
from labctl.runtime.spec import bridge_name


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("LABCTL_ENGINE", "DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    client.select(None)
    yield tmp_path
    client.select(None)


def make_context(config: Path, name: str, host: str) -> None:
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))


def test_explicit_engine_beats_the_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABCTL_ENGINE", "tcp://10.95.0.1:2375")
    monkeypatch.setenv("DOCKER_HOST", "unix:///other.sock")
    assert client.resolve("ssh://u@127.0.0.1:2222") == "ssh://u@127.0.0.1:2222"
    assert client.resolve() == "tcp://10.95.0.1:2375"
    client.select("unix:///selected.sock")
    assert client.resolve() == "unix:///selected.sock"


def test_docker_host_then_the_current_context_then_local(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.resolve() is None
    make_context(clean_env, "lab-box", "ssh://me@10.95.0.7")
    (clean_env / "config.json").write_text(json.dumps({"currentContext": "lab-box"}))
    assert client.resolve() == "ssh://me@10.95.0.7"
    monkeypatch.setenv("DOCKER_HOST", "unix:///d.sock")
    assert client.resolve() == "unix:///d.sock"


def test_a_named_context(clean_env: Path) -> None:
    make_context(clean_env, "second", "unix:///run/rm2.sock")
    assert client.resolve("context:second") == "unix:///run/rm2.sock"
    assert client.resolve("context:default") is None
    with pytest.raises(EnvironmentProblem, match="no Docker context 'nope'"):
        client.resolve("context:nope")


def test_an_unknown_scheme_is_a_usage_error(clean_env: Path) -> None:
    with pytest.raises(UsageError, match="ssh://user@host"):
        client.resolve("ftp://x")


def test_connection_errors_come_down_to_their_cause() -> None:
    long = ("Error while fetching server API version: HTTPConnectionPool(host='127.0.0.1', port=1): Max retries "
            "(Caused by NewConnectionError(\"...: [Errno 111] Connection refused\"))")
    assert client._reason(Exception(long)) == "[Errno 111] Connection refused"
    wrapped = "('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"
    assert client._reason(Exception(wrapped)) == "FileNotFoundError: No such file or directory"


@pytest.mark.parametrize("engine", ["ssh://nobody@127.0.0.1:1", "tcp://127.0.0.1:1", "unix:///nonexistent.sock"])
def test_an_unreachable_engine_is_one_line_and_exit_3(engine: str, tmp_path: Path) -> None:
    """Port 1 on loopback refuses; the socket does not exist. No traceback, whatever the transport."""
    run = subprocess.run([sys.executable, "-m", "labctl.cli", "--engine", engine, "status"], capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr and run.stderr.count("\n") <= 2, run.stderr
    assert "error:" in run.stderr and engine.split("@")[-1].split("//")[-1] in run.stderr


def test_every_verb_takes_engine() -> None:
    from labctl.cli import main

    def walk(group: object) -> list:
        found = []
        for command in getattr(group, "commands", {}).values():
            found.append(command)
            found += walk(command)
        return found

    verbs = walk(main)
    assert len(verbs) > 15
    assert all(sum("--engine" in getattr(p, "opts", ()) for p in v.params) == 1 for v in verbs)


def test_missing_paramiko_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "paramiko", None)  # import paramiko -> ImportError
    with pytest.raises(EnvironmentProblem, match=r"labctl\[remote\]"):
        client._ssh_client("ssh://u@127.0.0.1:1", 5)


def test_routes_of_the_engine_host_skip_default_and_lab_bridges() -> None:
    routes = [{"dst": "default", "dev": "eth0"}, {"dst": "10.95.0.0/24", "dev": "lc0123456789a"},
              {"dst": "172.17.0.0/16", "dev": "docker0"}, {"dst": "10.96.0.0/16", "dev": "eth1"}]
    assert hostinfo.routed_prefixes(routes) == ["172.17.0.0/16", "10.96.0.0/16"]


@pytest.mark.skipif(not shutil.which("sh"), reason="needs a POSIX shell")
def test_the_firewall_scripts_add_once_and_remove_only_their_lab(tmp_path: Path) -> None:
    """The helper's shell scripts against a fake iptables that keeps its rules in a file."""
    state = tmp_path / "rules"
    state.write_text("-A DOCKER-USER -j RETURN\n"
                     '-A DOCKER-USER -i lcother -o lcother -m comment --comment "labctl.lab=other" -j ACCEPT\n')
    fake = tmp_path / "iptables"
    fake.write_text(f"""#!/usr/bin/env python3
import sys
args = [a for a in sys.argv[1:] if a != "-w"]
rules = open("{state}").read().splitlines()
op, chain, rest = args[0], args[1], args[2:]
def norm(r): return [t.strip('"') for t in r]
if op == "-S":
    print("-N DOCKER-USER"); print("\\n".join(rules)); sys.exit(0)
spec = ["-A", chain, *rest]
quoted = [f'"{{t}}"' if t.startswith("labctl.lab=") else t for t in spec]
present = any(norm(r.split()) == norm(spec) for r in rules)
if op == "-C":
    sys.exit(0 if present else 1)
if op == "-I":
    rules.insert(0, " ".join(quoted))
if op == "-D":
    if not present: sys.exit(1)
    rules = [r for r in rules if norm(r.split()) != norm(spec)]
open("{state}", "w").write("\\n".join(rules) + "\\n")
""")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    for _ in range(2):
        out = subprocess.run(["sh", "-c", firewall.allow_script("rm1", ["lcaaa", "lcbbb"])], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.split()[-1] == "ok", out
    assert state.read_text().count("labctl.lab=rm1") == 2  # idempotent
    out = subprocess.run(["sh", "-c", firewall.remove_script("rm1")], env=env, capture_output=True, text=True)
    assert out.stdout.split()[-2:] == ["removed", "2"], out
    assert "rm1" not in state.read_text() and "labctl.lab=other" in state.read_text()
    # two engines on one host, the same lab on each: each removes its own rules (and the unscoped form) only
    for scope in ("e1", "e2"):
        subprocess.run(["sh", "-c", firewall.allow_script("rm1", [f"lc{scope}"], scope)], env=env, check=True)
    subprocess.run(["sh", "-c", firewall.allow_script("rm1", ["lcold"])], env=env, check=True)
    out = subprocess.run(["sh", "-c", firewall.remove_script("rm1", "e1")], env=env, capture_output=True, text=True)
    assert out.stdout.split()[-2:] == ["removed", "2"], out
    left = state.read_text()
    assert "labctl.lab=rm1@e2" in left and "lce1" not in left and "lcold" not in left
    assert firewall._rule_lab(left.splitlines()[0].split()) == "rm1"  # the lab, whatever engine added it


def test_bridge_names_differ_per_engine_and_stay_short() -> None:
    """Two engines on one host must not share a lab's bridges (the second `up` joined the first's); the
    compose demo's unscoped names stay as they were."""
    names = {bridge_name("dual", "inside"), bridge_name("dual", "inside", "e1"), bridge_name("dual", "inside", "e2")}
    assert len(names) == 3 and all(len(n) <= 15 and n.startswith("lc") for n in names)
    assert bridge_name("dual", "inside", "e1") == bridge_name("dual", "inside", "e1")


class FakeChannel:
    """A paramiko channel as far as the Docker library's SSH connection uses it; counts open ones."""

    lock = __import__("threading").Lock()
    open_now = 0
    most = 0

    def __init__(self) -> None:
        with FakeChannel.lock:
            FakeChannel.open_now += 1
            FakeChannel.most = max(FakeChannel.most, FakeChannel.open_now)
        self.closed = False

    def settimeout(self, _t: float) -> None:
        pass

    def exec_command(self, _cmd: str) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with FakeChannel.lock:
                FakeChannel.open_now -= 1


def test_parallel_requests_never_hold_more_channels_than_the_permits() -> None:
    """30 threads, half of them keeping their connection (idle in the pool), half closing it (a hijacked exec
    stream): never more than SSH_POOL channels at once, and nobody waits forever."""
    import random
    import threading
    import time
    from types import SimpleNamespace as NS

    pytest.importorskip("paramiko", reason="the remote extra (paramiko) is not installed")
    from docker.transport.sshconn import SSHConnectionPool

    from labctl.runtime.docker.ssh import BoundedChannel

    transport = NS(open_session=FakeChannel)
    pool = SSHConnectionPool(ssh_client=NS(get_transport=lambda: transport), timeout=5, maxsize=client.SSH_POOL)
    permits = threading.BoundedSemaphore(client.SSH_POOL)
    pool._new_conn = lambda: BoundedChannel(pool, permits, client.CHANNEL_WAIT, client.SSH_POOL)
    FakeChannel.open_now = FakeChannel.most = 0
    done: list[int] = []

    def request(n: int) -> None:
        conn = pool._get_conn(timeout=None)
        if conn.sock is None:
            conn.connect()
        time.sleep(random.uniform(0.001, 0.02))
        if n % 2:
            conn.close()
            pool._put_conn(None)  # what urllib3 does for a connection it lost
        else:
            pool._put_conn(conn)
        done.append(n)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(done) == 30
    assert 2 <= FakeChannel.most <= client.SSH_POOL


def test_labctl_runs_without_the_remote_extra() -> None:
    """paramiko is the `remote` extra: every verb must import (and local engines work) without it."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['paramiko'] = None; "  # any `import paramiko` now raises ImportError
            "import labctl.cli, labctl.lab, labctl.runtime.docker.engine, labctl.matrix.run")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_engine_scope_tells_two_dockerds_of_one_host_apart() -> None:
    """Both dockerds of one host report the same `docker info` ID (the host's key.json): the data root splits
    them; the same engine asked twice keeps its scope."""

    class Info:
        def __init__(self, root: str) -> None:
            self.root = root

        def info(self) -> dict:
            return {"ID": "T4O6:KMUN", "DockerRootDir": self.root}

    first, second = client.engine_scope(Info("/var/lib/docker")), client.engine_scope(Info("/tmp/e2/data"))
    assert first != second and len(first) == 8
    assert client.engine_scope(Info("/var/lib/docker")) == first
    # ... while the host is the same for both (they share its CPUs: one quiet gate)
    assert client.engine_host(Info("/var/lib/docker")) == client.engine_host(Info("/tmp/e2/data")) == "T4O6:KMUN"


def test_an_engine_without_an_id_is_a_host_of_its_own() -> None:
    class NoId:
        def __init__(self, root: str) -> None:
            self.root = root

        def info(self) -> dict:
            return {"DockerRootDir": self.root}

    a, b = client.engine_host(NoId("/a")), client.engine_host(NoId("/b"))
    assert a != b and a == client.engine_scope(NoId("/a"))

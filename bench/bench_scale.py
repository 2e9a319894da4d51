"""Easy VPN scale: N clients (default 10, 50, 200) on the easy-vpn topology, half of them vpnc.

Prints per N: time for `up` (every client connected with a pool address), time from the last client
connected to the standby being STANDBY HOT, how many clients keep their session and virtual IP across a
node kill of the Active gateway (strongSwan: the same IKE SA SPIs; vpnc: the same process, never restarted),
per cause for those that did not, and memory per gateway. A figure, not a test.

    .venv/bin/python bench/bench_scale.py                 # 10 50 200, half vpnc
    .venv/bin/python bench/bench_scale.py 10 --settle 15 --vpnc-share 0
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from labctl.experiment.events import sidecar_events
from labctl.lab import load, open_lab, up
from labctl.nodes import client as clients
from labctl.nodes import gateway
from labctl.runtime.docker.client import get_client
from labctl.runtime.docker.engine import DockerEngine
from labctl.runtime.docker.handle import DockerLab, DockerNode
from labctl.runtime.spec import VPNC_LOG, container_name

ROOT = Path(__file__).resolve().parents[1]


def topology_for(count: int, workdir: Path, vpnc_share: float) -> Path:
    """The shipped easy-vpn lab with `count` clients, each with its own XAuth user, `vpnc_share` of them vpnc."""
    data = yaml.safe_load((ROOT / "topologies" / "easy-vpn.yaml").read_text())
    data["name"] = "ezscale"
    data["easyvpn"]["users"] = {f"user{i}": f"pass-{i:04d}" for i in range(1, count + 1)}
    data["easyvpn"]["clients"]["count"] = count
    data["easyvpn"]["clients"]["first_address"] = "10.31.0.20"  # room for 200 clients on the outside /24
    data["easyvpn"]["clients"]["vpnc"] = round(count * vpnc_share)
    path = workdir / f"ezscale-{count}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def memory_mib(lab: str, node: str) -> float:
    stats = get_client().containers.get(container_name(lab, node)).stats(stream=False)
    return stats.get("memory_stats", {}).get("usage", 0) / 2**20


def last_connect(topo) -> float:
    """Wall-clock time of the last strongSwan client's `IKE_SA ... established` (from the clients' own charon logs;
    vpnc's log has no timestamps)."""
    latest = 0.0
    today = datetime.now(UTC).date()
    for name in topo.easyvpn.client_names():
        code, out = DockerNode(get_client(), topo.name, name).exec(
                                    ["grep", "-h", "IKE_SA .* established", "/var/log/charon.log"])
        lines = out.strip().splitlines() if code == 0 else []
        if lines:
            clock = datetime.strptime(lines[-1][:12], "%H:%M:%S.%f").time()
            latest = max(latest, datetime.combine(today, clock, UTC).timestamp())
    return latest


def hot_delay(topo, standby: str, since: float) -> str:
    """Seconds from `since` until the standby's sidecar logged STANDBY HOT (its own event stamps)."""
    text = DockerNode(get_client(), topo.name, standby).logs(since=since - 600)
    states = [e for e in sidecar_events(standby, text, since - 600, float("inf")) if e["kind"] == "redundancy"]
    after = [e for e in states if e["time"] >= since and e["detail"].endswith("STANDBY HOT")]
    if after:
        return f"{after[0]['time'] - since:5.2f}s"
    before = [e for e in states if e["time"] < since]
    return "stayed HOT" if before and before[-1]["detail"].endswith("STANDBY HOT") else "never HOT"


def identity(report: dict) -> tuple:
    """What a kept session keeps: strongSwan its IKE SA's SPIs, vpnc its process (never restarted); both the
    virtual IP, always last."""
    if report["kind"] == "vpnc":
        return ("vpnc", report["pid"], report["starts"], report["virtual_ip"])
    return ("strongswan", report["ike_sa"]["initiator_spi"], report["ike_sa"]["responder_spi"], report["virtual_ip"])


def identities(topo) -> dict[str, tuple]:
    lab = DockerLab(get_client(), topo.name)
    return {r["name"]: identity(r) for r in clients.reports(topo, lab) if r["state"] == "connected"}


def causes(before: dict[str, tuple], after: dict[str, tuple]) -> dict[str, int]:
    """Why each client that had a session before the kill does not have the same one after it."""
    still = {name: (ident, after[name]) for name, ident in before.items() if name in after}
    return {"not connected": len(before) - len(still),
            "new IKE SA": sum(1 for old, new in still.values() if old[0] == "strongswan" and old[1:3] != new[1:3]),
            "vpnc restarted": sum(1 for old, new in still.values() if old[0] == "vpnc" and old[1:3] != new[1:3]),
            "other address": sum(1 for old, new in still.values() if old[-1] != new[-1])}


def run(count: int, workdir: Path, settle: float, vpnc_share: float, verbose: bool = False) -> None:
    client = get_client()
    path = topology_for(count, workdir, vpnc_share)
    topo = load(path)
    DockerEngine(client).down(topo.name)
    try:
        result = up(path, engine=DockerEngine(client), timeout=60 + count * 3)
        stages = result.stages
        connected = next((t for s, t in stages.items() if s.startswith("Easy VPN clients")), float("nan"))
        active = open_lab(DockerLab(client, topo.name)).active_gateway()
        standby = next(n for n in topo.ha.nodes if n != active)
        hot = hot_delay(topo, standby, last_connect(topo))
        mem = {n: memory_mib(topo.name, n) for n in topo.ha.nodes}
        ready = time.monotonic() + 60  # a client may have re-negotiated since `up`: kill only a HOT pair
        while (gateway.sidecar_status(DockerNode(client, topo.name, standby)) or {}).get("redundancy") != "STANDBY HOT":
            if time.monotonic() > ready:
                print(f"{count:4} clients: standby never STANDBY HOT before the kill", flush=True)
                break
            time.sleep(0.2)
        before = identities(topo)
        DockerNode(client, topo.name, active).kill()
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            if (gateway.sidecar_status(DockerNode(client, topo.name, standby)) or {}).get("role") == "active":
                break
            time.sleep(0.2)
        time.sleep(settle / 2)
        after = identities(topo)
        kept = sum(1 for name, ident in before.items() if after.get(name) == ident)
        lost = causes(before, after)
        why = ", ".join(f"{n} {k}" for k, n in lost.items() if n)
        why = f" ({why})" if why else ""
        if verbose:
            for name in [n for n, ident in before.items() if after.get(n) != ident][:2]:
                log = VPNC_LOG if before[name][0] == "vpnc" else "/var/log/charon.log"
                _, out = DockerNode(client, topo.name, name).exec(["tail", "-n", "25", log])
                print(f"--- {name} (lost its session) {log} tail:\n{out}", flush=True)
        vpnc_count = sum(1 for ident in before.values() if ident[0] == "vpnc")
        print(f"{count:4} clients ({vpnc_count} vpnc)  up {result.seconds:6.1f}s  all connected at {connected:6.1f}s  "
              f"standby STANDBY HOT {hot} after the last client's IKE SA  "
              f"survived {kept}/{len(before)}{why}  memory gw1 {mem['gw1']:.0f} MiB gw2 {mem['gw2']:.0f} MiB",
              flush=True)
    finally:
        DockerEngine(client).down(topo.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", nargs="*", type=int, default=[10, 50, 200])
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait after the kill")
    parser.add_argument("--vpnc-share", type=float, default=0.5, help="share of the clients that run vpnc")
    parser.add_argument("--verbose", action="store_true", help="show the log of clients that lost their session")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.counts:
            run(count, Path(tmp), args.settle, args.vpnc_share, args.verbose)


if __name__ == "__main__":
    main()

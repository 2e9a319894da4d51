"""Which hosts a probe runs between (pure: from the topology)."""

from __future__ import annotations

from netaddr import IPAddress, IPNetwork

from labctl.model.topology import Topology


def inside_and_remote_hosts(topo: Topology) -> tuple[str | None, str | None]:
    """First host behind the HA pair and first host behind the remote peer (probe endpoints)."""

    def host_in(subnets: list) -> str | None:
        for name, host in topo.hosts.items():
            ip = IPAddress(str(next(iter(host.addresses.values()))))
            if any(ip in IPNetwork(str(s)) for s in subnets):
                return name
        return None

    return host_in(topo.crypto.local_subnets), host_in(topo.crypto.remote_subnets)


def host_address(topo: Topology, host: str) -> str:
    return str(next(iter(topo.hosts[host].addresses.values())))

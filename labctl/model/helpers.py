"""Pure questions about a topology that several layers ask (the controller, the lab facade, the views).

Answered here once, from the model alone, so that no caller re-derives them with its own assumptions.
"""

from __future__ import annotations

from netaddr import IPAddress, IPNetwork

from labctl.model.topology import Topology


def preferred_gateway(topo: Topology) -> str:
    """The gateway HSRP makes Active in a whole lab, as RFC 2281 elects: the highest priority, and on equal
    priorities the higher IP address on the crypto (outside) group's interface."""
    network = topo.crypto_interface.network

    def rank(node: str) -> tuple[int, int]:
        spec = topo.ha.nodes[node]
        address = spec.addresses.get(network)
        return spec.priority, int(IPAddress(str(address))) if address is not None else -1

    return max(topo.ha.nodes, key=rank)


def host_address(topo: Topology, host: str) -> str:
    """A host's only address (a host has exactly one network)."""
    return str(next(iter(topo.hosts[host].addresses.values())))


def inside_and_remote_hosts(topo: Topology) -> tuple[str | None, str | None]:
    """The probe endpoints: first host behind the HA pair (inside `crypto.local_subnets`) and first host behind
    the remote peer (inside `crypto.remote_subnets`); None where the lab has no such host."""

    def host_in(subnets: list[object]) -> str | None:
        networks = [IPNetwork(str(s)) for s in subnets]
        return next((name for name in topo.hosts if any(IPAddress(host_address(topo, name)) in n for n in networks)),
                    None)

    return host_in(list(topo.crypto.local_subnets)), host_in(list(topo.crypto.remote_subnets))

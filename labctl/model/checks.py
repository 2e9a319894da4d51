"""Addressing checks pydantic cannot express: subnets, uniqueness, overlaps (netaddr)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from netaddr import IPAddress, IPNetwork

from labctl.model.dpd import dpd_margins
from labctl.model.topology import Topology

Issue = tuple[tuple[str | int, ...], str]

MAX_LAN_PREFIX = 30  # network, broadcast, the Docker bridge (.254 of a /24) and at least one node


def _net(value: Any) -> IPNetwork:
    return IPNetwork(str(value))


def check_topology(topo: Topology) -> list[Issue]:
    """Every address inside its network, unique, not a network/broadcast/.254 gateway; no overlaps."""
    issues: list[Issue] = []
    nets = {name: _net(net.subnet) for name, net in topo.networks.items()}

    for name, net in nets.items():
        if net.prefixlen > MAX_LAN_PREFIX:
            issues.append((("networks", name, "subnet"), f"{net} is too small for a lab network: a LAN needs a "
                           f"network and broadcast address, the Docker bridge and its nodes (/{MAX_LAN_PREFIX} "
                           "or larger)"))
    names = list(nets.items())
    for i, (name_a, net_a) in enumerate(names):
        for name_b, net_b in names[i + 1 :]:
            if net_a in net_b or net_b in net_a:
                issues.append((("networks", name_b, "subnet"), f"{net_b} overlaps network {name_a} ({net_a})"))

    seen: dict[IPAddress, str] = {}

    def check_address(loc: tuple[str | int, ...], network: str, address: Any, owner: str) -> None:
        if network not in nets:
            issues.append((loc, f"unknown network {network!r} (networks: {', '.join(nets)})"))
            return
        ip, net = IPAddress(str(address)), nets[network]
        if ip not in net:
            issues.append((loc, f"{ip} is not inside {network} ({net})"))
        elif net.size >= 4 and ip in (net.network, net.broadcast, net.broadcast - 1):
            issues.append((loc, f"{ip} is reserved in {net} (network, broadcast or the Docker bridge .254)"))
        if ip in seen:
            issues.append((loc, f"{ip} is already used by {seen[ip]}"))
        seen[ip] = owner

    sections = {"ha.nodes": topo.ha.nodes, "peers": topo.peers, "hosts": topo.hosts, "routers": topo.routers}
    for section, nodes in sections.items():
        for node, spec in nodes.items():
            for network, address in spec.addresses.items():
                loc = (*section.split("."), node, "addresses", network)
                check_address(loc, network, address, node)

    all_nodes = [n for nodes in sections.values() for n in nodes]
    if len(set(all_nodes)) != len(all_nodes):
        dup = sorted({n for n in all_nodes if all_nodes.count(n) > 1})
        issues.append(((), f"node names must be unique across ha.nodes, peers and hosts: {', '.join(dup)}"))

    ha = topo.ha
    # the sync network may be one of the HSRP LANs: the seed runs its IPC (SSO + state sync) over the inside
    # Ethernet1/0; the ha plugin and the SSO channel then use the gateways' own addresses on it
    if ha.sync_network not in nets:
        issues.append((("ha", "sync_network"), f"unknown network {ha.sync_network!r}"))
    # a group number is per interface (the guide allows the same one inside and outside): only the same
    # group twice on one network would be two routers claiming one group
    groups = [(i.network, i.group) for i in ha.interfaces]
    for index, iface in enumerate(ha.interfaces):
        loc = ("ha", "interfaces", index)
        if groups.index((iface.network, iface.group)) != index:
            issues.append(((*loc, "group"), f"HSRP group {iface.group} is already configured on {iface.network}"))
        check_address((*loc, "virtual_ip"), iface.network, iface.virtual_ip, f"virtual IP of group {iface.group}")
        for tracked in iface.track:
            if tracked not in [i.network for i in ha.interfaces]:
                issues.append(((*loc, "track", tracked), f"tracked interface {tracked!r} is not an HSRP interface"))
        if ha.hsrp.version == 1 and iface.group > 255:
            issues.append(((*loc, "group"), "HSRPv1 groups are 0-255 (use version: 2)"))
    for node, spec in ha.nodes.items():
        for needed in [i.network for i in ha.interfaces] + [ha.sync_network]:
            if needed not in spec.addresses:
                issues.append((("ha", "nodes", node, "addresses"), f"missing an address on {needed}"))

    for name, host in topo.hosts.items():
        (network, address), = host.addresses.items()
        gateway, loc = IPAddress(str(host.gateway)), ("hosts", name, "gateway")
        if network in nets and gateway not in nets[network]:
            issues.append((loc, f"{gateway} is not on {name}'s network {network} ({nets[network]}): the default "
                           "route needs a directly connected next hop"))
        elif gateway == IPAddress(str(address)):
            issues.append((loc, f"{gateway} is {name}'s own address"))

    for field in ("local_subnets", "remote_subnets"):
        for index, subnet in enumerate(getattr(topo.crypto, field)):
            if not any(_net(subnet) in net or net in _net(subnet) for net in nets.values()):
                issues.append((("crypto", field, index), f"{subnet} is not a lab network"))
    for index, remote in enumerate(topo.crypto.remote_subnets):
        for local in topo.crypto.local_subnets:
            if _net(remote) in _net(local) or _net(local) in _net(remote):
                issues.append((("crypto", "remote_subnets", index), f"{remote} overlaps local subnet {local}: "
                               "traffic between them could not tell the tunnel from the LAN"))
    if topo.easyvpn and (range_issue := _client_range(topo)):
        return [*issues, range_issue]  # the checks below compute every client's address
    issues += _check_routing(topo, nets)
    issues += check_dpd(topo)
    if topo.peers:
        for field in ("psk", "peer_id", "remote_subnets"):
            if not getattr(topo.crypto, field):
                issues.append((("crypto", field), "Field required (the lab has site-to-site peers)"))
        if topo.crypto.ike_version == 1:
            for field in ("local_subnets", "remote_subnets"):
                if len(getattr(topo.crypto, field)) > 1:
                    issues.append((("crypto", field), "IKEv1 negotiates one subnet pair per Quick Mode and charon "
                                   "proposes only the first: list one subnet (a supernet of them), or use IKEv2"))
    if topo.easyvpn:
        issues += _check_easyvpn(topo, nets, check_address)
    return issues


def _client_range(topo: Topology) -> Issue | None:
    """Easy VPN client addresses are counted up from first_address: they must stay valid IPv4 addresses."""
    clients = topo.easyvpn.clients  # type: ignore[union-attr]
    last = int(IPAddress(str(clients.first_address))) + clients.count - 1
    if last > 2**32 - 2:
        return (("easyvpn", "clients", "first_address"), f"{clients.count} clients from {clients.first_address} "
                "run past the last IPv4 address")
    return None


def check_warnings(topo: Topology) -> list[Issue]:
    """Advisories that do not refuse a lab. The guide's address-ordering rule: the inside and outside addresses
    of the two gateways are ordered the same way, because with equal priorities HSRP elects the higher address
    in each group separately, and opposite orders would make one gateway Active outside and the other inside."""
    warnings: list[Issue] = []
    nodes = list(topo.ha.nodes)
    if len(nodes) != 2:
        return warnings
    first, second = (topo.ha.nodes[n] for n in nodes)
    reference = topo.crypto_interface.network
    if reference not in first.addresses or reference not in second.addresses:
        return warnings
    higher = IPAddress(str(first.addresses[reference])) > IPAddress(str(second.addresses[reference]))
    for iface in topo.ha.interfaces:
        network = iface.network
        if network == reference or network not in first.addresses or network not in second.addresses:
            continue
        if (IPAddress(str(first.addresses[network])) > IPAddress(str(second.addresses[network]))) != higher:
            warnings.append(((("ha", "nodes", nodes[1], "addresses", network)),
                             f"{nodes[0]} and {nodes[1]} are ordered differently on {network} than on {reference}: "
                             "order the addresses the same way on every HSRP interface, or an election by address "
                             "(equal priorities) can make one gateway Active on one side and the other on the "
                             "other side"))
    return warnings


def _check_easyvpn(topo: Topology, nets: dict[str, IPNetwork], check_address: Any) -> list[Issue]:
    """Easy VPN: clients on a lab network, a pool that is no lab network, one user per client, RADIUS."""
    issues: list[Issue] = []
    ez = topo.easyvpn
    assert ez is not None
    clients_loc = ("easyvpn", "clients")
    if ez.clients.network not in nets:
        issues.append(((*clients_loc, "network"), f"unknown network {ez.clients.network!r}"))
    else:
        for name in ez.client_names():
            check_address((*clients_loc, "first_address"), ez.clients.network, ez.client_address(name), name)
    for name in ez.clients.overrides:
        if name not in ez.client_names():
            issues.append(((*clients_loc, "overrides", name),
                           f"no such client (clients are {', '.join(ez.client_names())})"))
    logins: dict[str, str] = {}
    for name in ez.client_names():
        user = str(ez.client_login(name)["user"])
        if user in logins:
            issues.append(((*clients_loc, "count"), f"{name} and {logins[user]} would both log in as {user!r}: "
                           "add users (a pool lease belongs to one user)"))
        logins.setdefault(user, name)
    pool = _net(ez.pool.subnet)
    for name, net in nets.items():
        if pool in net or net in pool:
            issues.append((("easyvpn", "pool", "subnet"), f"{pool} overlaps network {name} ({net}): the pool "
                           "must be routed through the tunnel, not be a lab network"))
    if topo.redundancy == "stateful" and pool.version == 4 and pool.prefixlen > 29:
        issues.append((("easyvpn", "pool", "subnet"), f"{pool} is too small for the synced (ha plugin) pool, "
                       "which skips pools smaller than a /29"))
    for index, subnet in enumerate(ez.split_include):
        if not any(_net(subnet) in net for net in nets.values()):
            issues.append((("easyvpn", "split_include", index), f"{subnet} is not inside a lab network"))
    if ez.xauth == "radius" and ez.radius is None:
        issues.append((("easyvpn", "radius"), "xauth: radius needs a radius: server (addresses, secret, nas_ip)"))
    if ez.radius:
        for network, address in ez.radius.addresses.items():
            check_address(("easyvpn", "radius", "addresses", network), network, address, "radius")
        nas = IPAddress(str(ez.radius.nas_ip))
        if any(nas in net for net in nets.values()) or nas in pool:
            issues.append((("easyvpn", "radius", "nas_ip"), f"{nas} must be a loopback address outside every lab "
                           "network and the pool (both gateways hold it)"))
    taken = set(topo.ha.nodes) | set(topo.peers) | set(topo.hosts)
    for node in topo.easyvpn_nodes():
        if node in taken:
            issues.append((("easyvpn",), f"node name {node} is generated for Easy VPN and already used"))
    return issues


def _check_routing(topo: Topology, nets: dict[str, IPNetwork]) -> list[Issue]:
    """Static routes point at a neighbour on an attached network; OSPF runs where the node has an address,
    and the gateways' OSPF has an OSPF router to talk to."""
    issues: list[Issue] = []

    def check_routes(loc: tuple[str | int, ...], routes: list[Any], attached: list[str]) -> None:
        for index, route in enumerate(routes):
            via = IPAddress(str(route.via))
            if not any(via in nets[n] for n in attached if n in nets):
                issues.append(((*loc, index, "via"), f"{via} is not on a network this node is attached to "
                               f"({', '.join(attached)}): a static route needs a directly connected next hop"))

    gateway_networks = [n for n in nets if all(n in spec.addresses for spec in topo.ha.nodes.values())]
    check_routes(("ha", "routes"), topo.ha.routes, gateway_networks)
    for name, peer in topo.peers.items():
        check_routes(("peers", name, "routes"), peer.routes, list(peer.addresses))
    for name, router in topo.routers.items():
        check_routes(("routers", name, "routes"), router.routes, list(router.addresses))
        if router.ospf:
            for index, network in enumerate(router.ospf.networks):
                if network not in router.addresses:
                    issues.append((("routers", name, "ospf", "networks", index),
                                   f"{name} has no address on {network!r}: OSPF runs on its own networks "
                                   f"({', '.join(router.addresses)})"))
    ospf = topo.ha.ospf
    if ospf:
        if ospf.network not in gateway_networks:
            issues.append((("ha", "ospf", "network"), f"both gateways need an address on {ospf.network!r} to run "
                           f"OSPF there (shared networks: {', '.join(gateway_networks) or 'none'})"))
        if ospf.network == topo.ha.sync_network:
            issues.append((("ha", "ospf", "network"), "OSPF must not run on the sync network"))
        if ospf.redistribute_rri and not topo.ha.rri:
            issues.append((("ha", "ospf", "redistribute_rri"), "needs ha.rri: true (there are no RRI routes to "
                           "redistribute)"))
        speakers = [n for n, r in topo.routers.items() if r.ospf and ospf.network in r.ospf.networks]
        if not speakers:
            issues.append((("ha", "ospf"), f"no router runs OSPF on {ospf.network!r}: nothing would learn the RRI "
                           "routes (add a router with ospf.networks including it)"))
        elif any(topo.routers[n].ospf.area != ospf.area for n in speakers):  # type: ignore[union-attr]
            issues.append((("ha", "ospf", "area"), f"area {ospf.area} differs from the area of the routers on "
                           f"{ospf.network!r} ({', '.join(speakers)}): no adjacency would form"))
        elif any(topo.routers[n].ospf.timers != ospf.timers for n in speakers):  # type: ignore[union-attr]
            issues.append((("ha", "ospf", "timers"), f"hello/dead timers differ from the routers on {ospf.network!r} "
                           f"({', '.join(speakers)}): OSPF neighbours must agree on them"))

    issues += _check_tunnel_sources(topo)
    return issues


def _check_tunnel_sources(topo: Topology) -> list[Issue]:
    """kernel-libipsec installs a CHILD_SA's policy only when the node holds an address inside its local traffic
    selector: the gateways in each crypto.local_subnets prefix, each peer in each crypto.remote_subnets prefix.
    `tunnel_sources` are unused addresses; `host_sources` a host's own address (a host-to-host crypto ACL, as in
    the seed), which the node holds without a local route so traffic to it is still forwarded to the host."""
    issues: list[Issue] = []
    hosts = {IPAddress(str(a)) for name in topo.hosts for a in topo.addresses_of(name).values()}
    used = {IPAddress(str(a)) for node in topo.node_names() for a in topo.addresses_of(node).values()}
    sides: list[tuple[tuple[str | int, ...], str, list[Any], Any, list[Any]]] = [
        (("ha",), "local_subnets", list(topo.crypto.local_subnets), topo.ha,
         [a for spec in topo.ha.nodes.values() for a in spec.addresses.values()])]
    for name, peer in topo.peers.items():
        sides.append((("peers", name), "remote_subnets", list(topo.crypto.remote_subnets), peer,
                      list(peer.addresses.values())))
    for loc, field, subnets, spec, addresses in sides:
        nets = [_net(s) for s in subnets]
        where = ".".join(map(str, loc))
        sources = [IPAddress(str(a)) for a in spec.tunnel_sources]
        host_sources = [IPAddress(str(a)) for a in spec.host_sources]
        for kind, listed in (("tunnel_sources", sources), ("host_sources", host_sources)):
            for index, source in enumerate(listed):
                if not any(source in subnet for subnet in nets):
                    issues.append(((*loc, kind, index), f"{source} is not inside a crypto.{field} prefix"))
                if kind == "tunnel_sources" and source in used:
                    issues.append(((*loc, kind, index), f"{source} is a node's address: pick an unused one (a "
                                   f"host's own address, for a host-to-host ACL, goes to {where}.host_sources)"))
                if kind == "host_sources" and source not in hosts:
                    issues.append(((*loc, kind, index), f"{source} is no host's address (host_sources are the "
                                   "hosts of a host-to-host ACL; an unused address goes to tunnel_sources)"))
        own = [IPAddress(str(a)) for a in addresses]
        who = "the gateways have" if loc[0] == "ha" else f"peer {loc[1]} has"
        for index, subnet in enumerate(nets):
            if not any(a in subnet for a in own + sources + host_sources):
                issues.append((("crypto", field, index), f"{who} no address in {subnet}: the userspace ESP "
                               f"(kernel-libipsec) cannot route into the tunnel; add an unused address of it to "
                               f"{where}.tunnel_sources (or, for a host-to-host ACL, the host's own address to "
                               f"{where}.host_sources)"))
    return issues


def check_dpd(topo: Topology) -> list[Issue]:
    """A stateful lab keeps its IKE SA only if the far end's DPD is still waiting when the standby is Active
    (labctl.model.dpd): refuse a DPD that gives up first, with the smallest DPD delay that would not."""
    if topo.redundancy != "stateful":
        return []
    issues: list[Issue] = []
    for margin in dpd_margins(topo):
        if margin.survives:
            continue
        loc = ("crypto", "dpd") if margin.who == "peer" else ("easyvpn", "dpd")
        owner = "the peer's" if margin.who == "peer" else "the clients'"
        rekey = " + IKEv1 Quick Mode rekey" if margin.ike_version == 1 else ""
        issues.append((loc, f"a stateful takeover takes {margin.takeover_ms:.0f} ms (HSRP hold {topo.ha.hsrp.hold} "
                       f"ms + takeover allowance {topo.failover.takeover_allowance} ms{rekey}), but {owner} DPD "
                       f"({margin.dpd_ms // 1000}s) gives up first: {margin.explain()}; the {margin.who} would drop "
                       f"the IKE SA and re-negotiate. Fix: {'.'.join(loc)}: {margin.minimum_dpd_s()}s or more, or "
                       "shorter HSRP timers (ha.hsrp.hold)"))
    return issues


def check_host_overlap(topo: Topology, host_networks: Iterable[Any]) -> list[Issue]:
    """Refuse lab subnets that overlap the host's own routes (default route excluded)."""
    issues: list[Issue] = []
    host_nets = [IPNetwork(str(n)) for n in host_networks if IPNetwork(str(n)).prefixlen > 0]
    for name, net in topo.networks.items():
        lab_net = _net(net.subnet)
        for host_net in host_nets:
            if lab_net in host_net or host_net in lab_net:
                issues.append(
                    (("networks", name, "subnet"), f"{lab_net} overlaps the host's route {host_net}: pick another")
                )
    return issues

"""The topology model: what a lab is, independent of how (Docker) it is run.

Pydantic checks shapes and types; `labctl.model.checks` checks the addressing with netaddr.
Durations are written as `200ms`, `3s` or a plain number of seconds and stored in milliseconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyAddress,
    IPvAnyNetwork,
    PlainSerializer,
    model_validator,
)

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,20}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, None: 1000}


def parse_duration_ms(value: object) -> int:
    """Accept `250ms`, `3s`, `1m` or a bare number of seconds; return milliseconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 200ms or 3s")
    if isinstance(value, int | float):
        return int(value * 1000)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return int(float(match.group(1)) * _UNIT_MS[match.group(2)])
    raise ValueError(f"expected a duration like 200ms or 3s, got {value!r}")


# serialised back as "<n>ms" so a dumped model validates to the same values
DurationMs = Annotated[int, BeforeValidator(parse_duration_ms), Field(ge=0), PlainSerializer(lambda v: f"{v}ms")]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently change a lab."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Network(Strict):
    subnet: IPvAnyNetwork


class HsrpTimers(Strict):
    version: Literal[1, 2] = 2
    hello: DurationMs = 3000
    hold: DurationMs = 10000
    preempt: bool = False
    preempt_delay: DurationMs = 0
    reload_delay: DurationMs = 0
    auth: str = Field(default="cisco", max_length=8)


class HsrpInterface(Strict):
    """One HSRP group on one LAN of the pair (`standby N ip VIP` on that interface)."""

    network: Name
    group: int = Field(ge=0, le=4095)
    virtual_ip: IPvAnyAddress
    track: dict[Name, int] = Field(default_factory=dict)
    crypto: bool = False


class HaNode(Strict):
    priority: int = Field(default=100, ge=0, le=255)
    addresses: dict[Name, IPvAnyAddress]


class ReplayInterval(Strict):
    inbound: int = Field(default=1000, ge=1)
    outbound: int = Field(default=10000, ge=1)


class Route(Strict):
    """A static route (`ip route TO VIA`); `via` must be on a network the node is attached to."""

    to: IPvAnyNetwork
    via: IPvAnyAddress


class OspfTimers(Strict):
    """Hello and dead interval on every OSPF interface. Fast by default (dead 1 s, 4 hellos a second: FRR's
    `ip ospf dead-interval minimal hello-multiplier 4`) so the inside router follows a failover in about
    a second; IOS defaults are `hello: 10s, dead: 40s` (whole seconds above a 1 s dead interval)."""

    hello: DurationMs = 250
    dead: DurationMs = 1000

    @model_validator(mode="after")
    def _expressible(self) -> OspfTimers:
        if self.dead == 1000:
            if self.hello <= 0 or 1000 % self.hello or not 2 <= 1000 // self.hello <= 10:
                raise ValueError("with dead: 1s, hello must divide a second into 2-10 hellos (e.g. 250ms)")
        elif self.dead < 1000 or self.dead % 1000 or self.hello % 1000 or not 0 < self.hello < self.dead:
            raise ValueError("hello and dead are whole seconds with hello < dead (or dead: 1s, hello: 250ms)")
        return self

    @property
    def hello_multiplier(self) -> int | None:
        """Hellos per second when the dead interval is FRR's `minimal` (1 s), else None."""
        return 1000 // self.hello if self.dead == 1000 else None


class RouterOspf(Strict):
    """OSPF (FRR ospfd) on a router: `network <subnet> area <area>` for each listed lab network."""

    area: int = Field(default=0, ge=0)
    networks: list[Name] = Field(min_length=1)
    timers: OspfTimers = OspfTimers()


class Router(Strict):
    """A plain IP router (FRR when `ospf` is set): an edge router toward the outside network, or an
    inside router that learns the remote subnets from the Active gateway by OSPF."""

    addresses: dict[Name, IPvAnyAddress] = Field(min_length=1)
    routes: list[Route] = Field(default_factory=list)
    ospf: RouterOspf | None = None


class HaOspf(Strict):
    """The gateways run OSPF on one LAN and announce the RRI routes as external type 2, like the tech note's
    `router ospf 1` + `redistribute static subnets`: only the Active gateway has them, so the inside
    routers follow the Active gateway without a static route by hand."""

    area: int = Field(default=0, ge=0)
    network: Name
    redistribute_rri: bool = True
    timers: OspfTimers = OspfTimers()


class HaPair(Strict):
    group_name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
    sync_network: Name
    sync_key: str = Field(min_length=8)
    hsrp: HsrpTimers = HsrpTimers()
    interfaces: list[HsrpInterface] = Field(min_length=1)
    nodes: dict[Name, HaNode] = Field(min_length=2, max_length=2)
    replay_interval: ReplayInterval = ReplayInterval()
    rri: bool = True
    routes: list[Route] = Field(default_factory=list)  # static routes on both gateways
    ospf: HaOspf | None = None
    # kernel-libipsec routes into the tunnel only with a local address inside the local traffic selector: when a
    # protected LAN sits behind an inside router, both gateways hold one of these on lo (never announced)
    tunnel_sources: list[IPvAnyAddress] = Field(default_factory=list)


class Peer(Strict):
    """A remote site-to-site gateway (plain strongSwan, no HA)."""

    addresses: dict[Name, IPvAnyAddress]
    routes: list[Route] = Field(default_factory=list)  # e.g. to the VIP via an edge router (single-interface)


class Host(Strict):
    """An end host used as probe source or sink; routes everything via `gateway`."""

    addresses: dict[Name, IPvAnyAddress] = Field(min_length=1, max_length=1)
    gateway: IPvAnyAddress


class EasyVpnPool(Strict):
    """`ip local pool NAME ...`: identical on both gateways, leases synced (ha plugin `pools`)."""

    name: str = Field(default="ezpool", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
    subnet: IPvAnyNetwork


class RadiusServer(Strict):
    """A FreeRADIUS container for XAuth (and accounting); the pair talks to it from a shared loopback."""

    addresses: dict[Name, IPvAnyAddress] = Field(min_length=1, max_length=1)
    secret: str = Field(min_length=6)
    nas_ip: IPvAnyAddress  # `interface loopback0` + `ip radius source-interface loopback0` on both gateways
    auth_port: int = Field(default=1812, ge=1, le=65535)
    acct_port: int = Field(default=1813, ge=1, le=65535)
    accounting: bool = True


class EasyVpnClientOverride(Strict):
    """What one generated client does differently (to demonstrate failures)."""

    user: str | None = None
    password: str | None = None  # the XAuth password it sends (wrong: XAuth fails)
    group_psk: str | None = None  # the group key it uses (wrong: IKE authentication fails)
    connect: bool = True  # false: configured but not started by `up` (`swanctl --initiate` it later)


class EasyVpnClients(Strict):
    """`count` Easy VPN client containers client1..N on `network`, from `first_address` upwards;
    client N logs in as the N-th user unless an override names another."""

    count: int = Field(ge=1, le=250)
    network: Name
    first_address: IPvAnyAddress
    overrides: dict[Name, EasyVpnClientOverride] = Field(default_factory=dict)


class EasyVpn(Strict):
    """IKEv1 remote access (Cisco Easy VPN server): aggressive mode, group PSK, XAuth, mode-config pool,
    split include, `reverse-route remote-peer`."""

    group: str = Field(min_length=1)  # crypto isakmp client configuration group NAME
    group_psk: str = Field(min_length=8)
    pool: EasyVpnPool
    split_include: list[IPvAnyNetwork] = Field(default_factory=list)  # empty: crypto.local_subnets
    xauth: Literal["local", "radius"] = "local"
    users: dict[str, str] = Field(min_length=1)  # name -> password (local users, and the RADIUS users file)
    radius: RadiusServer | None = None
    clients: EasyVpnClients
    dpd: DurationMs = 5000

    def client_names(self) -> list[str]:
        return [f"client{i}" for i in range(1, self.clients.count + 1)]

    def client_address(self, name: str) -> str:
        from netaddr import IPAddress

        return str(IPAddress(str(self.clients.first_address)) + self.client_names().index(name))

    def client_login(self, name: str) -> dict[str, object]:
        """user, password, group_psk, connect and `expect_failure` of one client, overrides applied."""
        override = self.clients.overrides.get(name, EasyVpnClientOverride())
        users = list(self.users)
        user = override.user or users[self.client_names().index(name) % len(users)]
        password = override.password if override.password is not None else self.users.get(user, "")
        group_psk = override.group_psk if override.group_psk is not None else self.group_psk
        bad = user not in self.users or password != self.users.get(user) or group_psk != self.group_psk
        return {"user": user, "password": password, "group_psk": group_psk, "connect": override.connect,
                "expect_failure": bad}


class Crypto(Strict):
    ike_version: Literal[1, 2] = 2
    ike_proposals: list[str] = Field(min_length=1)
    esp_proposals: list[str] = Field(min_length=1)
    psk: str | None = Field(default=None, min_length=8)  # site-to-site (peers) only, like peer_id
    gateway_id: str
    peer_id: str | None = None
    local_subnets: list[IPvAnyNetwork] = Field(min_length=1)
    remote_subnets: list[IPvAnyNetwork] = Field(default_factory=list)  # behind the peers
    dpd: DurationMs = 5000


class FailoverPolicy(Strict):
    """Verdict thresholds used by `labctl failover` unless flags override them."""

    max_outage_ms: int = Field(default=3000, ge=0)
    converge_timeout: DurationMs = 30000


class Topology(Strict):
    name: Name
    description: str = ""
    redundancy: Literal["stateful", "stateless"] = "stateful"
    networks: dict[Name, Network] = Field(min_length=1)
    ha: HaPair
    peers: dict[Name, Peer] = Field(default_factory=dict)
    hosts: dict[Name, Host] = Field(default_factory=dict)
    routers: dict[Name, Router] = Field(default_factory=dict)
    crypto: Crypto
    easyvpn: EasyVpn | None = None
    failover: FailoverPolicy = FailoverPolicy()

    @property
    def crypto_interface(self) -> HsrpInterface:
        """The HSRP group whose VIP is the IKE/ESP endpoint (first one flagged `crypto`)."""
        return next((i for i in self.ha.interfaces if i.crypto), self.ha.interfaces[0])

    def peer_ike_address(self, peer: str) -> str:
        """Where a remote peer talks IKE/ESP from: its address on the VIP's network, else (the VIP is routed,
        e.g. behind an edge router in single-interface) the first address it lists."""
        addresses = self.peers[peer].addresses
        return str(addresses.get(self.crypto_interface.network, next(iter(addresses.values()))))

    def with_overrides(self, overrides: dict[str, object]) -> Topology:
        """The same lab with `up` overrides applied: `redundancy`, `hello`/`hold` (durations)."""
        topo = self
        if overrides.get("redundancy"):
            topo = topo.model_copy(update={"redundancy": overrides["redundancy"]})
        timers = {k: parse_duration_ms(overrides[k]) for k in ("hello", "hold") if overrides.get(k) is not None}
        if timers:
            hsrp = topo.ha.hsrp.model_copy(update=timers)
            topo = topo.model_copy(update={"ha": topo.ha.model_copy(update={"hsrp": hsrp})})
        return Topology.model_validate(topo.model_dump())

    def node_names(self) -> list[str]:
        return [*self.ha.nodes, *self.peers, *self.hosts, *self.routers, *self.easyvpn_nodes()]

    def easyvpn_nodes(self) -> dict[str, str]:
        """Easy VPN client containers and the RADIUS server: node name -> role."""
        if not self.easyvpn:
            return {}
        nodes = dict.fromkeys(self.easyvpn.client_names(), "client")
        if self.easyvpn.xauth == "radius" and self.easyvpn.radius:
            nodes["radius"] = "radius"
        return nodes

    def role_of(self, node: str) -> str:
        if node in self.ha.nodes:
            return "ha-gateway"
        if node in self.peers:
            return "peer"
        if node in self.hosts:
            return "host"
        if node in self.routers:
            return "router"
        if node in self.easyvpn_nodes():
            return self.easyvpn_nodes()[node]
        raise KeyError(node)

    def addresses_of(self, node: str) -> dict[str, IPvAnyAddress]:
        for group in (self.ha.nodes, self.peers, self.hosts, self.routers):
            if node in group:
                return dict(group[node].addresses)
        role = self.easyvpn_nodes().get(node)
        if role == "client":
            return {self.easyvpn.clients.network: self.easyvpn.client_address(node)}  # type: ignore[union-attr]
        if role == "radius":
            return dict(self.easyvpn.radius.addresses)  # type: ignore[union-attr]
        raise KeyError(node)

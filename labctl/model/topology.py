"""The topology model: what a lab is, independent of how (Docker) it is run.

Pydantic checks shapes and types; `labctl.model.checks` checks the addressing with netaddr.
Durations are written as `200ms`, `3s` or a plain number of seconds and stored in milliseconds.

Defaults live only in `defaults.yaml` (merged by the loader): a field it supplies is required here, so a value
cannot differ between the two. What stays here is absence (`None`, an empty list or mapping), never a value.
Addresses are IPv4 only: the containers run with IPv6 disabled and HSRP here carries IPv4 VIPs.
Text that is written into swanctl.conf, strongswan.conf, FreeRADIUS files or scripts is restricted to characters
that cannot end a value, open a block or start a comment there (`Secret`, `Identity`, `Proposal`, `OneLine`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from ipaddress import IPv4Address as _IPv4Address
from ipaddress import IPv4Network as _IPv4Network
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyAddress,
    IPvAnyNetwork,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from labctl.errors import TopologyError

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,20}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


def _ipv4(value: object) -> object:
    """The lab is IPv4 only (see the module docstring): say so instead of failing later in Docker or HSRP."""
    if not isinstance(value, _IPv4Address | _IPv4Network):
        raise ValueError("IPv6 is not supported: the lab containers run with IPv6 disabled (use an IPv4 address)")
    return value


# any address parses (so a typo gets pydantic's usual message); an IPv6 one is then refused by name
IPv4Address = Annotated[IPvAnyAddress, AfterValidator(_ipv4)]
IPv4Network = Annotated[IPvAnyNetwork, AfterValidator(_ipv4)]

U32 = 2**32 - 1  # the widest timer/counter any consumer carries (HSRPv2 timers are 4-byte milliseconds)

_DURATION = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,6})?)\s*(ms|s|m)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, None: 1000}


def parse_duration_ms(value: object) -> int:
    """Accept `250ms`, `3s`, `1m` or a bare number of seconds; return milliseconds.

    Only finite values: `.inf`/`.nan` or a number too large for a float would otherwise crash `int()`.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration like 200ms or 3s")
    if isinstance(value, int | float):
        ms = value * 1000
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        ms = float(match.group(1)) * _UNIT_MS[match.group(2)]
    else:
        raise ValueError(f"expected a duration like 200ms or 3s, got {_short(value)}")
    if isinstance(ms, float) and not math.isfinite(ms):
        raise ValueError(f"expected a finite duration like 200ms or 3s, got {_short(value)}")
    if not -U32 <= ms <= U32:
        raise ValueError(f"duration out of range (at most {U32} ms, about 49.7 days)")
    return int(ms)


def _short(value: object) -> str:
    """repr() cut short: an error message must stay one readable line whatever the input was."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


# serialised back as "<n>ms" so a dumped model validates to the same values; the JSON Schema shows what a
# file may say (`200ms`, `3s`, seconds as a number), not the milliseconds stored
DurationMs = Annotated[int, BeforeValidator(parse_duration_ms), Field(ge=0, le=U32),
                       PlainSerializer(lambda v: f"{v}ms"),
                       WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m)?\s*$"},
                                                 {"type": "number", "minimum": 0}],
                                       "description": "a duration: 200ms, 3s, 1m or a number of seconds"})]

# Characters allowed in secrets: no whitespace, quote, backslash, brace, `#`, `$`, `%`, `;`, `=` or `,`, so the
# value is safe both inside swanctl's "..." and as a bare word in strongswan.conf and FreeRADIUS clients.conf.
_SECRET = re.compile(r"[A-Za-z0-9._@:+/!*^~-]+")
# IKE identities, the Easy VPN group and XAuth user names are written unquoted (swanctl `id = ...`, the
# FreeRADIUS users file): a word of FQDN/e-mail/IP characters.
_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,254}")
_PROPOSAL = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _bad_characters(value: str, allowed: re.Pattern[str]) -> str:
    bad = sorted({ch for ch in value if not allowed.fullmatch(ch)} - {""})
    return " ".join(repr(ch) for ch in bad[:8])


def _secret(value: str) -> str:
    if not _SECRET.fullmatch(value):
        raise ValueError(f"contains {_bad_characters(value, re.compile(r'[A-Za-z0-9._@:+/!*^~-]'))}, which would "
                         "break swanctl.conf or FreeRADIUS syntax: use letters, digits and . _ @ : + / ! * ^ ~ -")
    return value


def _identity(value: str) -> str:
    if not _IDENTITY.fullmatch(value):
        raise ValueError("must be one word of letters, digits and . _ @ : - (an FQDN, e-mail or IP address) "
                         "starting with a letter or digit: it is written unquoted into swanctl.conf and the "
                         "FreeRADIUS users file")
    return value


def _proposal(value: str) -> str:
    if not _PROPOSAL.fullmatch(value):
        raise ValueError("must be a strongSwan proposal like aes256-sha256-modp2048 (lower-case algorithm "
                         "names joined by -)")
    return value


_AH = re.compile(r"(^|-)ah(-|$)|^ah[a-z0-9]")
AH_REFUSAL = ("AH is not available here: the userspace ESP (kernel-libipsec) does ESP in UDP only, tunnel mode; "
              "use ESP with integrity instead, e.g. esp_proposals: [3des-md5] for the seed's `ah-md5-hmac esp-3des` "
              "(or aes128-sha1 for `ah-sha-hmac esp-aes`)")


def _not_ah(value: str) -> str:
    """IOS `ah-md5-hmac` / `ah-sha-hmac` (or a swanctl `ah_proposals` value) cannot run on kernel-libipsec."""
    if _AH.search(value):
        raise ValueError(f"{value!r}: {AH_REFUSAL}")
    return value


def _one_line(value: str) -> str:
    """Free text lands in comments of rendered files: a newline or control character would end the comment."""
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError("must be one line of printable text (no newline, tab or control character)")
    return value


Secret = Annotated[str, AfterValidator(_secret)]
Identity = Annotated[str, AfterValidator(_identity)]
Proposal = Annotated[str, AfterValidator(_proposal)]
EspProposal = Annotated[str, AfterValidator(_proposal), AfterValidator(_not_ah)]
OneLine = Annotated[str, AfterValidator(_one_line), Field(max_length=200)]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently change a lab."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Network(Strict):
    subnet: IPv4Network


HSRP_V1_MAX_MS = 255_000  # HSRPv1 carries hello/hold as one byte of seconds
HSRP_DELAY_MAX_MS = 3_600_000  # IOS: standby preempt delay minimum / delay reload 0-3600 s


class HsrpTimers(Strict):
    """`standby timers`, `standby preempt [delay]`, `standby delay reload`, `standby authentication`.

    The timers must fit the wire of the version (v1: one byte of seconds, v2: four bytes of milliseconds,
    ms values that are no whole second go out as 0 in v1 as IOS does) and hold must exceed hello."""

    version: Literal[1, 2]
    hello: DurationMs
    hold: DurationMs
    preempt: bool
    preempt_delay: DurationMs = Field(le=HSRP_DELAY_MAX_MS)
    reload_delay: DurationMs = Field(le=HSRP_DELAY_MAX_MS)
    auth: Secret = Field(min_length=1, max_length=8)  # 8 bytes of text in the packet
    # `standby authentication md5 key-string KEY`: replaces the text string on the wire (RFC 1828 keyed MD5)
    auth_md5: Annotated[Secret, Field(min_length=1, max_length=64)] | None
    # `standby delay minimum`: a group starts only once its interface has been up this long (None: IOS's
    # behaviour without the command, and `reload_delay` applies at every start)
    delay_minimum: Annotated[DurationMs, Field(le=HSRP_DELAY_MAX_MS)] | None

    @field_validator("hello", "hold")
    @classmethod
    def _fits_the_wire(cls, value: int, info: ValidationInfo) -> int:
        if value <= 0:
            raise ValueError("must be above 0 (a zero timer would flood the LAN or never expire)")
        if info.data.get("version") == 1 and value > HSRP_V1_MAX_MS:
            raise ValueError("HSRPv1 carries timers as one byte of seconds: at most 255s (or use version: 2)")
        if info.field_name == "hold" and "hello" in info.data and value <= info.data["hello"]:
            raise ValueError(f"hold time ({value} ms) must be greater than hello time ({info.data['hello']} ms)")
        return value


class HsrpInterface(Strict):
    """One HSRP group on one LAN of the pair (`standby N ip VIP` on that interface)."""

    network: Name
    group: int = Field(ge=0, le=4095)
    virtual_ip: IPv4Address
    # `standby N track INTERFACE decrement D`: IOS takes 1-255
    track: dict[Name, Annotated[int, Field(ge=1, le=255)]] = Field(default_factory=dict)
    crypto: bool


class HaNode(Strict):
    priority: int = Field(ge=0, le=255)
    addresses: dict[Name, IPv4Address]


class ReplayInterval(Strict):
    """`redundancy replay-interval inbound N outbound M`: the Active forwards an SA's ESP sequence state
    once it moved this many packets; the new Active continues outbound `outbound` past the last synced value."""

    inbound: int = Field(ge=1, le=U32)
    outbound: int = Field(ge=1, le=U32)


class Route(Strict):
    """A static route (`ip route TO VIA`); `via` must be on a network the node is attached to."""

    to: IPv4Network
    via: IPv4Address


class OspfTimers(Strict):
    """Hello and dead interval on every OSPF interface. Fast by default (dead 1 s, 4 hellos a second: FRR's
    `ip ospf dead-interval minimal hello-multiplier 4`) so the inside router follows a failover in about
    a second (two for a flow it hashed to the dead gateway's equal-cost route: FRR recomputes external routes
    1 s after the SPF); IOS defaults are `hello: 10s, dead: 40s` (whole seconds above a 1 s dead interval)."""

    hello: DurationMs
    dead: DurationMs

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

    area: int = Field(ge=0, le=U32)
    networks: list[Name] = Field(min_length=1)
    timers: OspfTimers


class Router(Strict):
    """A plain IP router (FRR when `ospf` is set): an edge router toward the outside network, or an
    inside router that learns the remote subnets from the Active gateway by OSPF."""

    addresses: dict[Name, IPv4Address] = Field(min_length=1)
    routes: list[Route] = Field(default_factory=list)
    ospf: RouterOspf | None = None


class HaOspf(Strict):
    """The gateways run OSPF on one LAN and announce the RRI routes as external type 2, like the tech note's
    `router ospf 1` + `redistribute static subnets`: only the Active gateway has them, so the inside
    routers follow the Active gateway without a static route by hand."""

    area: int = Field(ge=0, le=U32)
    network: Name
    redistribute_rri: bool
    timers: OspfTimers


class HaPair(Strict):
    group_name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
    sync_network: Name = Field(description="SSO channel + ha plugin sync; may be an HSRP LAN (the seed's IPC "
                                           "over the inside), the sync then runs in cleartext among its hosts")
    # `auto`: a random key per lab, made by `up` (a shared default key would be public to everyone)
    sync_key: Literal["auto"] | Annotated[Secret, Field(min_length=8)]
    hsrp: HsrpTimers
    interfaces: list[HsrpInterface] = Field(min_length=1)
    nodes: dict[Name, HaNode] = Field(min_length=2, max_length=2)
    replay_interval: ReplayInterval
    # how the new Active keeps the peer's anti-replay check: the same SAs with synced sequence numbers (a
    # patched libipsec in the node image), or a rekey of every CHILD_SA at takeover (new SAs start at 1)
    sequence_continuity: Literal["replay-sync", "rekey"]
    rri: bool
    routes: list[Route] = Field(default_factory=list)  # static routes on both gateways
    ospf: HaOspf | None = None
    # kernel-libipsec routes into the tunnel only with a local address inside the local traffic selector: when a
    # protected LAN sits behind an inside router, both gateways hold one of these on lo (never announced)
    tunnel_sources: list[IPv4Address] = Field(default_factory=list, description="unused addresses inside "
                                              "crypto.local_subnets held on lo (kernel-libipsec needs one)")
    # the same for a host-to-host crypto ACL (`permit ip host A host B`): the inside host's own address, held on
    # lo without its local route, so decrypted traffic to it is still forwarded to the host
    host_sources: list[IPv4Address] = Field(default_factory=list, description="host-to-host ACL: the inside "
                                            "host's own address, held on lo without a local route")


class Peer(Strict):
    """A remote site-to-site gateway (plain strongSwan, no HA)."""

    addresses: dict[Name, IPv4Address]
    routes: list[Route] = Field(default_factory=list)  # e.g. to the VIP via an edge router (single-interface)
    # like ha.tunnel_sources / ha.host_sources, for crypto.remote_subnets on this peer
    tunnel_sources: list[IPv4Address] = Field(default_factory=list, description="unused addresses inside "
                                              "crypto.remote_subnets held on lo (kernel-libipsec needs one)")
    host_sources: list[IPv4Address] = Field(default_factory=list, description="host-to-host ACL: the remote "
                                            "host's own address, held on lo without a local route")


class Host(Strict):
    """An end host used as probe source or sink; routes everything via `gateway`."""

    addresses: dict[Name, IPv4Address] = Field(min_length=1, max_length=1)
    gateway: IPv4Address


class EasyVpnPool(Strict):
    """`ip local pool NAME ...`: identical on both gateways, leases synced (ha plugin `pools`)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
    subnet: IPv4Network


class RadiusServer(Strict):
    """A FreeRADIUS container for XAuth (and accounting); the pair talks to it from a shared loopback."""

    addresses: dict[Name, IPv4Address] = Field(min_length=1, max_length=1)
    secret: Secret = Field(min_length=6)  # bare word in clients.conf and strongswan.conf
    nas_ip: IPv4Address  # `interface loopback0` + `ip radius source-interface loopback0` on both gateways
    auth_port: int = Field(ge=1, le=65535)
    acct_port: int = Field(ge=1, le=65535)
    accounting: bool


class EasyVpnClientOverride(Strict):
    """What one generated client does differently (to demonstrate failures); None: not overridden."""

    user: Identity | None = None
    password: Secret | None = None  # the XAuth password it sends (wrong: XAuth fails)
    group_psk: Secret | None = None  # the group key it uses (wrong: IKE authentication fails)
    connect: bool | None = None  # false: configured but not started by `up` (`swanctl --initiate` it later)


class EasyVpnClients(Strict):
    """`count` Easy VPN client containers client1..N on `network`, from `first_address` upwards;
    client N logs in as the N-th user unless an override names another. The last `vpnc` of them run vpnc
    (the open-source Cisco VPN client: the Cisco protocol as Cisco clients speak it), the others strongSwan."""

    count: int = Field(ge=1, le=250)
    network: Name
    first_address: IPv4Address
    overrides: dict[Name, EasyVpnClientOverride] = Field(default_factory=dict)
    vpnc: int = Field(ge=0, le=250)
    vpnc_dh: Literal["dh2", "dh5", "dh14"]  # vpnc --dh: the IKE (phase 1) DH group
    vpnc_pfs: bool  # vpnc --pfs VPNC_DH (else nopfs); the server then offers PFS in its own Quick Modes too

    @model_validator(mode="after")
    def _vpnc_within_count(self) -> EasyVpnClients:
        if self.vpnc > self.count:
            raise ValueError(f"vpnc ({self.vpnc}) cannot exceed count ({self.count})")
        return self


class EasyVpn(Strict):
    """IKEv1 remote access (Cisco Easy VPN server): aggressive mode, group PSK, XAuth, mode-config pool,
    split include, `reverse-route remote-peer`."""

    group: Identity  # crypto isakmp client configuration group NAME
    group_psk: Secret = Field(min_length=8)
    pool: EasyVpnPool
    split_include: list[IPv4Network] = Field(default_factory=list)  # empty: crypto.local_subnets
    xauth: Literal["local", "radius"]
    users: dict[Identity, Secret] = Field(min_length=1)  # name -> password (local users, the RADIUS users file)
    radius: RadiusServer | None = None
    clients: EasyVpnClients
    dpd: DurationMs = Field(description="the clients' DPD delay (IKEv1), checked like crypto.dpd")

    def client_names(self) -> list[str]:
        return [f"client{i}" for i in range(1, self.clients.count + 1)]

    def client_kind(self, name: str) -> Literal["strongswan", "vpnc"]:
        """Which client software the node runs: the last `clients.vpnc` clients run vpnc."""
        return "vpnc" if self.client_names().index(name) >= self.clients.count - self.clients.vpnc else "strongswan"

    def client_address(self, name: str) -> str:
        from netaddr import IPAddress

        return str(IPAddress(str(self.clients.first_address)) + self.client_names().index(name))

    def client_login(self, name: str) -> dict[str, object]:
        """user, password, group_psk, connect and `expect_failure` of one client, overrides applied."""
        override = self.clients.overrides.get(name) or EasyVpnClientOverride()
        users = list(self.users)
        user = override.user or users[self.client_names().index(name) % len(users)]
        password = override.password if override.password is not None else self.users.get(user, "")
        group_psk = override.group_psk if override.group_psk is not None else self.group_psk
        bad = user not in self.users or password != self.users.get(user) or group_psk != self.group_psk
        return {"user": user, "password": password, "group_psk": group_psk, "connect": override.connect is not False,
                "expect_failure": bad}


class Crypto(Strict):
    ike_version: Literal[1, 2]
    ike_proposals: list[Proposal] = Field(min_length=1)
    esp_proposals: list[EspProposal] = Field(min_length=1, description="ESP only: an IOS ah-* transform is "
                                             "refused, put its integrity into ESP (e.g. 3des-md5)")
    # swanctl's `ah_proposals`: accepted as a field only to refuse AH with the alternative named (AH_REFUSAL)
    ah_proposals: list[str] = Field(default_factory=list, description="refused: kernel-libipsec has no AH")
    psk: Secret | None = Field(default=None, min_length=8)  # site-to-site (peers) only, like peer_id
    gateway_id: Identity
    peer_id: Identity | None = None
    local_subnets: list[IPv4Network] = Field(min_length=1)
    remote_subnets: list[IPv4Network] = Field(default_factory=list)  # behind the peers
    dpd: DurationMs = Field(description="the peer's DPD delay; a stateful lab whose peer would give up before "
                                        "HSRP hold + takeover is refused, with the minimum named")

    @field_validator("ah_proposals")
    @classmethod
    def _no_ah(cls, value: list[str]) -> list[str]:
        if value:
            raise ValueError(AH_REFUSAL)
        return value


class FailoverPolicy(Strict):
    """Verdict thresholds used by `labctl failover` unless flags override them."""

    max_outage_ms: Annotated[int, Field(ge=0, le=U32)] | None  # None: derived from the timers (experiment/budget)
    takeover_allowance: DurationMs = Field(le=60_000)  # stateful budget = HSRP hold + this
    max_loss_percent: float = Field(ge=0, le=100, allow_inf_nan=False)  # per direction, once traffic flows again
    converge_timeout: DurationMs


class Topology(Strict):
    name: Name
    description: OneLine
    redundancy: Literal["stateful", "stateless"]
    networks: dict[Name, Network] = Field(min_length=1)
    ha: HaPair
    peers: dict[Name, Peer] = Field(default_factory=dict)
    hosts: dict[Name, Host] = Field(default_factory=dict)
    routers: dict[Name, Router] = Field(default_factory=dict)
    crypto: Crypto
    easyvpn: EasyVpn | None = None
    failover: FailoverPolicy

    @property
    def crypto_interface(self) -> HsrpInterface:
        """The HSRP group whose VIP is the IKE/ESP endpoint (first one flagged `crypto`)."""
        return next((i for i in self.ha.interfaces if i.crypto), self.ha.interfaces[0])

    @property
    def first_active_ms(self) -> int:
        """How long after the gateways start HSRP may need to elect an Active: the start delay (`standby delay
        reload` / `minimum`), then at most a hold time in Listen and one in Speak. `up` and the matrix must wait
        at least this long (the seeds' `standby delay reload 120`: over 2 minutes)."""
        hsrp = self.ha.hsrp
        return max(hsrp.reload_delay, hsrp.delay_minimum or 0) + 2 * hsrp.hold

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
        try:
            timers = {k: parse_duration_ms(overrides[k]) for k in ("hello", "hold") if overrides.get(k) is not None}
            if timers:
                hsrp = topo.ha.hsrp.model_copy(update=timers)
                topo = topo.model_copy(update={"ha": topo.ha.model_copy(update={"hsrp": hsrp})})
            return Topology.model_validate(topo.model_dump())
        except ValueError as exc:  # pydantic's ValidationError is one
            errors = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
            raise TopologyError("\n".join(
                f"lab {self.name}: override {'.'.join(str(p) for p in e['loc']) or 'hello/hold'}: {e['msg']}"
                for e in errors)) from None

    def node_names(self) -> list[str]:
        return [*self.ha.nodes, *self.peers, *self.hosts, *self.routers, *self.easyvpn_nodes()]

    def easyvpn_nodes(self) -> dict[str, str]:
        """Easy VPN client containers and the RADIUS server: node name -> role."""
        if not self.easyvpn:
            return {}
        nodes = {n: "vpnc" if self.easyvpn.client_kind(n) == "vpnc" else "client" for n in self.easyvpn.client_names()}
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

    def addresses_of(self, node: str) -> dict[str, IPv4Address]:
        for group in (self.ha.nodes, self.peers, self.hosts, self.routers):
            if node in group:
                return dict(group[node].addresses)
        role = self.easyvpn_nodes().get(node)
        if role in ("client", "vpnc"):
            return {self.easyvpn.clients.network: self.easyvpn.client_address(node)}  # type: ignore[union-attr]
        if role == "radius":
            return dict(self.easyvpn.radius.addresses)  # type: ignore[union-attr]
        raise KeyError(node)

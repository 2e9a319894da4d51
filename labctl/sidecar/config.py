"""The sidecar's typed config: what `/etc/labctl/sidecar.json` holds, as frozen dataclasses (stdlib only).

One definition serves both sides: the host-side renderer builds a `SidecarConfig` from the topology and
writes `to_json()`; the sidecar reads it with `load()`, which validates every key (a missing or mistyped
key is a `ConfigError` naming it, e.g. `groups[1].prefixlen`) instead of failing later on a KeyError.
No defaults for topology values here: `model/defaults.yaml` is their only source.

Build one from Python values:

    SidecarConfig(lab="dual", node="gw1", redundancy="stateful", group_name="HA-out", priority=110,
                  hsrp=HsrpSettings(version=2, hello_ms=200, hold_ms=700, preempt=True,
                                    preempt_delay_ms=0, reload_delay_ms=0, auth="cisco"),
                  groups=[GroupSettings(network="outside", group=1, virtual_ip="198.51.100.3",
                                        local_ip="198.51.100.11", prefixlen=24, track={"inside": 150},
                                        crypto=True), ...],
                  sso=SsoSettings(local_ip="10.9.0.11", peer_ip="10.9.0.12", key="..."),
                  ha_plugin=True, sequence_continuity="replay-sync",
                  replay_interval=ReplayInterval(inbound=1000, outbound=10000),
                  rri=RriSettings(enabled=True, routes=["10.2.0.0/24"], remote_peer=False))

Lists may be passed for the sequence fields (they are stored as tuples, so a config is immutable).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.sidecar.contract import SSO_PORT

__all__ = [
    "ConfigError",
    "GroupSettings",
    "HsrpSettings",
    "ReplayInterval",
    "RriSettings",
    "SidecarConfig",
    "SsoSettings",
    "load",
]

REDUNDANCY_MODES = ("stateful", "stateless")
# ESP sequence continuity at takeover: replay-state sync (see `replay`), a CHILD_SA rekey (`*1`), or neither
# (the no-rekey sabotage)
CONTINUITY_MODES = ("replay-sync", "rekey", "off")


class ConfigError(ValueError):
    """The sidecar config is missing a key, has one of the wrong type, or is inconsistent."""


def _freeze(obj: Any, name: str, kind: type) -> None:
    """Store a list argument as a tuple (frozen dataclasses cannot assign in __post_init__ otherwise)."""
    value = getattr(obj, name)
    if isinstance(value, list):
        object.__setattr__(obj, name, kind(value))


@dataclass(frozen=True)
class HsrpSettings:
    """Timers and options shared by every HSRP group of the node (IOS `standby ...` lines)."""

    version: int
    hello_ms: int
    hold_ms: int
    preempt: bool
    preempt_delay_ms: int
    reload_delay_ms: int
    auth: str
    # `standby authentication md5 key-string` (absent: text auth); left out of the JSON when None
    auth_md5_key: str | None = field(default=None, metadata={"omit_none": True})
    # `standby delay minimum` (absent: every start waits reload_delay_ms); left out of the JSON when None
    minimum_delay_ms: int | None = field(default=None, metadata={"omit_none": True})


@dataclass(frozen=True)
class GroupSettings:
    """One HSRP group: the network it runs on, its VIP, this node's address there and its tracking."""

    network: str
    group: int
    virtual_ip: str
    local_ip: str
    prefixlen: int
    track: dict[str, int] = field(hash=False)  # tracked network -> priority decrement
    crypto: bool  # the group whose VIP is the IKE endpoint

    def __post_init__(self) -> None:
        object.__setattr__(self, "track", dict(self.track))  # a private copy: nobody mutates ours
        if not 0 <= self.prefixlen <= 32:
            raise ConfigError(f"prefixlen {self.prefixlen} out of range 0-32")


@dataclass(frozen=True)
class SsoSettings:
    """The SSO channel on the sync network: both ends and the HMAC key."""

    local_ip: str
    peer_ip: str
    key: str
    port: int = SSO_PORT

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} out of range 1-65535")


@dataclass(frozen=True)
class ReplayInterval:
    """Replay-state sync intervals (packets): the Active forwards an SA's sequence state once it moved this
    far, and the new Active continues outbound this far past the last synced value (see `replay`)."""

    inbound: int
    outbound: int


@dataclass(frozen=True)
class RriSettings:
    """Reverse route injection: static routes to the remote subnets, plus one per client (remote_peer)."""

    enabled: bool
    routes: tuple[str, ...]
    remote_peer: bool

    def __post_init__(self) -> None:
        _freeze(self, "routes", tuple)


@dataclass(frozen=True)
class SidecarConfig:
    """Everything the sidecar of one HA gateway runs with."""

    lab: str
    node: str
    redundancy: str  # "stateful" | "stateless" (the topology's mode; ha_plugin says what actually runs)
    group_name: str
    priority: int
    hsrp: HsrpSettings
    groups: tuple[GroupSettings, ...]
    sso: SsoSettings
    ha_plugin: bool  # charon's ha plugin loaded (stateful and not sabotaged with no-sync)
    sequence_continuity: str  # one of CONTINUITY_MODES (`off` with the no-rekey sabotage)
    replay_interval: ReplayInterval
    rri: RriSettings
    # `--sabotage slow-takeover`: claim the VIPs this long after becoming HSRP Active; left out of the JSON when 0
    takeover_delay_ms: int = field(default=0, metadata={"omit_default": True})
    comment: str = field(default="", metadata={"key": "_comment"})

    def __post_init__(self) -> None:
        _freeze(self, "groups", tuple)
        if self.takeover_delay_ms < 0:
            raise ConfigError(f"takeover_delay_ms must not be negative, not {self.takeover_delay_ms}")
        if self.sequence_continuity not in CONTINUITY_MODES:
            raise ConfigError(f"sequence_continuity must be one of {', '.join(CONTINUITY_MODES)}, "
                              f"not {self.sequence_continuity!r}")
        if self.redundancy not in REDUNDANCY_MODES:
            raise ConfigError(f"redundancy must be one of {', '.join(REDUNDANCY_MODES)}, not {self.redundancy!r}")
        crypto = [g.network for g in self.groups if g.crypto]
        if len(crypto) != 1:
            raise ConfigError(f"exactly one group must have crypto: true, not {len(crypto)}")

    @property
    def replay_sync(self) -> bool:
        """ESP sequence state synced to the standby (needs the ha plugin: it syncs the SAs themselves)."""
        return self.ha_plugin and self.sequence_continuity == "replay-sync"

    @property
    def crypto_group(self) -> GroupSettings:
        """The group whose VIP is the IKE endpoint (the takeover waits for this VIP)."""
        return next(g for g in self.groups if g.crypto)

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, data: Any) -> SidecarConfig:
        """Validate and build from the JSON object; ConfigError names the first bad key."""
        return _build(cls, data, "")

    @classmethod
    def from_json(cls, text: str) -> SidecarConfig:
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"sidecar config: not valid JSON: {e}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> SidecarConfig:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError(f"sidecar config {path}: {e.strerror or e}") from None
        try:
            return cls.from_json(text)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (lists, plain dicts), exactly the shape from_dict reads."""
        return _plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def load(path: str | Path) -> SidecarConfig:
    """Read and validate the sidecar config file."""
    return SidecarConfig.load(path)


# ---------------------------------------------------------------------------------------------- internals
def _key(f: dataclasses.Field) -> str:
    return f.metadata.get("key", f.name)


def _omitted(obj: Any, f: dataclasses.Field) -> bool:
    value = getattr(obj, f.name)
    return (f.metadata.get("omit_none", False) and value is None) or \
        (f.metadata.get("omit_default", False) and value == f.default)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {_key(f): _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if not _omitted(obj, f)}
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return "list"
    if origin is dict:
        return "object"
    if dataclasses.is_dataclass(hint):
        return "object"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(hint))
    return {int: "integer", bool: "boolean", str: "string"}.get(hint, str(hint))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check one JSON value against a field's type hint and convert it (lists to tuples, nested objects)."""
    def wrong() -> ConfigError:
        return ConfigError(f"sidecar config: {where} must be {_type_name(hint)}, got {_kind(value)} {value!r:.40}")

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise wrong()
        return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise wrong()
        return {_coerce(k, args[0], f"{where} key"): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if args:  # X | None
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]  # only `X | None` is used here
        try:
            return _coerce(value, inner, where)
        except ConfigError:
            raise wrong() from None
    if hint is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if hint is int:
        # bool is an int in Python but never in this file; 2**63 bounds the numbers a config may carry
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
            raise wrong()
        return value
    if hint is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    raise TypeError(f"unsupported config type {hint!r} at {where}")  # a bug here, not in the file


def _build(cls: type, data: Any, where: str) -> Any:
    """One dataclass from a JSON object: every field without a default present, no unknown key."""
    label = where or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"sidecar config: {label} must be an object, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    known = {_key(f) for f in fields}
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise ConfigError(f"sidecar config: unknown key {_join(where, unknown[0])}")
    kwargs = {}
    for f in fields:
        key = _key(f)
        if key not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"sidecar config: missing key {_join(where, key)}")
            continue
        kwargs[f.name] = _coerce(data[key], hints[f.name], _join(where, key))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # ConfigError from __post_init__ included: say where
        raise ConfigError(f"sidecar config: {label}: {e}") from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key

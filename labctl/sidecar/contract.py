"""What the sidecar (producer, inside the gateway container) and host-side readers must agree on.

Every in-container path, port, route protocol, event kind and the event log-line format is defined here
once, so a reader (`labctl status`, `show`, the matrix timeline, readiness checks) and the sidecar cannot
drift apart. Stdlib only: this module ships into the gateway image with the rest of `labctl.sidecar`.
"""

from __future__ import annotations

import enum
import re
import time
from typing import NamedTuple

# ---------------------------------------------------------------------------------------------- paths, ports
RESTART_ENV = "LABCTL_SIDECAR_RESTARTED"  # "1" when the init loop restarts a crashed sidecar
STATUS_PATH = "/run/labctl/sidecar-status.json"  # JSON status the sidecar rewrites every tick (atomic replace)
CONFIG_PATH = "/etc/labctl/sidecar.json"  # the sidecar's config (labctl.sidecar.config.SidecarConfig as JSON)
CHARON_LOG = "/var/log/charon.log"  # charon's filelog (strongswan.conf `filelog { path = ... }`)
SSO_PORT = 4520  # UDP port of the sidecar-to-sidecar SSO channel on the sync network
RRI_PROTO = "77"  # kernel route protocol of RRI routes (`ip route show proto 77`)
TUNNEL_DEVICE = "ipsec0"  # libipsec's TUN device the RRI routes point at

# ---------------------------------------------------------------------------------------------- roles
# the node's HSRP role (all groups together), `role` in the status file and in `role` events
ROLE_ACTIVE = "active"
ROLE_STANDBY = "standby"
ROLE_INIT = "init"
ROLE_TRANSITION = "transition"


class Redundancy(enum.Enum):
    """IOS RF states with their numbers (`my state = 13 -ACTIVE`); `redundancy` in the status file."""

    DISABLED = (1, "DISABLED")
    INITIALIZATION = (2, "INITIALIZATION")
    STANDBY_COLD = (4, "STANDBY COLD")
    STANDBY_HOT = (8, "STANDBY HOT")
    ACTIVE = (13, "ACTIVE")

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def label(self) -> str:
        return self.value[1]

    @classmethod
    def from_label(cls, label: str) -> Redundancy:
        return next((s for s in cls if s.label == label), cls.DISABLED)


# ---------------------------------------------------------------------------------------------- events
# kinds of the sidecar's event lines (stdout, i.e. `docker logs`) and of the status file's `events`
EVENT_HSRP = "hsrp"  # an HSRP group changed state
EVENT_ROLE = "role"  # the node's role changed: "<old> -> <new>"
EVENT_REDUNDANCY = "redundancy"  # "my state <old label> -> <new label>"
EVENT_HA = "ha"  # ha plugin segment activated / deactivated / resync
EVENT_VIP = "vip"  # VIP claimed / released
EVENT_RRI = "rri"  # RRI routes injected / withdrawn / remote-peer routes
EVENT_TRACK = "track"  # interface tracking: line protocol up/down
EVENT_CHARON = "charon"  # charon started / reloading / not running
EVENT_SSO = "sso"  # bulk resync, SSO channel rejections
EVENT_SIDECAR = "sidecar"  # the sidecar itself (shutdown)
EVENT_KINDS = (EVENT_HSRP, EVENT_ROLE, EVENT_REDUNDANCY, EVENT_HA, EVENT_VIP, EVENT_RRI, EVENT_TRACK,
               EVENT_CHARON, EVENT_SSO, EVENT_SIDECAR)
EVENT_TIMELINE_KINDS = (EVENT_HSRP, EVENT_ROLE, EVENT_REDUNDANCY, EVENT_HA)  # what a failover timeline shows

# one event line: "HH:MM:SS kind: detail" (local time of the container, which is UTC in the lab images);
# unanchored so a reader can put Docker's log timestamp in front: rf"^(\S+)Z {EVENT_LINE_PATTERN}$"
EVENT_LINE_PATTERN = r"(\d\d:\d\d:\d\d) ([a-z]+): (.*)"
EVENT_LINE = re.compile(rf"^{EVENT_LINE_PATTERN}$")


class EventLine(NamedTuple):
    """One parsed event line; `clock` is the "HH:MM:SS" the sidecar printed."""

    clock: str
    kind: str
    detail: str


def format_event(kind: str, detail: str, when: float | None = None) -> str:
    """The line the sidecar prints for one event (`when`: wall-clock seconds, default now)."""
    return f"{time.strftime('%H:%M:%S', time.localtime(when))} {kind}: {detail}"


def parse_event(line: str) -> EventLine | None:
    """The inverse of format_event; None for any other line (tracebacks, charon output)."""
    match = EVENT_LINE.match(line.rstrip("\r\n"))
    return EventLine(*match.groups()) if match else None

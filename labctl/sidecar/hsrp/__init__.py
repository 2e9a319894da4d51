"""Real HSRP (RFC 2281 v1, Cisco v2) for the gateway sidecar: stdlib only.

``packet`` is the wire codec, ``fsm`` the pure state machine and the
two-group ``HsrpRouter``, ``transport`` the asyncio sockets/VIP driver.
"""

from .fsm import (
    MAX_LEARNED_HOLD_MS,
    Action,
    ClaimVip,
    GroupConfig,
    HsrpGroup,
    HsrpRouter,
    ReleaseVip,
    Send,
    StateChanged,
)
from .packet import HsrpPacket, Md5Auth, Opcode, PacketError, State, decode, encode, sign, verify

__all__ = [
    "MAX_LEARNED_HOLD_MS",
    "Action",
    "ClaimVip",
    "GroupConfig",
    "HsrpGroup",
    "HsrpPacket",
    "HsrpRouter",
    "Md5Auth",
    "Opcode",
    "PacketError",
    "ReleaseVip",
    "Send",
    "State",
    "StateChanged",
    "decode",
    "encode",
    "sign",
    "verify",
]

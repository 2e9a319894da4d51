"""Real HSRP (RFC 2281 v1, Cisco v2) for the gateway sidecar: stdlib only.

``packet`` is the wire codec, ``fsm`` the pure state machine and the
two-group ``HsrpRouter``, ``transport`` the asyncio sockets/VIP driver.
"""

from .fsm import Action, ClaimVip, GroupConfig, HsrpGroup, HsrpRouter, ReleaseVip, Send, StateChanged
from .packet import HsrpPacket, Opcode, PacketError, State, decode, encode

__all__ = [
    "Action",
    "ClaimVip",
    "GroupConfig",
    "HsrpGroup",
    "HsrpPacket",
    "HsrpRouter",
    "Opcode",
    "PacketError",
    "ReleaseVip",
    "Send",
    "State",
    "StateChanged",
    "decode",
    "encode",
]

"""Judges of a failover: who is asked whether the sessions survived (`failover.py` runs the procedure).

A judge records what the sessions' far ends hold before the fault, names the probes it needs, says when
the lab has converged, records what they hold afterwards, and turns all of that into verdict fields and
reasons with a pure function (unit-tested without a lab). In between, it shows the sessions still work:
every party rekeys its CHILD_SA through the new Active (`liveness`). `peer`: a site-to-site remote peer;
`clients`: every connected Easy VPN client.
"""

from __future__ import annotations

from typing import Protocol

from labctl.experiment.probe import ProbeResult, TrafficProbe
from labctl.experiment.verdict import Verdict


class Judge(Protocol):
    """What differs between kinds of sessions; everything else is the one procedure in `failover.py`."""

    def record_before(self, verdict: Verdict) -> None:
        """Read the sessions as they are before the fault (raise when there is nothing to judge)."""

    def probes(self, rate: float, max_duration: float) -> dict[str, TrafficProbe]:
        """The traffic probes the judge needs, by a name of the judge's choosing."""

    def describe(self, rate: float) -> str:
        """One progress line saying what is probed."""

    def not_flowing(self, idle: list[str]) -> str:
        """The error when the named probes carry no traffic before the fault."""

    def converged(self, probes: dict[str, TrafficProbe], since: float) -> bool:
        """Traffic (sent after monotonic `since`) flows again and the sessions are usable."""

    def record_after(self, verdict: Verdict) -> None:
        """Read the sessions once things settled."""

    def liveness(self, verdict: Verdict) -> None:
        """After `record_after`: each judging party starts an IKE exchange only the Active can answer (a
        CHILD_SA rekey, `judges/liveness.py`) and `verdict.liveness` says whether it was answered."""

    def judge(self, verdict: Verdict, results: dict[str, ProbeResult], expect_move: bool) -> None:
        """Fill in the outcome and the reasons from what was recorded (no lab access)."""

"""Experiments on a running lab: faults, the traffic probe, ONE failover procedure and its judges."""

"""Agents that run inside lab containers (stdlib only): the traffic probe."""

"""Probe endpoints now live in the model (`labctl.model.helpers`); kept importable for one step."""

from labctl.model.helpers import host_address, inside_and_remote_hosts

__all__ = ["host_address", "inside_and_remote_hosts"]

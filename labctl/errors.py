"""Errors that the CLI prints as one clean message instead of a traceback."""


class LabctlError(Exception):
    """A user-facing failure: the message is the whole story, no traceback needed."""

    exit_code = 1


class TopologyError(LabctlError):
    """A topology file is invalid; the message names file, line and field."""

    exit_code = 2


class ReadinessTimeout(LabctlError):
    """`up` gave up waiting; the message names what did not get ready."""

    exit_code = 3


class UsageError(LabctlError):
    """The command line itself is wrong (a missing or conflicting argument)."""

    exit_code = 2


class EnvironmentProblem(LabctlError):
    """The machine cannot run the lab: no engine, missing images or tools, a kernel limit."""

    exit_code = 3

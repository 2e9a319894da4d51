"""What every verb module shares: the `main` click group, the consoles, clean errors, JSON output."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import click
from rich.console import Console

from labctl import __version__
from labctl.errors import LabctlError

console = Console()
err_console = Console(stderr=True)


# exit codes, documented in the README and in `labctl --help`
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3


def clean_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """User errors print one message (JSON with --json) and exit with the error's code; tracebacks are for
    bugs only."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LabctlError as exc:
            if kwargs.get("as_json"):
                emit_json({"error": str(exc), "kind": type(exc).__name__, "exit_code": exc.exit_code})
            else:
                err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/] (run `labctl down LAB` to clean up)")
            sys.exit(130)
        except Exception as exc:
            # the engine went away mid-command (SSH channel refused, connection reset): one line, exit 3
            if type(exc).__module__.split(".")[0] not in ENGINE_LIBRARIES:
                raise
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            message = f"lost the Docker engine: {type(exc).__name__}: {first}"
            if kwargs.get("as_json"):
                emit_json({"error": message, "kind": "EnvironmentProblem", "exit_code": EXIT_ENVIRONMENT})
            else:
                err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            sys.exit(EXIT_ENVIRONMENT)

    return wrapper


ENGINE_LIBRARIES = ("docker", "paramiko", "requests", "urllib3")  # their errors are the engine's, not labctl bugs


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


ENGINE_HELP = ("Docker engine: ssh://user@host[:port] (needs the `remote` extra), tcp://host:port, unix:///path "
               "or context:NAME [default: LABCTL_ENGINE, DOCKER_HOST, the current Docker context, the local socket].")


def _select_engine(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        from labctl.lab import select_engine

        select_engine(value)
    return value


def engine_option() -> click.Option:
    """`--engine URL`, shared by every verb (and the group): picks the engine for the whole process."""
    return click.Option(["--engine"], metavar="URL", envvar="LABCTL_ENGINE", expose_value=False,
                        is_eager=True, callback=_select_engine, help=ENGINE_HELP)


class LabctlGroup(click.Group):
    """Every verb gets `--engine` without repeating it (a verb with its own `--engine`, `matrix`, keeps it)."""

    group_class = type  # sub-groups (`images`) are LabctlGroups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any("--engine" in getattr(p, "opts", ()) for p in cmd.params):
            cmd.params.append(engine_option())
        super().add_command(cmd, name)


@click.group(cls=LabctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="labctl")
def main() -> None:
    """Stand up an IPsec VPN HA pair (real strongSwan + HSRP) in Docker, break it, prove what survived.

    \b
    Typical session:
      labctl up topologies/dual-interface.yaml     # build images if needed, start, wait for the tunnel
      labctl status dual                           # nodes, HSRP/redundancy state, live IKE/CHILD SAs
      labctl down dual                             # remove everything the lab made

    \b
    Exit codes: 0 success (a verdict PASS), 1 a verdict FAIL or an unmet matrix, 2 a usage error or an
    invalid topology/matrix file, 3 the environment (no engine, images, kernel), 130 interrupted.

    \b
    Any verb runs against a remote engine: --engine ssh://user@host (or LABCTL_ENGINE, a Docker context).
    """


main.params.append(engine_option())  # `labctl --engine URL VERB ...` as well as `labctl VERB --engine URL`


MILESTONES = ("ready:", "built", "up to date", "started", "removed", "converged", "injecting", "no convergence")


@contextlib.contextmanager
def progress_to_stderr(title: str, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Progress that works in both worlds: a live line on a terminal (milestones kept above it), one plain
    line per step otherwise, with the seconds since the start, so a CI log shows what took the time."""
    started = time.monotonic()
    if quiet:
        yield lambda _message: None
        return
    if err_console.is_terminal:
        with err_console.status(title) as status:
            def live(message: str) -> None:
                status.update(message)
                if any(word in message for word in MILESTONES):
                    err_console.print(f"[dim]{time.monotonic() - started:6.1f}s[/] {message}", highlight=False)

            yield live
        return
    last = [""]

    def plain(message: str) -> None:
        if message != last[0]:
            last[0] = message
            print(f"{time.monotonic() - started:6.1f}s {message}", file=sys.stderr, flush=True)

    plain(title)
    yield plain

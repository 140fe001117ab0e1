"""podman-sandbox execute "CMD"."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.cli.kube import kube_options
from podman_sandbox.errors import UsageError
from podman_sandbox.timeouts import parse_timeout


def _timeout(_ctx, _param, value: str | None) -> float | None:
    """One line and exit 2 for a bad value, before anything is converged or started."""
    if value is None:
        return None
    try:
        return parse_timeout(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@click.command("execute")
@click.argument("command")
@click.option("-i", "--interactive", is_flag=True,
              help="Attach a terminal (when stdin is one): for shells and REPLs.")
@click.option("--timeout", callback=_timeout, metavar="SECONDS",
              help="Stop the command and everything it started after SECONDS (exit 124; "
                   "at most 30 days).")
@kube_options
@click.pass_obj
def command(app: App, command: str, interactive: bool, timeout: float | None) -> int:
    """Run COMMAND with `sh -c` in the sandbox, in /workspace.

    Starts the sandbox if it is not running, and brings it in line with its
    spec first (in classic mode, a new current folder is mounted instead of the
    old one). Stdin, stdout, stderr and the exit code pass through unchanged.

    \b
    Examples:
      podman-sandbox execute "python helloworld.py"
      podman-sandbox execute -i sh
      echo data | podman-sandbox execute "wc -c"
      podman-sandbox execute --timeout 60 "pytest -x"
    """
    return app.run_in_sandbox(command, interactive=interactive, timeout=timeout)

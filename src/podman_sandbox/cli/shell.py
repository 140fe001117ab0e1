"""podman-sandbox shell."""

from __future__ import annotations

import shlex

import click

from podman_sandbox.app import App

# Run by `sh -c` inside the sandbox: bash when the image has it, else sh.
BEST_SHELL = "if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh"


def shell_command(program: str | None) -> str:
    return f"exec {shlex.quote(program)}" if program else BEST_SHELL


@click.command("shell")
@click.option("--shell", "program", metavar="PROGRAM",
              help="Run PROGRAM (e.g. zsh, python3) instead of the best shell found.")
@click.pass_obj
def command(app: App, program: str | None) -> int:
    """Open an interactive shell in the sandbox: bash if the image has it, else sh.

    Starts the sandbox and brings it in line with its spec first, like
    execute, and opens the shell in /workspace (in the matching subfolder
    when run from one). A terminal is attached when stdin is one; the
    shell's exit code is passed through.

    \b
    Examples:
      podman-sandbox shell
      podman-sandbox shell --shell python3
    """
    return app.run_in_sandbox(shell_command(program), interactive=True)

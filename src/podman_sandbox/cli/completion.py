"""podman-sandbox completion."""

from __future__ import annotations

import os

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_PODMAN_SANDBOX_COMPLETE"


def script(shell: str) -> str:
    """The completion script click generates for shell (what `bash_source` etc. print)."""
    from click.shell_completion import get_completion_class

    from podman_sandbox.cli.main import cli

    cls = get_completion_class(shell)
    if cls is None:  # SHELLS names only shells click completes
        raise ValueError(f"click has no completion for {shell!r}")
    return cls(cli, {}, "podman-sandbox", COMPLETE_VAR).source()


@click.command("completion")
@click.argument("shell", required=False, type=click.Choice(SHELLS))
def command(shell: str | None) -> int:
    """Print the shell completion script for bash, zsh or fish.

    Without SHELL, the one named by $SHELL. Load it from your shell's
    start-up file, as below. The same scripts come from click's own
    mechanism: `_PODMAN_SANDBOX_COMPLETE=bash_source podman-sandbox`.

    \b
    Examples:
      echo 'eval "$(podman-sandbox completion bash)"' >> ~/.bashrc
      echo 'eval "$(podman-sandbox completion zsh)"' >> ~/.zshrc
      podman-sandbox completion fish > ~/.config/fish/completions/podman-sandbox.fish
    """
    if shell is None:
        shell = os.path.basename(os.environ.get("SHELL", ""))
        if shell not in SHELLS:
            raise click.UsageError(f"name the shell: one of {', '.join(SHELLS)} "
                                   f"($SHELL is {os.environ.get('SHELL') or 'not set'})")
    click.echo(script(shell), nl=False)
    return 0

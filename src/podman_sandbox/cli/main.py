"""The click group, global options, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys

import click

from podman_sandbox import __version__
from podman_sandbox.app import App
from podman_sandbox.errors import EXIT_INTERRUPTED, EXIT_USAGE

EXIT_CODES_HELP = """\b
Exit codes:
  0    success          (execute: the command's own code, passed through)
  1    cannot be done as asked (e.g. nothing to commit)  (plan --exit-code: any error)
  2    usage error      (plan --exit-code: changes pending)
  119  execute: processes the command started could not be stopped
  120  another podman-sandbox held the sandbox lock too long
  121  invalid sandbox.yaml or config.json (too large, not a regular file, unsafe)
  122  podman not installed or not working (mcp: the MCP SDK is not installed)
  123  refused: would discard uncommitted changes (see --force),
       or mount /, your home folder or a system folder at /workspace,
       or the spec grants what you have not approved (see allow),
       or discard --instance would drop work not taken (see --force),
       or a remote engine with no --remote-workspace, or render refused a field
  124  execute --timeout ran out
  125  a podman operation failed (image pull, create, ...), or the
       sandbox went away while execute ran
  126/127  the command cannot run / was not found in the sandbox
  130/143  interrupted (Ctrl-C / SIGTERM); 137 killed (often: out of memory)
"""

COMMANDS = {
    # name -> module under podman_sandbox.cli (imported only when used)
    "plan": "plan", "apply": "apply", "execute": "execute", "start": "start",
    "stop": "stop", "configure": "configure", "status": "status", "list": "listing",
    "commit": "commit", "reset": "reset", "doctor": "doctor", "local-image": "local_image",
    "logs": "logs", "shell": "shell", "gc": "gc", "completion": "completion",
    "schema": "schema", "allow": "allow", "render": "render", "mcp": "mcp_command",
    "diff": "diff", "log": "log", "merge": "merge", "discard": "discard",
    "push": "push", "pull": "pull",
}

WORKSPACES = ("bind", "worktree", "copy")


def _check_instance(value: str | None) -> str | None:
    from podman_sandbox import instance
    if value and not instance.valid_name(value):
        raise click.BadParameter(f"{value!r}: {instance.NAME_RULE}", param_hint="'--instance'")
    return value or None


def _app(ctx: click.Context) -> App:
    app = ctx.find_object(App)
    assert app is not None, "the cli group's callback puts the App in the context"
    return app


def _set_instance(ctx: click.Context, _param, value):
    if value is not None:
        _app(ctx).instance = _check_instance(value)


def _set_workspace(ctx: click.Context, _param, value):
    if value is not None:
        _app(ctx).workspace = value


def instance_options() -> list[click.Option]:
    """--instance and --workspace, given after any command as well as before it."""
    return [click.Option(["--instance"], metavar="NAME", expose_value=False, callback=_set_instance,
                         help="Act on the instance NAME of this project: a sandbox of its own, "
                              "with its own copy of the files (see `Parallel agents`)."),
            click.Option(["--workspace"], type=click.Choice(WORKSPACES), expose_value=False,
                         callback=_set_workspace,
                         help="What a new instance mounts at /workspace (default: worktree in a "
                              "git repository, else copy).")]


class LazyGroup(click.Group):
    """Each command's module is imported only when that command runs (fast start-up)."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        module = COMMANDS.get(name)
        if module is None:
            return None
        from importlib import import_module
        command = import_module(f"podman_sandbox.cli.{module}").command
        if not any(p.name == "instance" for p in command.params):
            command.params.extend(instance_options())
        return command


@click.group(cls=LazyGroup, epilog=EXIT_CODES_HELP,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="podman-sandbox")
@click.option("-f", "--file", "spec_file", metavar="PATH", envvar="PODMAN_SANDBOX_FILE",
              help="The sandbox.yaml to use (default: the nearest one above the current folder).")
@click.option("-v", "--verbose", is_flag=True, help="Show each podman command as it runs.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and what you must know.")
@click.option("--instance", metavar="NAME", envvar="PODMAN_SANDBOX_INSTANCE",
              help="Act on the instance NAME of this project (also after the command).")
@click.option("--workspace", type=click.Choice(WORKSPACES),
              help="What a new instance mounts: bind, worktree or copy.")
@click.option("--connection", metavar="NAME",
              help="Use this Podman connection (`podman system connection list`) for every "
                   "Podman call; CONTAINER_HOST and CONTAINER_CONNECTION work too.")
@click.option("--remote-workspace", metavar="PATH",
              help="On a remote engine: the project's folder on the server, mounted at "
                   "/workspace (default: $PODMAN_SANDBOX_REMOTE_WORKSPACE; none: refused).")
@click.pass_context
def cli(ctx: click.Context, spec_file: str | None, verbose: bool, quiet: bool,
        instance: str | None, workspace: str | None, connection: str | None,
        remote_workspace: str | None) -> None:
    """Run code in a disposable, resource-limited Podman sandbox.

    The current project is mounted at /workspace. In a folder with a
    sandbox.yaml (or below one), that file declares the sandbox; elsewhere
    your settings in ~/.config/podman-sandbox/config.json apply and the
    current folder is mounted.

    \b
    Quick start:
      podman-sandbox execute "ls -la"      # starts the sandbox if needed
      podman-sandbox plan                  # what apply would change
      podman-sandbox apply                 # converge to sandbox.yaml
      podman-sandbox allow                 # approve its mounts, capabilities, ...
    """
    from podman_sandbox.engine import connection as engine
    engine.choose(connection)
    if remote_workspace:
        from podman_sandbox.engine.remote import WORKSPACE_ENV
        os.environ[WORKSPACE_ENV] = remote_workspace
    # Tests inject a fake runner: run(argv, obj={"runner": fake}) (tests/unit/fake_runner.py).
    injected = ctx.obj.get("runner") if isinstance(ctx.obj, dict) else None
    ctx.obj = App(spec_file=spec_file, verbose=verbose, quiet=quiet, runner=injected,
                  instance=_check_instance(instance), workspace=workspace)


def run(argv: list[str], obj: dict | None = None) -> int:
    """Run the CLI; return the exit code. Never lets a traceback reach the user."""
    from podman_sandbox.guard import guarded

    def call() -> int:
        try:
            result = cli.main(args=argv, prog_name="podman-sandbox", standalone_mode=False, obj=obj)
            return result if isinstance(result, int) else 0
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.Abort:
            sys.stderr.write("\nAborted.\n")
            return EXIT_INTERRUPTED
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code if exc.exit_code else EXIT_USAGE

    return guarded(call)

"""podman-sandbox mcp."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.errors import MissingExtraError


@click.command("mcp")
@click.option("--project", "project", metavar="DIR", type=click.Path(file_okay=True),
              help="The project folder (or sandbox.yaml) whose sandbox the tools drive "
                   "(default: the current folder, or -f).")
@click.option("--max-output", "max_output", type=click.IntRange(min=64), default=None,
              metavar="BYTES", help="Output shown per stream of a command; the start and "
                                    "the end of longer output (default 100000).")
@click.pass_obj
def command(app: App, project: str | None, max_output: int | None) -> int:
    """Serve the sandbox's tools to an agent over MCP (stdio).

    Tools: run a command (timeout, stdin), read, write and list files under
    /workspace, status, commit, reset. With --instance NAME they act on that
    instance of the project (its own container, states and copy of the files). The agent can never approve grants
    (mounts, capabilities, network: host): a spec with unapproved ones is a
    tool error until you run `podman-sandbox allow`. Needs the MCP SDK, the
    mcp extra (where pipx installed it: pipx inject podman-sandbox mcp).

    \b
    Example (Claude Code):
      claude mcp add sandbox -- podman-sandbox mcp --project ~/src/app
      claude mcp add try-a -- podman-sandbox mcp --project ~/src/app --instance a
    """
    try:
        import mcp  # noqa: F401 - only to say how to install it when it is missing
    except ImportError:
        from podman_sandbox.extras import install_hint

        raise MissingExtraError(
            "the MCP server needs the MCP Python SDK, which is not installed",
            hint=install_hint("mcp")) from None
    from podman_sandbox.api import Sandbox
    from podman_sandbox.mcp import server

    # --instance NAME (or PODMAN_SANDBOX_INSTANCE, before or after `mcp`): every tool acts
    # on that instance, exactly as the CLI's commands with --instance.
    sandbox = Sandbox(project if project is not None else app.spec_file, quiet=True,
                      verbose=app.out.verbose, instance=app.instance, workspace=app.workspace)
    server.serve(sandbox, max_output=max_output or server.DEFAULT_MAX_OUTPUT)
    return 0

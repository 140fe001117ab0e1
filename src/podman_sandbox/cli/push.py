"""podman-sandbox push --registry R."""

from __future__ import annotations

import click

from podman_sandbox.app import App


@click.command("push")
@click.option("--registry", metavar="REGISTRY", help="A registry host with an optional path "
              "(default: kube.registry of the spec), or oci:DIR for an OCI layout folder.")
@click.pass_obj
def command(app: App, registry: str | None) -> int:
    """Push the image a cluster cannot pull by itself: the setup image (made by
    `apply`), else a localhost/ or build: image, as REGISTRY/NAME:TAG, the name
    `render` and `--target kube` then give the Pod.

    \b
    Example:
      podman-sandbox apply && podman-sandbox push --registry registry.example.com/team
    """
    from podman_sandbox.engine.kube.push import push
    from podman_sandbox.errors import UsageError

    if not registry:
        registry = app.spec.kube.registry
        if not registry:
            raise UsageError("push needs --registry REGISTRY (or kube.registry in sandbox.yaml)")
        app.check_consent()  # the spec's registry is a grant; --registry is the user's own
    pushed = push(app.runner, app.desired, registry, app.out)
    if pushed:
        click.echo(pushed)
    return 0

"""podman-sandbox render --target pod|sandbox."""

from __future__ import annotations

import click

from podman_sandbox.app import App

TARGET_HELP = "pod: a Pod manifest; sandbox: an agent-sandbox Sandbox (agents.x-k8s.io)."


def translation(app: App, target: str, accept_weaker: tuple[str, ...], registry: str | None = None,
                *, strict: bool = True):
    """The spec's objects for target; with a registry (--registry, else kube.registry) the
    image is the pushed one (engine/kube/push.py: the setup image needs Podman to find).
    strict=False (plan): a setup image not made yet leaves the setup row refused."""
    from podman_sandbox.engine.kube.render import translate
    from podman_sandbox.errors import SandboxError

    registry = registry or app.spec.kube.registry
    pushed = None
    if registry:
        from podman_sandbox.engine.kube.push import check_registry, local_image
        check_registry(registry, for_cluster=True)
        try:
            pushed = local_image(app.runner, app.desired)
        except SandboxError:
            if strict:
                raise
    return translate(app.desired, target, accept_weaker=accept_weaker, pushed=pushed,
                     registry=registry)


def refusal(found, target: str):
    from podman_sandbox.errors import RefusedError

    first = found.refused[0]
    more = f" (and {len(found.refused) - 1} more: see `podman-sandbox plan --target {target}`)" \
        if len(found.refused) > 1 else ""
    return RefusedError(f"cannot render {first.field} for --target {target}: {first.how}{more}")


@click.command("render")
@click.option("--target", type=click.Choice(["pod", "sandbox"]), default="pod", show_default=True,
              help=TARGET_HELP)
@click.option("--accept-weaker", "accept_weaker", multiple=True, type=click.Choice(["pids_limit"]),
              help="Render a field the target can only hold weaker (pids_limit: the node's limit).")
@click.option("--registry", metavar="REGISTRY", help="Name the images `push` put there "
              "(default: kube.registry of the spec).")
@click.pass_obj
def command(app: App, target: str, accept_weaker: tuple[str, ...], registry: str | None) -> int:
    """Print the sandbox as Kubernetes YAML, the same every time for the same spec.

    The objects carry the local identity labels and spec hash. A field the
    target cannot hold is refused (exit 123); `plan --target` shows each
    field as enforced, weaker or refused.

    \b
    Example (Podman runs it too):
      podman-sandbox render --target pod --accept-weaker pids_limit > pod.yaml
      podman kube play pod.yaml
    """
    from podman_sandbox.engine.kube.render import to_yaml

    found = translation(app, target, accept_weaker, registry)
    if found.refused:
        raise refusal(found, target)
    click.echo(to_yaml(found.objects), nl=False)
    return 0

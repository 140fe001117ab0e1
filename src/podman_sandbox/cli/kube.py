"""--target kube for apply, execute, status and stop, and `pull`: the rendered Pod on a
cluster (engine/kube/backend.py). Options -> backend -> output, nothing else."""

from __future__ import annotations

import functools
import sys

import click

from podman_sandbox.app import App


def kube_options(command):
    """--target, --context, --namespace, --accept-weaker: one definition for the four commands."""
    @click.option("--target", type=click.Choice(["podman", "kube"]), default="podman",
                  show_default=True, help="kube: the sandbox as a Pod on the Kubernetes cluster "
                  "of --context (needs the kube extra: pipx inject podman-sandbox kubernetes).")
    @click.option("--context", metavar="NAME", help="With --target kube: the kubeconfig context "
                  "(default: kubectl's current one).")
    @click.option("--namespace", metavar="NAME", help="With --target kube: the namespace "
                  "(default: the context's, else default).")
    @click.option("--accept-weaker", "accept_weaker", multiple=True,
                  type=click.Choice(["pids_limit"]), help="With --target kube: as `render --accept-weaker`.")
    @click.option("--registry", metavar="REGISTRY", help="With --target kube: where `push` put "
                  "the setup image (default: kube.registry of the spec).")
    @functools.wraps(command)
    def wrapper(*args, target, context, namespace, accept_weaker, registry, **kwargs):
        if target == "kube":
            app = click.get_current_context().obj
            return KUBE[command.__module__.rsplit(".", 1)[-1]](
                app, Where(context, namespace, accept_weaker, registry), **kwargs)
        return command(*args, **kwargs)
    return wrapper


def cluster_options(command):
    """--context and --namespace alone (pull: there is only the cluster)."""
    @click.option("--context", metavar="NAME", help="The kubeconfig context (default: "
                  "kubectl's current one).")
    @click.option("--namespace", metavar="NAME", help="The namespace (default: the context's, "
                  "else default).")
    @functools.wraps(command)
    def wrapper(*args, context, namespace, **kwargs):
        return command(*args, where=Where(context, namespace, (), None), **kwargs)
    return wrapper


class Where:
    def __init__(self, context, namespace, accept_weaker, registry):
        self.context, self.namespace, self.accept_weaker = context, namespace, accept_weaker
        self.registry = registry

    def connect(self):
        from podman_sandbox.engine.kube.backend import connect
        return connect(self.context, self.namespace)


def _objects(app: App, where: Where) -> list[dict]:
    """The Pod (first) and what goes with it, or the refusal of a field."""
    from podman_sandbox.cli.render import refusal, translation

    app.check_consent()  # what the spec grants, it grants on the cluster too
    found = translation(app, "pod", where.accept_weaker, where.registry)
    if found.refused:
        raise refusal(found, "pod")
    return found.objects


def _converge(app: App, where: Where):
    from podman_sandbox.engine.kube import workspace

    objects = _objects(app, where)
    kube = where.connect()
    project = app.spec.project_dir
    outcome = kube.apply(objects, fill=lambda: workspace.pack(project))
    return kube, objects[0], outcome


def apply(app: App, where: Where, **_) -> int:
    kube, pod, outcome = _converge(app, where)
    app.out.step(f"pod {pod['metadata']['name']} in namespace {kube.namespace}: {outcome}")
    return 0


def execute(app: App, where: Where, *, command: str, interactive: bool, timeout, **_) -> int:
    kube, pod, _ = _converge(app, where)
    stdin = sys.stdin.buffer.read() if interactive else None
    return kube.execute(pod["metadata"]["name"], command, stdin=stdin, timeout=timeout,
                        workdir=app.target.workdir)


def status(app: App, where: Where, *, as_json: bool = False, **_) -> int:
    import json

    from podman_sandbox.engine.kube.render import translate

    from podman_sandbox.cli.render import translation
    from podman_sandbox.engine.kube.backend import in_sync
    from podman_sandbox.errors import SandboxError

    app.tolerate_invalid_spec()
    try:
        want = translation(app, "pod", ("pids_limit",), where.registry).objects[0]
    except SandboxError:  # no setup image here to name: the Pod cannot be this spec's
        want = translate(app.desired, "pod", accept_weaker=("pids_limit",)).objects[0]
    kube = where.connect()
    name = want["metadata"]["name"]
    seen = kube.observe(name)
    data = {"name": name, "engine": {"name": "Kubernetes", "namespace": kube.namespace},
            "phase": seen["phase"] if seen else None, "in_sync": in_sync(seen, want)}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return 0
    click.echo(f"{'Sandbox:':13} {name} ({(data['phase'] or 'no pod').lower()})")
    click.echo(f"{'Engine:':13} Kubernetes, namespace {kube.namespace}")
    click.echo(f"{'In sync:':13} {'yes' if data['in_sync'] else 'no'}")
    return 0


def stop(app: App, where: Where, **_) -> int:
    app.tolerate_invalid_spec()
    kube = where.connect()
    name = app.spec.name
    gone = kube.stop(name)
    app.out.step(f"pod {name} deleted" if gone else f"no pod {name} in namespace {kube.namespace}")
    return 0


def pull(app: App, where: Where, dest: str) -> int:
    """The Pod's /workspace into the new folder dest."""
    import os

    from podman_sandbox.engine.kube import workspace
    from podman_sandbox.errors import RefusedError

    app.tolerate_invalid_spec()
    if os.path.lexists(dest):
        raise RefusedError(f"{dest} exists: pull writes a new folder, never over files",
                           hint="name a folder that does not exist yet")
    kube = where.connect()
    name = app.spec.name
    if kube.observe(name) is None:
        raise RefusedError(f"no pod {name} in namespace {kube.namespace}",
                           hint="apply --target kube makes it")
    made = workspace.unpack(kube.read_workspace(name), dest)
    app.out.step(f"{made['files']} files from pod {name}:/workspace into {dest}")
    if made["skipped"]:
        app.out.notice(f"left out (not a regular file or folder, or an unsafe name): "
                       f"{', '.join(made['skipped'][:5])}" + (" ..." if len(made['skipped']) > 5 else ""))
    return 0


KUBE = {"apply": apply, "execute": execute, "status": status, "stop": stop}

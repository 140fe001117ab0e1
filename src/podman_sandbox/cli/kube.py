"""--target kube for apply, execute, status and stop: the rendered Pod on a cluster
(engine/kube/backend.py). Options -> backend -> output, nothing else."""

from __future__ import annotations

import functools
import sys

import click

from podman_sandbox.app import App


def kube_options(command):
    """--target, --context, --namespace, --accept-weaker: one definition for the four commands."""
    @click.option("--target", type=click.Choice(["podman", "kube"]), default="podman",
                  show_default=True, help="kube: the sandbox as a Pod on the Kubernetes cluster "
                  "of --context (needs `pip install 'podman-sandbox[kube]'`).")
    @click.option("--context", metavar="NAME", help="With --target kube: the kubeconfig context "
                  "(default: kubectl's current one).")
    @click.option("--namespace", metavar="NAME", help="With --target kube: the namespace "
                  "(default: the context's, else default).")
    @click.option("--accept-weaker", "accept_weaker", multiple=True,
                  type=click.Choice(["pids_limit"]), help="With --target kube: as `render --accept-weaker`.")
    @functools.wraps(command)
    def wrapper(*args, target, context, namespace, accept_weaker, **kwargs):
        if target == "kube":
            app = click.get_current_context().obj
            return KUBE[command.__module__.rsplit(".", 1)[-1]](
                app, Where(context, namespace, accept_weaker), **kwargs)
        return command(*args, **kwargs)
    return wrapper


class Where:
    def __init__(self, context, namespace, accept_weaker):
        self.context, self.namespace, self.accept_weaker = context, namespace, accept_weaker

    def connect(self):
        from podman_sandbox.engine.kube.backend import connect
        return connect(self.context, self.namespace)


def _pod(app: App, where: Where) -> dict:
    from podman_sandbox.cli.render import refusal
    from podman_sandbox.engine.kube.render import translate

    app.check_consent()  # what the spec grants, it grants on the cluster too
    found = translate(app.desired, "pod", accept_weaker=where.accept_weaker)
    if found.refused:
        raise refusal(found, "pod")
    return found.objects[0]


def apply(app: App, where: Where, **_) -> int:
    pod = _pod(app, where)
    kube = where.connect()
    outcome = kube.apply(pod)
    app.out.step(f"pod {pod['metadata']['name']} in namespace {kube.namespace}: {outcome}")
    return 0


def execute(app: App, where: Where, *, command: str, interactive: bool, timeout, **_) -> int:
    pod = _pod(app, where)
    kube = where.connect()
    kube.apply(pod)
    stdin = sys.stdin.buffer.read() if interactive else None
    return kube.execute(pod["metadata"]["name"], command, stdin=stdin, timeout=timeout,
                        workdir=app.target.workdir)


def status(app: App, where: Where, *, as_json: bool = False, **_) -> int:
    import json

    from podman_sandbox.engine.kube.render import translate

    app.tolerate_invalid_spec()
    want = translate(app.desired, "pod", accept_weaker=("pids_limit",)).objects[0]
    kube = where.connect()
    name = want["metadata"]["name"]
    seen = kube.observe(name)
    data = {"name": name, "engine": {"name": "Kubernetes", "namespace": kube.namespace},
            "phase": seen["phase"] if seen else None,
            "in_sync": bool(seen) and seen["hash"] == want["metadata"]["annotations"]
            ["io.podman-sandbox.hash"] and seen["phase"] == "Running"}
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


KUBE = {"apply": apply, "execute": execute, "status": status, "stop": stop}

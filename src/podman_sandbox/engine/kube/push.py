"""`push`: the image a cluster cannot pull by itself, into a registry.

Which image: the setup image when the spec has setup steps (found by the key
apply makes it under: base image id, steps, owner, inputs digest; it must be
this project's own), else the image of `build:` or a `localhost/` one; an image
from a registry needs no push. Where: REGISTRY/NAME:TAG, NAME:TAG being the local
one less `localhost/` (render.cluster_name: the Pod names the same). `podman
push` does it (argv); a destination `oci:DIR` writes an OCI layout instead (what
the tests check, there being no registry here).
"""

from __future__ import annotations

from podman_sandbox.engine import images, ownership
from podman_sandbox.engine.actual import list_images
from podman_sandbox.engine.kube.render import cluster_name
from podman_sandbox.engine.render import render
from podman_sandbox.errors import RefusedError, SandboxError

OCI = "oci:"


def local_image(runner, desired) -> str | None:
    """The local image the Pod needs pushed; None when its image is a registry's."""
    spec, image = desired.spec, desired.container["image"]
    if spec.setup:
        found = [i for i in list_images(runner, image) if i.get("Id")]
        if not found:
            raise SandboxError(f"the base image {image} is not here, so neither is the setup image",
                               hint="run `podman-sandbox apply` first (it makes the setup image)")
        key = images.setup_key(found[0]["Id"], spec.setup, ownership.spec_owner_hash(spec),
                               desired.inputs_digest)
        tag = images.setup_tag(key)
        if not any(ownership.is_projects(i.get("Labels"), spec) for i in list_images(runner, tag)):
            raise SandboxError(f"the setup image of these steps ({tag}) is not made yet",
                               hint="run `podman-sandbox apply` first (it makes the setup image)")
        return tag
    return image if image.startswith("localhost/") else None


def destination(local: str, registry: str) -> str:
    """podman push's destination: docker://REGISTRY/NAME:TAG, or oci:DIR:NAME:TAG."""
    if registry.startswith(OCI):
        return f"{registry}:{cluster_name(local, '')[1:]}"
    return "docker://" + cluster_name(local, registry)


def check_registry(registry: str, *, for_cluster: bool) -> None:
    if for_cluster and registry.startswith(OCI):
        raise RefusedError(f"{registry} is a folder here: a cluster pulls from a registry",
                           hint="give a registry host, e.g. --registry registry.example.com/team")
    if not registry or any(ch.isspace() for ch in registry) or "://" in registry:
        raise RefusedError(f"--registry {registry!r}: write a registry host with an optional path "
                           "(registry.example.com/team), or oci:DIR")


def push(runner, desired, registry: str, out) -> str | None:
    """Push the Pod's local image to registry; the name pushed (None: nothing to push)."""
    check_registry(registry, for_cluster=False)
    local = local_image(runner, desired)
    if local is None:
        out.step(f"{desired.container['image']} comes from a registry: nothing to push")
        return None
    dest = destination(local, registry)
    out.step(f"pushing {local} to {dest}")
    runner.run(render("push", image=local, destination=dest), what="podman push", stream=True)
    return dest

"""`build:`: the base image made from the project's Containerfile with `podman build`.

The image's tag is keyed by what the build reads: the context's files (minus
what .containerignore, else .dockerignore, excludes), the Containerfile, the
build args and the target, and by the owner (as setup images are: a tag never
names another project's build). A changed file in the context names another
tag, which is absent, so the plan builds it; an unchanged context finds it.

The build runs as setup steps do, in Podman's build containers with its
default network and no host mount: podman-sandbox never passes --volume,
--network or --security-opt to `podman build`, and refuses a Containerfile
that asks for the host's network or an insecure RUN itself (refused_run).
`FROM localhost/...` uses the local image, so it works offline.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from podman_sandbox.engine import images, inputdigest, inputs, ownership
from podman_sandbox.errors import RefusedError, SpecError

IGNORE_FILES = (".containerignore", ".dockerignore")


@dataclass(frozen=True)
class Context:
    tag: str
    digest: str  # of the context, the Containerfile, args and target
    context_digest: str
    watch_sets: tuple  # inputs.watch_text sets (the fast path re-checks them)
    signatures: tuple


def ignore_file(context_dir: str) -> str | None:
    for name in IGNORE_FILES:
        if os.path.lexists(os.path.join(context_dir, name)):
            return name
    return IGNORE_FILES[0]


def cache_name(spec) -> str:
    return f"build\0{spec.build.context}"


def refused_run(text: str) -> str | None:
    """A RUN option of the Containerfile that would widen the build: --network=host
    (or any network but none/default; newer Podman honours it), --security=insecure,
    a cache mount (buildah keeps it per user, shared by every project's builds: one
    project's sandbox could plant what another's build reads), a writable bind mount.
    A read-only bind mount stays in the context (buildah resolves its source there)."""
    for number, line in enumerate(text.splitlines(), 1):
        words = line.strip().split()
        if not words or words[0].upper() != "RUN":
            continue
        for word in words[1:]:
            if not word.startswith("--"):
                break
            low = word.lower()
            if low.startswith("--network") and low not in ("--network=none", "--network=default"):
                return f"line {number}: {word} (the build gets Podman's default network only)"
            if low.startswith("--security"):
                return f"line {number}: {word}"
            if low.startswith("--mount"):
                options = low.split("=", 1)[-1].split(",")
                if "type=cache" in options:
                    return f"line {number}: {word} (a cache shared with other projects' builds)"
                if "type=bind" in options and ({"rw", "readwrite", "rw=true"} & set(options)):
                    return f"line {number}: {word} (a writable bind mount)"
    return None


def context(spec) -> Context:
    """The Context of spec.build as the files are now; refused (exit 123) when an
    input escapes the project or the Containerfile asks for more than a build gets."""
    b = spec.build
    project = spec.project_dir
    rel_cf = os.path.relpath(b.containerfile, project)
    ignore = ignore_file(b.context)
    sets = ((b.context, ("",), project, ignore, True), (project, (rel_cf,), project, None, False))
    where = spec.source or "sandbox.yaml"
    if not os.path.isdir(b.context):
        raise SpecError([f"{where}: build: the context {b.context} is not a folder"])
    if not os.path.isfile(b.containerfile):
        raise SpecError([f"{where}: build: no Containerfile at {b.containerfile}"],
                        hint="name it with build: {containerfile: PATH}")
    try:
        ctx = inputdigest.digest(b.context, ("",), cache_name=cache_name(spec), boundary=project,
                                 ignore_file=ignore, anchored=True)
        cf = inputdigest.digest(project, (rel_cf,), cache_name=f"containerfile\0{b.containerfile}",
                                boundary=project, ignore_file=None)
        if cf.files.get(rel_cf, "m")[0] != "f":
            raise inputs.InputError(f"the Containerfile {rel_cf} is not a file in the project")
        with open(b.containerfile, "rb") as fh:
            why = refused_run(fh.read(1 << 20).decode("utf-8", "replace"))
    except inputs.InputError as exc:
        raise RefusedError(f"build: {exc}") from None
    except OSError as exc:
        raise RefusedError(f"build: cannot read {rel_cf}: {exc.strerror}") from None
    if why:
        raise RefusedError(f"build: {rel_cf} {why}: refused, the build gets no more than setup "
                           "steps do", hint="remove that RUN option")
    h = hashlib.sha256()
    for part in (ctx.digest, cf.digest, rel_cf, *(f"{k}={v}" for k, v in b.args), b.target or ""):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    owner = ownership.spec_owner_hash(spec)
    return Context(tag=f"{images.BUILD_REPO}:{owner}-{h.hexdigest()[:16]}", digest=h.hexdigest(),
                   context_digest=ctx.digest, watch_sets=sets,
                   signatures=(ctx.signature, cf.signature))


def reason(spec, ctx: Context, previous_image: str | None) -> str:
    """Why the plan builds: nothing built yet, or what changed since the image before."""
    rel_cf = os.path.relpath(spec.build.containerfile, spec.project_dir)
    if not previous_image or not previous_image.startswith(images.BUILD_REPO + ":"):
        return f"build: no image built from {rel_cf} for this context yet"
    files = inputdigest.changed_files(cache_name(spec), inputdigest.previous(cache_name(spec),
                                                                           ctx.context_digest),
                                      ctx.context_digest)
    if files:
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        return f"build: {shown} changed in the context of {rel_cf}"
    return f"build: {rel_cf}, its context, args or target changed"


def build_argv(spec, ctx: Context, labels: dict) -> list[str]:
    from podman_sandbox.engine.render import render

    b = spec.build
    return render("build", containerfile=b.containerfile, tag=ctx.tag, labels=labels,
                  args=list(b.args), target=b.target, context=b.context)

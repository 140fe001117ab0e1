"""An instance's spec, its workspace, and discarding it all.

An instance is the same engine with another name, another workspace and the
project's images as its base (DESIGN.md): its spec is the project's spec with

- the container name <sandbox>--<NAME> (instance.container_name; in classic mode
  the sandbox name and the folder's hash: one instance NAME per folder);
- /workspace: the instance's worktree or copy (engine/workspace.py);
- mount sources that lie in the project folder (relative ones, and absolute ones
  inside it) taken at the same place in the instance's workspace, so each
  instance reads its own `./data`; they are checked again at every create
  against the workspace (mountcheck.py), exactly as the project's are against
  the project. Sources outside the project are the same host paths;
- the project's spec kept beside it (Spec.instance.project): consent is the
  project's (trust.py), the setup image and committed state are the project's.
"""

from __future__ import annotations

import dataclasses
import os

from podman_sandbox import instance
from podman_sandbox.engine import workspace
from podman_sandbox.schema.spec import Instance, Mount, Spec


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.normpath(path), os.path.normpath(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def rebase(mount: Mount, project_dir: str, workspace_dir: str) -> Mount:
    if not _inside(mount.source, project_dir):
        return mount
    rel = os.path.relpath(os.path.normpath(mount.source), os.path.normpath(project_dir))
    source = workspace_dir if rel == "." else os.path.join(workspace_dir, rel)
    return dataclasses.replace(mount, source=os.path.normpath(source))


def sandbox_base(project: Spec) -> str:
    """What instance container names start with: the sandbox's name; in classic mode, where
    one config governs every folder, with the folder's hash (an instance per folder)."""
    if project.mode != "classic":
        return project.name
    import hashlib
    return f"{project.name}-{hashlib.sha256(project.project_dir.encode()).hexdigest()[:8]}"


def instance_spec(project: Spec, layout: workspace.Layout) -> Spec:
    return dataclasses.replace(
        project,
        name=instance.container_name(sandbox_base(project), layout.name),
        project_dir=layout.mount,
        mounts=tuple(rebase(m, project.project_dir, layout.mount) for m in project.mounts),
        instance=Instance(name=layout.name, mode=layout.mode, project=project))


def ensure(spec: Spec, layout: workspace.Layout, out) -> dict:
    """The instance's folder and workspace, made once (under the project's workspace
    lock: parallel `git worktree add` on one repository can fail)."""
    if layout.meta:
        return layout.meta
    from podman_sandbox.engine.lock import workspace_lock

    assert spec.instance is not None, "only an instance's spec has a workspace layout"
    project = spec.instance.project
    with workspace_lock(instance.project_key(project.project_dir)):
        return workspace.create(layout, project.project_dir, project.source, out)


def discard(runner, desired, layout: workspace.Layout, out, *, force: bool) -> bool:
    """Remove the instance's container, saved states, workspace (worktree and branch,
    or copy) and folder. False: there was nothing. Work not taken is refused unless force."""
    from podman_sandbox.engine import actual as act
    from podman_sandbox.engine import ownership, state
    from podman_sandbox.engine.lock import sandbox_lock
    from podman_sandbox.engine.render import render
    from podman_sandbox.errors import RefusedError, SandboxError

    spec = desired.spec
    name = spec.name
    with sandbox_lock(name):
        actual = act.observe(runner, desired)
        if actual.state != "missing":
            if not actual.managed:
                raise SandboxError(f"a container named {name!r} exists but was not made by "
                                   "podman-sandbox; it is left alone")
            ownership.require("sandbox", name, actual.labels, spec)
        lost = workspace.unmerged(layout.meta) if layout.meta else []
        if lost and not force:
            shown = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
            raise RefusedError(f"instance {layout.name!r} holds work you have not taken: {shown}",
                               hint=f"see it (`podman-sandbox diff --instance {layout.name}`), take it "
                                    f"(`podman-sandbox merge --instance {layout.name}`), or drop it "
                                    "with --force")
        if lost:
            out.notice(f"discarding the unmerged work of instance {layout.name}: {', '.join(lost[:5])}")
        if actual.state != "missing":
            changed = act.uncommitted_changes(runner, name, actual)
            if changed:
                out.notice(f"discarding {act.describe_uncommitted(changed, name)}")
            out.step(f"removing {name}")
            runner.run(render("remove", name=name), what=f"remove {name}")
        from podman_sandbox.engine.around import leftovers
        for left in leftovers(runner, desired):  # of a run that was killed
            runner.run(render("remove", name=left), what=f"remove the leftover {left}", check=False)
        states = state.reset(runner, spec)
        for img in states:
            out.step(f"removed the saved state {img.tag}")
        had = layout.meta is not None or actual.state != "missing" or bool(states)
        if layout.meta and layout.meta["mode"] != "bind":
            out.step(f"removing the {layout.meta['mode']} {layout.meta['work_tree']}")
        workspace.remove(layout.meta, layout.folder, out)
        return had

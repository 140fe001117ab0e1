"""Each planned action as the exact podman commands that carry it out.

`plan` prints these and `apply` runs these same lists, action by action, for the
housekeeping too (leftovers, adopting old-format states, squashing, commits, the
images a rebuild replaced: plan.with_housekeeping). What `plan` cannot show: the
read-only queries apply makes to observe (inspect, images, diff), the checks around
a create (mount sources before, started mounts after), what a replan after a
pull, a build or an adoption decides (plan says so in a note on those actions), and
a replan when another sandbox of the project made the images meanwhile (apply.converge).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from podman_sandbox import capabilities
from podman_sandbox.engine import images
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.labels import (LABEL_BASE_ID, LABEL_HASH, LABEL_INSTANCE, LABEL_MANAGED,
                                          LABEL_PROJECT, LABEL_ROLE, LABEL_SANDBOX, LABEL_SOURCE,
                                          LABEL_SPEC)
from podman_sandbox.engine.names import next_name, setup_container_name
from podman_sandbox.engine.plan import Action
from podman_sandbox.engine.remote import workspace_source
from podman_sandbox.engine.render import create_argv, render


@dataclass(frozen=True)
class Command:
    """One podman call an action makes, and how its run is handled."""
    argv: list[str]
    what: str  # for progress lines and error messages
    stream: bool = False  # output shown as it comes (setup steps)
    commits: bool = False  # once this ran, what came before must not be undone
    # Started a container: (its name, what its mounts must be), checked once it runs.
    verify: tuple | None = None
    check: bool = True  # False: a failure is Podman's answer, not ours (an image still in use)


def userns_args(user: str | None = None) -> list[str]:
    """Extra user-namespace flags. None by default: rootless Podman already maps root
    in the sandbox to the user on the host, so files written in /workspace are the
    user's and packages can still be installed as root inside. A rootless sandbox
    that runs as a numeric non-root `user:` gets keep-id for that uid (host.keep_id_args).
    The setup container gets none (its steps run as the image's user, normally root)."""
    from podman_sandbox.engine.host import keep_id_args
    return keep_id_args(user)


def owner_labels(spec) -> dict[str, str]:
    """Whose it is (engine/ownership.py): on every container and image we make. An
    instance's carry its name and the user's project folder (not its workspace)."""
    if spec.instance:
        return {LABEL_PROJECT: spec.instance.project.project_dir, LABEL_SOURCE: spec.source,
                LABEL_INSTANCE: spec.instance.name}
    return {LABEL_PROJECT: spec.project_dir, LABEL_SOURCE: spec.source}


def setup_image_labels(spec) -> dict[str, str]:
    """A setup image is the project's, whichever of its instances built it (their
    setup container's instance label would otherwise be inherited)."""
    if spec.instance:
        return {**owner_labels(spec.instance.project), LABEL_INSTANCE: ""}
    return owner_labels(spec)


def container_labels(desired: Desired, base_id: str) -> dict[str, str]:
    spec = desired.spec
    return {
        LABEL_MANAGED: "true",
        # Overrides the role=setup a container made from a setup image inherits from it.
        LABEL_ROLE: "sandbox",
        **owner_labels(spec),
        LABEL_HASH: desired.hash,
        LABEL_BASE_ID: base_id,
        LABEL_SPEC: json.dumps(desired.container, sort_keys=True, separators=(",", ":")),
    }


def create_command(desired: Desired, name: str, image: str, base_id: str, *,
                   start: bool = True, disk: bool = False) -> Command:
    """The sandbox container; start: created and started in one call (`podman run --detach`).
    Its mount sources are checked as they are now (mountcheck.check), every time."""
    from podman_sandbox.engine import mountcheck

    expected = mountcheck.check(desired.spec, desired.container)
    argv = _create_argv(desired, name, image, container_labels(desired, base_id), start=start, disk=disk)
    return Command(argv, f"{'create and start' if start else 'create'} {name}",
                   verify=(name, tuple(expected)) if start else None)


def probe_argv(desired: Desired, name: str, image: str, script: str, *,
               mount_workspace: bool = True) -> list[str]:
    """doctor's probe: the sandbox container of desired, with every option a sandbox
    gets, run once (--rm) with `sh -c script` instead of sleeping; no labels.
    mount_workspace False: no volumes (on a remote engine a bind resolves on the server)."""
    volumes = volume_args(desired) if mount_workspace else []
    return _create_argv(desired, name, image, {}, start=True, disk=False, volumes=volumes,
                        probe=script)


def _create_argv(desired: Desired, name: str, image: str, labels: dict[str, str], *, start: bool,
                 disk: bool, volumes: list[str] | None = None, **probe: str) -> list[str]:
    c = desired.container
    volumes = volume_args(desired) if volumes is None else volumes
    cap_drops = capabilities.drops(c["cap_drop"], c["cap_add"])
    userns = userns_args(c.get("user"))
    size = c.get("disk") if disk else None
    if probe:  # doctor's: the template itself (Jinja's import is no cost there)
        return render("create", name=name, labels=labels, c=c, volumes=volumes, image=image,
                      start=start, cap_drops=cap_drops, userns=userns, disk=size, **probe)
    # The template's Jinja-free twin (a first execute's create; test_render_golden holds them equal).
    return create_argv(name=name, labels=labels, c=c, volumes=volumes, image=image, start=start,
                       cap_drops=cap_drops, userns=userns, disk=size)


def volume_args(desired: Desired) -> list[str]:
    """The --volume values of every mount, /workspace included (sandbox and setup)."""
    from podman_sandbox.engine.desired import volume_options

    c = desired.container
    return [f"{m['source']}:{m['target']}:"
            + volume_options(m, workspace_source(desired.spec.project_dir),
                             c.get("selinux_label", "project"))
            for m in c["mounts"]]


def commands_for(action: Action, desired: Desired, base_id: str | None) -> list[Command]:
    spec, p = desired.spec, action.params
    name = spec.name
    base = base_id or ""
    if action.kind == "pull":
        return [Command(render("pull", image=p["image"]), f"pull {p['image']}")]
    if action.kind == "build":
        from podman_sandbox.engine.build import build_argv
        assert desired.build is not None, "a build action comes only from a spec with build:"
        labels = {LABEL_MANAGED: "true", **owner_labels(spec), LABEL_ROLE: "build"}
        return [Command(build_argv(spec, desired.build, labels), f"build {p['image']}", stream=True)]
    if action.kind == "build-setup":
        from podman_sandbox.engine import mountcheck
        tmp = setup_container_name(name)
        labels = {LABEL_MANAGED: "true", **owner_labels(spec), LABEL_ROLE: "setup"}
        # The steps get the sandbox's mounts and env; the mount sources are checked now
        # and verified once the container runs, exactly as for the sandbox itself.
        expected = mountcheck.check(spec, desired.container)
        cmds = [Command(render("setup_create", name=tmp, labels=labels, image=p["image"],
                               limits=desired.container, volumes=volume_args(desired),
                               cap_drops=capabilities.drops(), userns=userns_args()),
                        f"start a setup container from {p['image']}", verify=(tmp, tuple(expected)))]
        for i, step in enumerate(p["steps"], 1):
            cmds.append(Command(render("setup_step", name=tmp, step=step),
                                f"setup step {i}/{len(p['steps'])}: {step}", stream=True))
        cmds.append(Command(render("commit", container=tmp, tag=images.setup_tag(p["key"]),
                                   labels={LABEL_MANAGED: "true", LABEL_BASE_ID: base,
                                           **setup_image_labels(spec)}),
                            "save the setup result"))
        cmds.append(Command(render("remove", name=tmp), "remove the setup container"))
        return cmds
    if action.kind == "commit":
        return commit_commands(spec, p["container"], p["key"], p.get("base_id", base),
                               previous_exists=p.get("previous_exists", True),
                               drop=p.get("drop"), squash=p.get("squash", False))
    if action.kind == "adopt":
        return [Command(render("tag", image=p["image"], tag=p["new"]), f"adopt the saved state {p['old']}"),
                Command(render("untag", image=p["image"], tag=p["old"]), f"adopt the saved state {p['old']}",
                        check=False)]
    if action.kind == "remove-leftover":
        return [Command(render("remove", name=p["name"]), f"remove the leftover {p['name']}", check=False)]
    if action.kind == "squash":
        # Through a container of the sandbox's own shape (created, never started), so the
        # image's settings stay those of a commit; the tag moves when the commit is done.
        tmp = setup_container_name(name)
        return [create_command(desired, tmp, p["tag"], base, start=False),
                Command(render("commit", container=tmp, tag=p["tag"], squash=True,
                               labels=state_labels(spec, base)), f"squash {p['tag']}"),
                Command(render("remove", name=tmp), f"remove {tmp}")]
    if action.kind == "remove-replaced":
        # Never --force: Podman keeps an image a container or another image still uses.
        return [Command(render("rmi", image=ref), f"remove the replaced image {ref}", check=False)
                for ref in p["images"]]
    if action.kind == "create":
        return [create_command(desired, name, p["image"], base, disk=p.get("disk", False))]
    if action.kind == "replace":
        nxt = next_name(name)
        # The new container runs before the old one goes; from its removal on, the new
        # one is the sandbox and is never cleaned up (see apply.run_action).
        return [create_command(desired, nxt, p["image"], base, disk=p.get("disk", False)),
                Command(render("remove", name=name), f"remove the old {name}", commits=True),
                Command(render("rename", old=nxt, new=name), f"rename {nxt} to {name}")]
    if action.kind == "start":
        return [Command(render("start", name=name), f"start {name}")]
    if action.kind == "update":
        return [Command(render("update", name=name, memory=p["memory"], cpus=p["cpus"]),
                        f"update the limits of {name}")]
    raise ValueError(f"unknown action {action.kind}")


def state_labels(spec, base_id: str) -> dict[str, str]:
    """The labels of a saved state image (a commit, a squash)."""
    return {LABEL_MANAGED: "true", LABEL_BASE_ID: base_id, LABEL_SANDBOX: spec.name,
            **owner_labels(spec)}


def commit_commands(spec, container: str, key: str, base_id: str,
                    previous_exists: bool = True, drop: str | None = None,
                    squash: bool = False) -> list[Command]:
    """Keep the last generation as <tag>-prev, then save the container as the state.
    drop: the id of the generation before the previous one, untagged by then (removed
    unless in use); squash: the state as one layer (its chain would be too long)."""
    name = spec.name
    tag = images.state_tag(name, key)
    cmds = []
    if previous_exists:
        cmds.append(Command(render("tag", image=tag, tag=images.previous_state_tag(name, key)),
                            "keep the previous state"))
    cmds.append(Command(render("commit", container=container, tag=tag, squash=squash,
                               labels=state_labels(spec, base_id)),
                        f"commit {container} as {tag}"))
    if drop:
        cmds.append(Command(render("rmi", image=drop), "remove an old state", check=False))
    return cmds

"""What `status` reports, as data (docs/json-output.md): the CLI prints it, the Python
API and the MCP server return it. No click here.

What runs is told apart from what is wanted: after a failed image change, or a
remount still to happen, the container has the old image and mount while the spec
names new ones. `actual` is the container as Podman (and its cgroup) shows it;
`differences` lists each field where it and the spec disagree (plan's diff, the one
definition of drift); `mount` is what /workspace really mounts.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds (mypy knows the name)
if TYPE_CHECKING:
    from podman_sandbox.app import App
    from podman_sandbox.engine.actual import Observed
    from podman_sandbox.engine.desired import Desired


def status_dict(app: App) -> dict:
    from podman_sandbox.engine import actual as act
    from podman_sandbox.engine import connection, disk, enforced, host, images, ownership, remote
    from podman_sandbox.engine import state, superseded
    from podman_sandbox.engine.plan import is_in_sync
    from podman_sandbox.views import consent_dict

    desired = app.desired
    spec = desired.spec  # with build:, its image is the tag the build makes
    engine = {"name": connection.describe(), "remote": False, "host": None}
    if connection.is_remote():
        info = remote.engine_info(app.runner)
        engine.update(remote=info["remote"], host=info["host"] or None)
    found = act.observe(app.runner, desired)
    effective = enforced.effective_memory(found)
    listed = act.list_images(app.runner, images.state_repo(spec.name))  # one listing, both views
    saved = state.states_in(listed, spec)
    current = [s for s in saved if not s.tag.endswith("-prev")]
    # The state a container made now starts from: the one of the base image's id and
    # the setup steps. Others were made on another image or setup and are only kept.
    in_use = (images.state_tag(spec.name, images.setup_key(found.base_image_id, spec.setup,
                                                           found.owner_key, desired.inputs_digest))
              if found.base_image_id else None)
    own_images = superseded.owner_images(app.runner, spec)
    # A container of this name that another project (or config folder) owns: shown as
    # such, never as this sandbox.
    ours = found.state != "missing" and found.managed and ownership.is_ours(found.labels, spec)
    foreign = (ownership.owner_of(found.labels) or "an unknown folder"
               if found.state != "missing" and found.managed and not ours else None)
    running = found.observed if ours else None
    workspace = remote.workspace_source(spec.project_dir)
    if running is not None:  # what /workspace mounts now, not what a new container would
        workspace = next((m["source"] for m in running.get("mounts") or ()
                          if m.get("target") == "/workspace"), workspace)
    return {
        "name": spec.name,
        "state": found.state,
        "running": found.state == "running",
        "container_id": found.container_id,
        "image": spec.image,
        "source": spec.source,
        "mode": spec.mode,
        "engine": engine,
        "mount": {"source": workspace, "target": "/workspace"},
        "workdir": app.target.workdir,
        "memory": {"requested": spec.memory, "effective": effective,
                   "enforced": enforced.memory_in_force(spec.memory, found, effective)},
        "cpus": spec.cpus,
        "pids_limit": spec.pids_limit,
        "disk": {"requested": spec.disk, "not_enforced": disk.not_enforced(app.runner, desired.container)},
        "network": spec.network,
        "auto_commit": spec.auto_commit,
        "committed_state": [{"tag": s.tag, "id": s.image_id, "size": s.size, "in_use": s.tag == in_use}
                            for s in current],
        "previous_state": [{"tag": s.tag, "id": s.image_id} for s in saved if s.tag.endswith("-prev")],
        "in_sync": is_in_sync(desired, found),
        # The container of this sandbox as it is (null: none of ours), and each field
        # where it differs from the spec (none said for a spec that cannot be read).
        "actual": running,
        "differences": differences(desired, found)
        if running is not None and not app.spec_invalid else [],
        "owner": ownership.identity(spec),
        "container_owner": foreign,  # set: the container of this name is another owner's
        # Saved states of this name this owner does not use: another project's, or of
        # the old tag format and not provably ours (`gc` and their owner deal with them).
        "other_owners_state": [s.tag for s in state.states_in(listed, spec, ours=False)],
        # Limits requested but ignored by this host (rootless Podman on cgroup v1).
        "not_enforced": sorted(host.unenforced_limits(desired.container)),
        # What the spec grants beyond a default sandbox, and whether each is approved.
        "consent": consent_dict(spec),
        # This owner's setup, built and saved-state images: how many, and their sizes
        # added up (each image's size includes the layers it shares with the others).
        "images": {"count": len(own_images),
                   "size": sum(int(i.get("Size") or 0) for i in own_images)},
        "instance": _instance(app),
    }


def differences(desired: Desired, found: Observed) -> list[dict]:
    """{field, actual, wanted, class} for each field where the container is not what the
    spec asks (engine/diff.py, as plan sees it); `image_id` when the image of that name
    now has another id than the one the container was made from."""
    out: list[dict] = []
    # Equal hashes: no field differs, and deepdiff (slow to import) is not needed.
    if found.observed_hash != desired.hash:
        from podman_sandbox.engine.diff import changes

        out = [{"field": c.field, "actual": c.old, "wanted": c.new, "class": c.change_class}
               for c in changes(found.observed or {}, desired.container)]
    if found.base_image_id and found.built_from_base_id \
            and found.base_image_id != found.built_from_base_id:
        out.append({"field": "image_id", "actual": found.built_from_base_id,
                    "wanted": found.base_image_id, "class": "recreate"})
    return out


def _instance(app: App) -> dict | None:
    """--instance: its name, workspace mode, private folder and (worktree) branch."""
    if not app.instance:
        return None
    layout, meta = app.layout, app.layout.meta or {}
    return {"name": layout.name, "workspace": layout.mode, "folder": layout.folder,
            "made": bool(layout.meta), "branch": meta.get("branch"), "base": meta.get("base")}


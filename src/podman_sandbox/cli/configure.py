"""podman-sandbox configure."""

from __future__ import annotations

import json
import os

import click

from podman_sandbox.app import App
from podman_sandbox.errors import SpecError

NO_LIMIT = ("none", "unlimited", "null", "0")


def _settings_view(app: App) -> dict:
    spec = app.spec
    from podman_sandbox.schema.sizes import format_size
    return {
        "name": spec.name,
        "image": spec.image,
        "memory": None if spec.memory is None else format_size(spec.memory),
        "cpus": spec.cpus,
        "pids_limit": spec.pids_limit,
        "auto_commit": spec.auto_commit,
        "network": spec.network,
        "setup": list(spec.setup),
        "env": dict(spec.env),
        "source": spec.source,
        "mode": spec.mode,
    }


def _write_atomically(path: str, text: str, *, kind: str) -> None:
    """config.json: 0600 in a private folder (it decides what a classic sandbox mounts).
    sandbox.yaml keeps its mode; its folder is the workspace, where the sandbox could
    plant a symlink at any fixed temporary name: write_private never follows one."""
    from podman_sandbox import private

    if kind == "project":
        file_mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    else:
        private.private_dir(os.path.dirname(path), top=os.path.dirname(path))
        file_mode = 0o600
    private.write_private(path, text.encode("utf-8"), mode=file_mode)


def save_settings(app: App, updates: dict) -> list[tuple[str, object, object]]:
    """Write updates into the governing file; returns (key, old, new) for what changed.

    A project's sandbox.yaml is edited in place (comments, order and formatting
    kept); elsewhere the user's config.json. The result is validated before it
    is written: an invalid value changes nothing.
    """
    from podman_sandbox.schema.source import read_document, read_spec_bytes, validate_text

    target = app.target
    path = target.spec_path
    old_doc = read_document(path, kind=target.mode, base_dir=target.project_dir)
    changed = [(k, old_doc.get(k), v) for k, v in updates.items() if not _same_setting(k, old_doc, v)]
    if not changed:
        return []
    if target.mode == "project" and os.path.islink(path):
        # A link (yours, or one the sandbox planted): edit the file it leads to. Replacing
        # the link with an edited copy would put that file, env values and all, in the
        # workspace; a file outside the project only once that link is approved (trust.py).
        app.check_consent()
        path = os.path.realpath(path)
    if target.mode == "project":
        from podman_sandbox.schema.yamledit import set_top_level_value
        text = (read_spec_bytes(path) or b"").decode("utf-8")  # read_document checked it
        for key, _, value in changed:
            text = set_top_level_value(text, key, value)
    else:
        text = _updated_config_json(path, changed)
    validate_text(path, text, kind=target.mode, base_dir=target.project_dir)  # SpecError: nothing written
    try:
        _write_atomically(path, text, kind=target.mode)
    except OSError as exc:
        raise SpecError([f"cannot write {path}: {exc.strerror or exc}"]) from None
    app.reload()
    return changed


def _same_setting(key: str, doc: dict, new) -> bool:
    """512m and 536870912 are the same memory limit: no change to write. An absent
    `cpus` is the default limit, not `cpus: null` (no limit)."""
    old = doc.get(key)
    if key == "cpus" and new is None:
        return key in doc and old is None
    if key == "memory" and old is not None and new is not None:
        from podman_sandbox.schema.sizes import parse_size
        try:
            return parse_size(old) == parse_size(new)
        except ValueError:
            return False
    return old == new


def _updated_config_json(path: str, changed) -> str:
    """config.json with the changes, keeping its keys (the original tool's memory_limit too)."""
    from podman_sandbox.schema.source import LEGACY_KEYS, read_spec_bytes
    try:
        content = read_spec_bytes(path)
        doc = {} if content is None else json.loads(content)
    except ValueError as exc:
        raise SpecError([f"{path}: not valid JSON ({exc}); fix or remove it"]) from None
    aliases = {new: old for old, new in LEGACY_KEYS.items() if old in doc}
    for key, _, value in changed:
        doc[aliases.get(key, key)] = value
    return json.dumps(doc, indent=2) + "\n"


def _memory_value(text: str):
    if text.strip().lower() in NO_LIMIT:
        return None
    from podman_sandbox.schema.sizes import parse_size
    try:
        parse_size(text)
    except ValueError:
        raise SpecError([f"--memory: {text!r} is not a size; write a number with an optional "
                         "unit b, k, m or g, like 512m or 1g (or 'none' for no limit)"]) from None
    return text


def _cpus_value(text: str):
    if text.strip().lower() in NO_LIMIT:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.01 <= value <= 1024:  # the schema's bounds; also refuses nan and inf
        raise SpecError([f"--cpus: {text!r} is not a number of cores from 0.01 to 1024 "
                         "(or 'none' for no limit)"])
    return int(value) if value.is_integer() else value


def _show(value) -> str:
    if value is None:
        return "unset"
    return value if isinstance(value, str) and value.strip() == value and value else json.dumps(value)


@click.command("configure")
@click.option("-m", "--memory", metavar="LIMIT", help="Memory limit, e.g. 512m or 1g; 'none' for no limit.")
@click.option("--image", metavar="IMAGE", help="Base image, e.g. python:3.12-slim.")
@click.option("--auto-commit/--no-auto-commit", default=None,
              help="Commit the sandbox's state automatically before it stops.")
@click.option("--cpus", metavar="CORES", help="CPU limit in cores, e.g. 1.5; 'none' for no limit.")
@click.option("--pids-limit", type=click.IntRange(min=0), help="Most processes at once (0: no limit).")
@click.option("--network", type=click.Choice(["bridge", "none", "host"]), help="Sandbox network.")
@click.option("--show", is_flag=True, help="Show the current settings and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --show: print JSON.")
@click.option("--no-restart", is_flag=True,
              help="Only save; a running sandbox picks the change up at its next start or execute.")
@click.pass_obj
def command(app: App, memory, image, auto_commit, cpus, pids_limit, network, show, as_json,
            no_restart) -> int:
    """Change the sandbox's settings and apply them to a running sandbox.

    Prints what changed. A memory or CPU change is applied live (no restart,
    nothing lost); a change baked into the container (image, network, ...)
    re-creates it. In a project this edits sandbox.yaml in place, keeping
    comments; elsewhere ~/.config/podman-sandbox/config.json.

    \b
    Examples:
      podman-sandbox configure --memory 512m
      podman-sandbox configure --image python:3.12-slim --no-restart
      podman-sandbox configure --auto-commit
      podman-sandbox configure --show --json
    """
    updates: dict = {}
    if memory is not None:
        updates["memory"] = _memory_value(memory)
    if cpus is not None:
        updates["cpus"] = _cpus_value(cpus)
    for key, value in (("image", image), ("auto_commit", auto_commit),
                       ("pids_limit", pids_limit), ("network", network)):
        if value is not None:
            updates[key] = value
    if show or not updates:
        view = _settings_view(app)
        if as_json:
            click.echo(json.dumps(view, indent=2))
        else:
            for key, value in view.items():
                click.echo(f"{key + ':':13} {value if isinstance(value, str) else json.dumps(value)}")
        return 0

    from podman_sandbox import trust
    before = trust.grants(app.spec)
    changed = save_settings(app, updates)
    if not changed:
        click.echo("Nothing changed: the settings already have those values.")
        return 0
    click.echo(f"Updated {app.target.spec_path}:")
    for key, old, new in changed:
        click.echo(f"  {key}: {_show(old)} -> {_show(new)}")
    for grant in trust.approve_added(app.spec, before):  # you typed it: that is consent
        click.echo(f"Approved: {grant.text}")
    from podman_sandbox.engine import host
    ignored = {k: v for k, v in host.unenforced_limits(app.desired.container).items()
               if k in {key for key, _, _ in changed}}
    if ignored:  # never shown as applied when this host ignores it (rootless, cgroup v1)
        click.echo(f"Not enforced: {host.describe_limits(ignored)} requested, but {host.NOT_ENFORCED_REASON}")
    if no_restart:
        click.echo("Saved; not applied now (--no-restart).")
        return 0
    from podman_sandbox.engine import actual as act
    found = act.observe(app.runner, app.desired)
    if found.state != "running":
        click.echo("The sandbox is not running: the settings apply when it next starts.")
        return 0
    outcome = app.converge(imperative=True)
    for action in outcome.plan.actions:
        click.echo(f"Applied: {action.kind} ({action.change_class}): {action.reason}")
    if outcome.plan.in_sync:
        click.echo("Applied: nothing to change in the running sandbox.")
    return 0

"""podman-sandbox status: the data of status.py, in words. Where the container differs
from the spec, the row shows what runs and then what is wanted."""

from __future__ import annotations

import json

import click

from podman_sandbox.app import App
from podman_sandbox.cli.kube import kube_options
from podman_sandbox.engine.diff import show_value
from podman_sandbox.output import printable

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Fields with a row of their own; any other difference is named in "Also differs".
_OWN_ROWS = {"image", "image_id", "mounts", "env", "memory", "cpus", "pids_limit", "network"}


def _converge(data: dict) -> str:
    """What makes the sandbox what the spec says: `start` in classic mode (a remount
    discards uncommitted work with a notice, as the original tool did), else `apply`."""
    return f"run `podman-sandbox {'start' if data['mode'] == 'classic' else 'apply'}`"


def _differs(data: dict, field: str) -> dict | None:
    return next((d for d in data["differences"] if d["field"] == field), None)


def _now(data: dict, key: str) -> object:
    """What runs: the container's value when there is one, else the spec's."""
    return (data["actual"] or {}).get(key, data[key])


def _wanted(data: dict, shown: str, field: str, fmt: Callable[[Any], str]) -> str:
    """shown, or when the container differs in field: what it has, then what is wanted."""
    diff = _differs(data, field)
    if diff is None:
        return shown
    return f"{fmt(diff['actual'])} in the container; {fmt(diff['wanted'])} wanted: {_converge(data)}"


def _limit(data: dict, key: str) -> str:
    def fmt(value: object) -> str:
        return "no limit" if not value else str(value)

    if data[key] and key in data["not_enforced"]:
        return f"{data[key]} requested, NOT enforced: rootless Podman cannot set limits on cgroup v1 hosts"
    return _wanted(data, fmt(_now(data, key)), key, fmt)


def _image(data: dict) -> str:
    moved = _differs(data, "image_id")
    shown = _wanted(data, str(_now(data, "image")), "image", str)
    if moved and not _differs(data, "image"):
        shown += (f" (the container was made from its id {str(moved['actual'])[:12]}; it now has "
                  f"id {str(moved['wanted'])[:12]}: {_converge(data)})")
    return shown


def _extra_mounts(mounts: list[dict] | None) -> str:
    return show_value("mounts", [m for m in mounts or () if m.get("target") != "/workspace"])


def _workspace(mounts: list[dict] | None) -> str | None:
    return next((m.get("source") for m in mounts or () if m.get("target") == "/workspace"), None)


def _mount_rows(data: dict) -> list[tuple[str, str]]:
    shown = f"{data['mount']['source']} -> /workspace"
    diff = _differs(data, "mounts")
    rows = []
    if diff is None:
        rows.append(("Mount", shown))
        extra = _extra_mounts((data["actual"] or {}).get("mounts"))
        if extra != "none":
            rows.append(("Other mounts", extra))
        return rows
    wanted = _workspace(diff["wanted"])
    if wanted != _workspace(diff["actual"]):
        shown = f"{shown} in the container; {wanted} wanted: {_converge(data)}"
    rows.append(("Mount", shown))
    now, then = _extra_mounts(diff["actual"]), _extra_mounts(diff["wanted"])
    if now != then:
        rows.append(("Other mounts", f"{now} in the container; {then} wanted: {_converge(data)}"))
    elif now != "none":
        rows.append(("Other mounts", now))
    return rows


def _env(data: dict) -> str | None:
    """The variables' names (their values stay out of a terminal's scrollback), and which
    ones differ."""
    diff = _differs(data, "env")
    if diff is None:
        names = sorted((data["actual"] or {}).get("env") or {})
        return ", ".join(names) if names else None
    now, wanted = diff["actual"] or {}, diff["wanted"] or {}
    parts = [f"{k} added" for k in sorted(set(wanted) - set(now))]
    parts += [f"{k} removed" for k in sorted(set(now) - set(wanted))]
    parts += [f"{k} changed" for k in sorted(set(now) & set(wanted)) if now[k] != wanted[k]]
    return (f"{', '.join(sorted(now)) or 'none'} in the container; wanted: {', '.join(parts)}: "
            f"{_converge(data)}")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys, see README).")
@kube_options
@click.pass_obj
def command(app: App, as_json: bool) -> int:
    """Show the sandbox: running or not, image, effective limits, mount, saved state.

    The memory limit shown is read from the container's cgroup, which is what
    the kernel enforces (Podman's own reports go stale after a live update).

    \b
    Examples:
      podman-sandbox status
      podman-sandbox status --json
    """
    app.tolerate_invalid_spec()
    from podman_sandbox.schema.sizes import format_size
    from podman_sandbox.status import status_dict

    data = status_dict(app)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return 0
    mem = data["memory"]
    if mem["requested"] is None and mem["effective"] is not None:
        memory = (f"{format_size(mem['effective'])} (effective, from the cgroup); no limit "
                  f"requested: {_converge(data)}")
    elif mem["requested"] is None:
        memory = "no limit"
    elif "memory" in data["not_enforced"]:
        memory = (f"{format_size(mem['requested'])} requested, NOT enforced: rootless Podman "
                  "cannot set limits on cgroup v1 hosts")
    elif mem["effective"] is None and data["state"] != "running":
        memory = _wanted(data, f"{format_size(mem['requested'])} (applies when running)", "memory",
                         format_size)
    else:
        memory = f"{format_size(mem['effective'])} (effective, from the cgroup)"
        if not mem["enforced"]:
            memory += f"; {format_size(mem['requested'])} requested: {_converge(data)}"
    used = [s["tag"] for s in data["committed_state"] if s["in_use"]]
    others = [s["tag"] for s in data["committed_state"] if not s["in_use"]]
    sandbox = f"{data['name']} ({'not running, no container' if data['state'] == 'missing' else data['state']})"
    if data["container_owner"]:
        sandbox = (f"{data['name']}: the container of this name belongs to "
                   f"{data['container_owner']}, not to {data['owner']}; choose another `name:`")
    inst = data["instance"]
    env = _env(data)
    others_differ = [d["field"] for d in data["differences"] if d["field"] not in _OWN_ROWS]
    rows = [
        ("Sandbox", sandbox),
        *([("Instance", f"{inst['name']} ({inst['workspace']}"
            + (f" on {inst['branch']}" if inst["branch"] else "")
            + ("" if inst["made"] else ", not made yet") + f"; {inst['folder']})")] if inst else []),
        ("Governed by", f"{data['source']} ({data['mode']})"),
        ("Engine", data["engine"]["name"] + (f", server {data['engine']['host']}"
                                             if data["engine"]["host"] else "")),
        ("Image", _image(data)),
        *_mount_rows(data),
        *([("Env", env)] if env else []),
        ("Memory", memory),
        ("CPUs", _limit(data, "cpus")),
        ("Pids limit", _limit(data, "pids_limit")),
        ("Disk", "no limit" if not data["disk"]["requested"] else
         (data["disk"]["not_enforced"] or "").removeprefix("disk: ")
         or f"{format_size(data['disk']['requested'])} (Podman's storage enforces it)"),
        ("Network", _wanted(data, str(_now(data, "network")), "network", str)),
        ("Saved state", f"{used[0]} (in use)" if used else "none for this image and setup "
         "(a new container starts fresh)"),
        *([("Other saved states", ", ".join(others) + " (made on another image or setup; "
            "not used, `podman-sandbox reset` removes them)")] if others else []),
        *([("Not yours", ", ".join(data["other_owners_state"]) + " (saved states of this name "
            "that another project or config folder made, never used; or of the old tag format, "
            "adopted by your next start when their labels name this folder)")]
          if data["other_owners_state"] else []),
        ("Images", f"{data['images']['count']} setup, built and saved-state image(s), "
                   f"{data['images']['size'] / 1e6:.1f} MB together (shared layers counted "
                   "in each; `podman-sandbox gc` removes superseded ones)"),
        *([("Also differs", ", ".join(others_differ) + " (see `podman-sandbox plan`)")]
          if others_differ else []),
        ("Auto-commit", "on" if data["auto_commit"] else "off"),
        ("In sync", "yes" if data["in_sync"] else "no (see `podman-sandbox plan`)" if data["running"]
         else "- (not running)"),
    ]
    for label, value in rows:  # names and paths come from the spec: never terminal controls
        click.echo(printable(f"{label + ':':13} {value}"))
    from podman_sandbox.cli.report import print_consent
    print_consent(data["consent"], app.spec_file)
    return 0

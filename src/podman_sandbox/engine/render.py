"""Podman argv from Jinja templates (engine/templates/*.j2).

Every {{ expression }} is shell-quoted by the environment's finalize hook and
the rendered text is split with shlex, so a value becomes exactly one argv
element whatever it holds: spaces, quotes, newlines, $(...), a leading --.
The split is only a tokenizer; nothing is ever handed to a shell.
StrictUndefined turns a missing variable into an error, not an empty string.

Two templates a first `execute` needs (create, images) also have a twin here
that builds the list directly: importing Jinja and compiling a template costs
a first execute about 0.1 s of CPU. The templates stay the reference:
tests/unit/test_render_golden.py holds each twin equal to its template on every
golden case and hostile value (as actual.inspect_argv for inspect.j2).
"""

from __future__ import annotations

import shlex
from functools import lru_cache


# What a sandbox container runs until a command is exec'ed: Podman's init (--init mounts
# the host's catatonit there) in pause mode, never a program of the image, which may be
# a state the sandbox saved: nothing of it runs before the mounts are checked.
IDLE = "/run/podman-init"


def _quote(value) -> str:
    if value is None:
        raise ValueError("None reached a podman template")
    if isinstance(value, bool):
        value = "true" if value else "false"
    return shlex.quote(str(value))


@lru_cache(maxsize=1)
def _environment():
    # Imported here, not at the top: importing this module must stay cheap, since
    # the no-change path of apply imports it without rendering anything.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("podman_sandbox.engine", "templates"),
        undefined=jinja2.StrictUndefined,
        finalize=_quote,
        autoescape=False,
        keep_trailing_newline=False,
    )


def render(template: str, **context) -> list[str]:
    text = _environment().get_template(f"{template}.j2").render(**context)
    return shlex.split(text)


def _arg(value) -> str:
    """One argument, as the templates' finalize makes it (before quoting)."""
    if value is None:
        raise ValueError("None reached a podman template")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def images_argv(reference: str) -> list[str]:
    """render("images", reference=reference), without Jinja (templates/images.j2)."""
    return ["podman", "images", "--format", "json", "--filter", "reference=" + _arg(reference)]


def create_argv(*, name, labels: dict, c: dict, volumes: list, image, start: bool,
                cap_drops: list, userns: list, disk=None) -> list[str]:
    """render("create", ...), without Jinja (templates/create.j2)."""
    argv = ["podman", "run", "--detach"] if start else ["podman", "create"]
    argv += ["--name", _arg(name)]
    for key, value in labels.items():
        argv += ["--label", f"{_arg(key)}={_arg(value)}"]
    argv += ["--init", "--security-opt", "no-new-privileges",
             "--pids-limit", _arg(c["pids_limit"] if c["pids_limit"] > 0 else -1)]
    if c["memory"]:
        argv += ["--memory", f"{_arg(c['memory'])}b", "--memory-swap", f"{_arg(c['memory'])}b"]
    if c["cpus"]:
        argv += ["--cpus", _arg(c["cpus"])]
    if disk:
        argv += ["--storage-opt", f"size={_arg(disk)}"]
    if c["network"] != "bridge":
        argv += ["--network", _arg(c["network"])]
    if c["read_only"]:
        argv += ["--read-only", "--read-only-tmpfs"]
    for cap in cap_drops:
        argv += ["--cap-drop", _arg(cap)]
    for cap in c["cap_add"]:
        argv += ["--cap-add", _arg(cap)]
    if c["user"]:
        argv += ["--user", _arg(c["user"])]
    argv += [_arg(extra) for extra in userns]
    for key, value in c["env"].items():
        argv += ["--env", f"{_arg(key)}={_arg(value)}"]
    if c.get("selinux_label") == "disable":
        argv += ["--security-opt", "label=disable"]
    for volume in volumes:
        argv += ["--volume", _arg(volume)]
    return argv + ["--workdir", "/workspace", "--entrypoint", IDLE, _arg(image), "-P"]

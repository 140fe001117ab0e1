"""The user's settings: what `configure` (and `start --image`) read and write, and how a
saved change reaches the running sandbox or is undone when it cannot.

A project's sandbox.yaml is edited in place (comments, order and formatting kept);
elsewhere the user's config.json (~/.config/podman-sandbox/config.json). A change that
cannot be applied (an image that cannot be pulled, a value Podman refuses) is rolled
back: a saved-but-unusable setting would make every later `execute` fail while the old
sandbox still runs. No click here: cli/configure.py prints what these return.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from podman_sandbox.errors import SandboxError, SpecError

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds (mypy knows the name)
if TYPE_CHECKING:
    from podman_sandbox.app import App
    from podman_sandbox.engine.apply import Outcome
    from podman_sandbox.schema.spec import Spec
    from podman_sandbox.trust import Grant

NO_LIMIT = ("none", "unlimited", "null", "0")

Changed = tuple[str, object, object]  # (key, old value, new value)


@dataclass(frozen=True)
class Saved:
    """One write of the governing file, with what it takes to undo it."""

    path: str  # the file written (a symlinked sandbox.yaml: the file it leads to)
    changed: tuple[Changed, ...]  # empty: the values were already set, nothing written
    before: bytes | None = None  # its bytes before (None: there was no such file)
    after: bytes = b""  # the bytes written
    mode: int = 0o600  # its permission bits before, kept by a rollback
    approved: tuple[Grant, ...] = ()  # grants the change added and approved (trust.approve_added)

    @property
    def keys(self) -> set[str]:
        return {key for key, _, _ in self.changed}


def view(spec: Spec) -> dict:
    """The settings in effect, as `configure --show` prints them."""
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


def parse_memory(text: str) -> str | None:
    """A --memory value as it is saved (None: no limit); SpecError for anything else."""
    if text.strip().lower() in NO_LIMIT:
        return None
    from podman_sandbox.schema.sizes import parse_size
    try:
        parse_size(text)
    except ValueError:
        raise SpecError([f"--memory: {text!r} is not a size; write a number with an optional "
                         "unit b, k, m or g, like 512m or 1g (or 'none' for no limit)"]) from None
    return text


def parse_cpus(text: str) -> float | int | None:
    """A --cpus value as it is saved (None: no limit); SpecError for anything else."""
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


# --- writing ------------------------------------------------------------------------

def _write_atomically(path: str, data: bytes, *, kind: str, mode: int | None = None) -> None:
    """config.json: 0600 in a private folder (it decides what a classic sandbox mounts).
    sandbox.yaml keeps its mode; its folder is the workspace, where the sandbox could
    plant a symlink at any fixed temporary name: write_private never follows one."""
    from podman_sandbox import private

    try:
        if kind == "project":
            file_mode = mode if mode is not None else (
                os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        else:
            private.private_dir(os.path.dirname(path), top=os.path.dirname(path))
            file_mode = 0o600
        private.write_private(path, data, mode=file_mode)
    except OSError as exc:
        raise SpecError([f"cannot write {path}: {exc.strerror or exc}"]) from None


def save(app: App, updates: dict) -> Saved:
    """Write updates into the governing file and approve the grants they add (the user
    typed them, outside the sandbox: that is consent). The result is validated before
    it is written: an invalid value changes nothing (SpecError, exit 121)."""
    from podman_sandbox import trust
    from podman_sandbox.schema.source import read_document, read_spec_bytes, validate_text

    target = app.target
    path = target.spec_path
    old_doc = read_document(path, kind=target.mode, base_dir=target.project_dir)
    changed = tuple((k, old_doc.get(k), v) for k, v in updates.items()
                    if not _same_setting(k, old_doc, v))
    if not changed:
        return Saved(path, ())
    grants_before = trust.grants(app.spec)
    if target.mode == "project" and os.path.islink(path):
        # A link (yours, or one the sandbox planted): edit the file it leads to. Replacing
        # the link with an edited copy would put that file, env values and all, in the
        # workspace; a file outside the project only once that link is approved (trust.py).
        app.check_consent()
        path = os.path.realpath(path)
    before = read_spec_bytes(path)  # read_document checked it
    if target.mode == "project":
        from podman_sandbox.schema.yamledit import set_top_level_value
        text = (before or b"").decode("utf-8")
        for key, _, value in changed:
            text = set_top_level_value(text, key, value)
    else:
        text = _updated_config_json(path, before, changed)
    validate_text(path, text, kind=target.mode, base_dir=target.project_dir)  # SpecError: nothing written
    mode = os.stat(path).st_mode & 0o777 if before is not None else 0o600
    after = text.encode("utf-8")
    _write_atomically(path, after, kind=target.mode)
    app.reload()
    approved = trust.approve_added(app.spec, grants_before)
    return Saved(path, changed, before, after, mode, approved)


def _same_setting(key: str, doc: dict, new: object) -> bool:
    """512m and 536870912 are the same memory limit: no change to write. An absent
    `cpus` is the default limit, not `cpus: null` (no limit)."""
    old = doc.get(key)
    if key == "cpus" and new is None:
        return key in doc and old is None
    if key == "memory" and old is not None and new is not None:
        from podman_sandbox.schema.sizes import parse_size
        try:
            return parse_size(old) == parse_size(new)  # type: ignore[arg-type]
        except ValueError:
            return False
    return old == new


def _updated_config_json(path: str, content: bytes | None, changed: tuple[Changed, ...]) -> str:
    """config.json with the changes, keeping its keys (the original tool's memory_limit too)."""
    from podman_sandbox.schema.source import LEGACY_KEYS
    try:
        doc = {} if content is None else json.loads(content)
    except ValueError as exc:
        raise SpecError([f"{path}: not valid JSON ({exc}); fix or remove it"]) from None
    aliases = {new: old for old, new in LEGACY_KEYS.items() if old in doc}
    for key, _, value in changed:
        doc[aliases.get(key, key)] = value
    return json.dumps(doc, indent=2) + "\n"


# --- applying, or undoing ---------------------------------------------------------------

def unenforced(app: App, saved: Saved) -> dict:
    """The changed limits this host ignores (rootless Podman on cgroup v1): field -> value."""
    from podman_sandbox.engine import host
    return {k: v for k, v in host.unenforced_limits(app.desired.container).items() if k in saved.keys}


def apply_if_running(app: App, saved: Saved) -> Outcome | None:
    """Bring a running sandbox to the saved settings (None: it is not running, so they
    apply when it next starts). A change that cannot be applied is rolled back."""
    from podman_sandbox.engine import actual as act

    if act.observe(app.runner, app.desired).state != "running":
        return None
    with undone_on_failure(app, saved):
        return app.converge(imperative=True)


@contextmanager
def undone_on_failure(app: App, saved: Saved) -> Iterator[None]:
    """Whatever fails in the block (a pull, a create, Ctrl-C) undoes saved, says so in
    one line, and goes on failing as it did."""
    try:
        yield
    except BaseException:
        if saved.changed:
            app.out.notice(rollback(app, saved))
        raise


def rollback(app: App, saved: Saved) -> str:
    """Put the file back as it was before saved (and withdraw the approvals it added);
    one line saying what was done. A file changed since is left as it is."""
    from podman_sandbox import trust
    from podman_sandbox.schema.source import read_spec_bytes

    keys = ", ".join(key for key, _, _ in saved.changed)
    try:
        now = read_spec_bytes(saved.path)
    except SpecError:
        now = None
    if now != saved.after:
        return (f"the change to {keys} was not applied, and {saved.path} changed meanwhile, "
                "so it is left as it is now")
    try:
        if saved.before is None:
            os.unlink(saved.path)
        else:
            _write_atomically(saved.path, saved.before, kind=app.target.mode, mode=saved.mode)
    except (OSError, SpecError) as exc:
        return (f"the change to {keys} was not applied, and {saved.path} could not be put "
                f"back ({exc}): it still holds the change")
    app.reload()
    if saved.approved:
        try:
            trust.withdraw(app.spec, saved.approved)
        except SandboxError as exc:  # the failure that brought us here is the one to show
            return (f"the change to {keys} was not applied, so {saved.path} is as it was again; "
                    f"the approval it added could not be withdrawn: {exc.message}")
    back = "; ".join(f"{key}: {shown(old)}" for key, old, _ in saved.changed)
    return (f"the change to {keys} was not applied, so it is rolled back: {saved.path} is "
            f"as it was ({back})")


def shown(value: object) -> str:
    """A setting's value as configure prints it: unset, a plain string as it is, else JSON."""
    if value is None:
        return "unset"
    return value if isinstance(value, str) and value.strip() == value and value else json.dumps(value)

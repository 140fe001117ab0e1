"""Consent: what a spec grants beyond the defaults, and what the user approved.

sandbox.yaml lives in /workspace, which the sandboxed code can write: code
inside could add a mount of /, a capability or the host's network, and the
user's next ordinary `execute` would give it them. So, as direnv's `allow`
and mise's `trust` do, whatever a spec grants beyond a default sandbox takes
effect only once the user approved exactly that, outside the sandbox:

- grants(spec) lists them (pure, apart from resolving mount sources): every
  mount (real source, target, ro/rw), every `force: true`, every capability
  added beyond Podman's default set, `network: host`, a pids limit looser
  than the default (0 or above it), `selinux_label: disable`, and a
  `kube.registry` (where `push` sends the setup image);
- approvals are kept per project folder and spec file, in the user's state
  folder (paths.approvals_dir, never under a workspace), as private files
  (private.py): a file another user could write, a symlink, or anything
  unreadable approves nothing;
- a spec is allowed when each of its grants is covered by an approved one
  of the same kind and subject that is at least as wide (read-only is
  covered by read-write, a pids limit by a higher one). Narrowing and a
  spec with no grants need nothing, so the quick start never asks.

Classic mode (no sandbox.yaml: the user's own config.json, written by
`configure`) needs no approval while that file is the user's own and nobody
else can write it or a folder above it, and no read-write mount of the spec
exposes it to the sandbox; otherwise it is treated like a project's spec.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from podman_sandbox import capabilities, paths
from podman_sandbox.lite import sha256
from podman_sandbox.output import printable
from podman_sandbox.errors import RefusedError, SandboxError
from podman_sandbox.schema import spec as spec_defaults
from podman_sandbox.schema.hostpaths import real_path
from podman_sandbox.schema.spec import DEFAULT_PIDS_LIMIT, Spec

FORMAT = 1
UNLIMITED = 2 ** 63  # pids_limit 0, as a width


@dataclass(frozen=True)
class Grant:
    """One thing a spec asks for beyond the defaults, which takes the user's approval."""
    kind: str  # spec_file | mount | force | capability | network | pids_limit | cpus | selinux_label
    subject: str  # what it is about: "SOURCE -> TARGET", a capability, "host", ...
    level: int  # how wide: an approval covers the same kind and subject up to its level
    text: str  # plain words
    breaks_isolation: bool = False

    @property
    def id(self) -> str:
        """A stable identity people can read: kind, subject and width."""
        if self.kind == "mount":
            return f"mount:{self.subject}:{'rw' if self.level > 1 else 'ro'}"
        if self.kind == "pids_limit":
            return f"pids_limit:{0 if self.level == UNLIMITED else self.level}"
        if self.kind == "cpus":
            return "cpus:none" if self.level == UNLIMITED else f"cpus:{self.level / 100:g}"
        return f"{self.kind}:{self.subject}"

    def covered_by(self, approved: "Grant") -> bool:
        return (approved.kind, approved.subject) == (self.kind, self.subject) \
            and approved.level >= self.level

    def record(self) -> dict:
        return {"kind": self.kind, "subject": self.subject, "level": self.level}


def _exposes(source: str, folder: str) -> bool:
    """A mount of source shows folder (or a part of it) to the sandbox."""
    real, inside = real_path(source).rstrip("/") + "/", real_path(folder).rstrip("/") + "/"
    return inside.startswith(real) or real.startswith(inside)


def _mount(spec: Spec, mount) -> list[Grant]:
    from podman_sandbox.schema.hostpaths import broad_reason

    real = real_path(mount.source)
    shown = mount.source if real == mount.source else f"{mount.source} (really {printable(real)})"
    rw = not mount.read_only
    # The spec's own source and target were refused with a control character (validate.py);
    # the real path is the host's, which another user may have named.
    text = f"mount {shown} {'read-write' if rw else 'read-only'} at {mount.target}"
    if rw and _exposes(real, paths.state_dir()):
        text += " (it holds your podman-sandbox approvals: code inside could approve anything)"
    out = [Grant("mount", f"{real} -> {mount.target}", 2 if rw else 1, text)]
    if mount.force:
        reason = broad_reason(real)
        out.append(Grant("force", real, 1,
                         f"force: allow mounting {printable(real)}" + (f", {reason}," if reason else "")
                         + " although such a broad path is refused without it",
                         breaks_isolation=bool(reason)))
    return out


def _spec_link(spec: Spec) -> Grant | None:
    """sandbox.yaml lives in the workspace: code inside can replace it with a symlink to any
    other spec on the host (another project's, with its env values). A spec that really
    lives outside its project folder is read only once you approved that file."""
    if spec.mode != "project" or not spec.source:
        return None
    real = real_path(spec.source)
    if real.startswith(real_path(spec.project_dir).rstrip("/") + "/"):
        return None
    return Grant("spec_file", real, 1,
                 f"{os.path.basename(spec.source)} is a link to {printable(real)}, outside the project "
                 "folder: that file's settings (its env values too) reach the sandbox")


def grants(spec: Spec) -> tuple[Grant, ...]:
    """Everything spec grants beyond a default sandbox, in spec order."""
    out: list[Grant] = []
    link = _spec_link(spec)
    if link:
        out.append(link)
    for mount in spec.mounts:
        out += _mount(spec, mount)
    for cap in spec.cap_add:
        name = capabilities.bare(cap)
        if name not in capabilities.PODMAN_DEFAULTS:
            out.append(Grant("capability", name, 1, capabilities.describe(name),
                             breaks_isolation=name in capabilities.BREAKS_ISOLATION))
    if spec.network == "host":
        out.append(Grant("network", "host", 1,
                         "network host: shares the host's network: can reach services that listen "
                         "only on the host (localhost databases, cloud metadata) and bind host ports",
                         breaks_isolation=True))
    if spec.pids_limit == 0 or spec.pids_limit > DEFAULT_PIDS_LIMIT:
        level = UNLIMITED if spec.pids_limit == 0 else spec.pids_limit
        text = ("pids_limit 0: no limit on processes (a fork bomb can exhaust the host)"
                if spec.pids_limit == 0 else
                f"pids_limit {spec.pids_limit}: more processes than the default {DEFAULT_PIDS_LIMIT}")
        out.append(Grant("pids_limit", "", level, text))
    default_cpus = spec_defaults.default_cpus()
    if default_cpus is not None and (spec.cpus is None or spec.cpus > default_cpus):
        # Levels in hundredths of a core: an approval covers the same or a lower limit.
        level = UNLIMITED if spec.cpus is None else round(spec.cpus * 100)
        text = ("cpus null: no CPU limit (a runaway sandbox can take every core from the host)"
                if spec.cpus is None else
                f"cpus {spec.cpus:g}: more CPU than the default {default_cpus:g} (host cores less a share)")
        out.append(Grant("cpus", "", level, text))
    if spec.kube.registry:
        # A sandbox with no network could otherwise name a registry of its own and have
        # the user's `push` carry out what its setup steps wrote.
        out.append(Grant("registry", spec.kube.registry, 1,
                         f"kube.registry {printable(spec.kube.registry)}: `push` sends the setup "
                         "image (what the setup steps made) there"))
    if spec.selinux_label == "disable":
        out.append(Grant("selinux_label", "disable", 1,
                         "selinux_label disable: the sandbox runs unconfined by SELinux "
                         "(--security-opt label=disable); on an SELinux host its processes may use "
                         "whatever the mounts show, whatever the files' labels say",
                         breaks_isolation=True))
    return tuple(out)


def pending(wanted: tuple[Grant, ...], approved: tuple[Grant, ...]) -> tuple[Grant, ...]:
    """The grants of wanted that no approval covers (the subset rule)."""
    return tuple(g for g in wanted if not any(g.covered_by(a) for a in approved))


# --- approvals on disk -----------------------------------------------------------------

def approvals_path(project_dir: str, spec_path: str) -> str:
    key = sha256(f"{project_dir}\0{spec_path}".encode("utf-8", "surrogateescape"))
    return os.path.join(paths.approvals_dir(), key.hexdigest()[:32] + ".json")


def load_approved(project_dir: str, spec_path: str) -> tuple[tuple[Grant, ...], str | None]:
    """(the approved grants, why none could be read: None when the file is fine or absent)."""
    from podman_sandbox.private import private_dir, read_private

    path = approvals_path(project_dir, spec_path)
    if not os.path.lexists(os.path.dirname(path)):
        return (), None  # nothing approved yet (and reading must not make the folder)
    try:
        private_dir(os.path.dirname(path))
        data = json.loads(read_private(path, limit=1 << 20))
        if data.get("format") != FORMAT or data.get("project") != project_dir \
                or data.get("spec") != spec_path:
            return (), f"{path} is for another project"
        approved = tuple(Grant(g["kind"], g["subject"], int(g["level"]), "")
                         for g in data["grants"])
    except FileNotFoundError:
        return (), None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return (), f"ignoring {path}: {exc}"
    return approved, None


def save_approved(project_dir: str, spec_path: str, approved: tuple[Grant, ...]) -> str:
    """Record approved for the project (replacing what was); the file's path."""
    from podman_sandbox.private import private_dir, write_private

    path = approvals_path(project_dir, spec_path)
    data = {"format": FORMAT, "project": project_dir, "spec": spec_path,
            "grants": [g.record() for g in approved]}
    try:
        private_dir(os.path.dirname(path))
        write_private(path, (json.dumps(data, indent=1) + "\n").encode())
    except OSError as exc:
        raise SandboxError(f"cannot record the approval in {os.path.dirname(path)}: {exc}",
                           hint="that folder must be yours and writable by nobody else") from None
    return path


def revoke(project_dir: str, spec_path: str) -> bool:
    """Forget the project's approvals; whether there were any."""
    try:
        os.unlink(approvals_path(project_dir, spec_path))
    except FileNotFoundError:
        return False
    return True


# --- classic mode ----------------------------------------------------------------------

def classic_problem(spec: Spec) -> str | None:
    """Why the user's own config.json cannot count as consented; None when it can."""
    from podman_sandbox.private import UnsafePathError, check_chain, others_can_write

    path = spec.source
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None  # defaults only: no grants
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if st.st_uid != os.geteuid():
        return f"{path} belongs to another user (uid {st.st_uid})"
    if others_can_write(st):
        return f"{path} is writable by other users"
    try:
        check_chain(os.path.dirname(path))
    except UnsafePathError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: {exc}"
    for mount in spec.mounts:
        if not mount.read_only and _exposes(mount.source, path):
            return f"the read-write mount of {mount.source} shows {path} to the sandbox"
    return None


# --- the check ------------------------------------------------------------------------

@dataclass(frozen=True)
class Consent:
    """A spec's grants, and those of them not approved yet."""
    grants: tuple[Grant, ...]
    pending: tuple[Grant, ...]
    problem: str | None = None  # why approvals were not read, or classic mode is not trusted
    consented_file: bool = False  # classic mode: the user's own config.json counts as consent

    def as_json(self) -> dict:
        """For plan --json and status --json (docs/json-output.md)."""
        waiting = set(self.pending)
        return {"approved": not self.pending,
                "grants": [{"id": g.id, "kind": g.kind, "description": g.text,
                            "breaks_isolation": g.breaks_isolation, "approved": g not in waiting}
                           for g in self.grants],
                **({"note": self.problem} if self.problem else {})}


def _governing(spec: Spec) -> Spec:
    """An instance is consented as its project: an approved grant covers the project's
    instances (their workspace mounted instead of the project folder is no new grant;
    their mount sources are checked again against the workspace at every create)."""
    return spec.instance.project if spec.instance else spec


def consent(spec: Spec) -> Consent:
    spec = _governing(spec)
    wanted = grants(spec)
    if not wanted:
        return Consent((), ())
    problem = None
    if spec.mode == "classic":
        problem = classic_problem(spec)
        if problem is None:
            return Consent(wanted, (), consented_file=True)
    approved, unreadable = load_approved(spec.project_dir, spec.source)
    return Consent(wanted, pending(wanted, approved), unreadable or problem)


def allow_command(spec_file: str | None) -> str:
    """The exact command that approves, as the user should type it."""
    import shlex

    return "podman-sandbox " + (f"-f {shlex.quote(spec_file)} " if spec_file else "") + "allow"


class ConsentError(RefusedError):
    """The spec grants what the user has not approved (exit 123)."""

    def __init__(self, spec: Spec, found: Consent, spec_file: str | None):
        self.pending = found.pending
        super().__init__(f"{spec.source} grants what you have not approved",
                         hint=f"check it, then run `{allow_command(spec_file)}` to approve"
                              " (nothing was created or changed)")
        self.details = [f"not approved: {g.text}" for g in found.pending]
        if found.problem:
            self.details.append(found.problem)

    def lines(self) -> list[str]:
        return [self.message, *self.details, f"hint: {self.hint}"]


def approve_added(spec: Spec, before: tuple[Grant, ...]) -> tuple[Grant, ...]:
    """After the user's own `configure` changed spec: approve the grants that change added
    (the user typed them, outside the sandbox), keeping what was approved; others stay
    pending. Returns the grants approved."""
    spec = _governing(spec)
    added = pending(grants(spec), before)
    if not added or spec.mode == "classic":
        return ()
    approved, _ = load_approved(spec.project_dir, spec.source)
    save_approved(spec.project_dir, spec.source, approved + added)
    return added


def withdraw(spec: Spec, added: tuple[Grant, ...]) -> None:
    """Undo approve_added (its change was rolled back): those approvals go, the rest stay.
    None of them was covered by an older approval (approve_added adds only pending ones)."""
    spec = _governing(spec)
    gone = {tuple(g.record().items()) for g in added}
    approved, _ = load_approved(spec.project_dir, spec.source)
    kept = tuple(g for g in approved if tuple(g.record().items()) not in gone)
    if len(kept) != len(approved):
        save_approved(spec.project_dir, spec.source, kept)


def approve(spec: Spec, found: Consent) -> str | None:
    """Record the spec's grants as approved; the approvals file (None: nothing to record)."""
    spec = _governing(spec)
    if not found.grants:
        return None
    return save_approved(spec.project_dir, spec.source, found.grants)

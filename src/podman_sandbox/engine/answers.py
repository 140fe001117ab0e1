"""Podman's answers: the one reader of what `podman inspect`, `podman images` and
`podman ps` say, for the engine and the fast path alike.

One rule for every answer: "no such object" is a normal answer (that object is
absent); anything else that is not a zero exit with the JSON list Podman prints
(another error, a crash, output cut short) is Podman failing, and raises
PodmanError (exit 125). An empty answer is never made up for a failure: a plan
made from it would start a new sandbox from the setup image while the
committed state sits unused.

`podman inspect A B` answers in the order asked and leaves out what it does not
find, naming each missing one on stderr (`no such object: "A"`), so each
answer is matched to the name it is for; what a name turned out to be (a
container, an image, a pod, a volume) is decided here too (kind()).

Not read here: `podman diff` (actual.changed_paths, whose "no answer" callers
tell from "nothing changed") and `podman info` (doctor, remote, disk).

Standard library only and cheap to import: `apply`'s fast path (fastpath.py)
reads its one inspect through it; json is imported when an answer is read.
"""

from __future__ import annotations

from podman_sandbox.engine.labels import LABEL_BASE_ID, LABEL_MANAGED

TYPE_CHECKING = False  # typing's import costs milliseconds on the fast path; mypy sees True
if TYPE_CHECKING:  # pragma: no cover - types only
    from podman_sandbox.engine.runner import Pending, Result, Runner

NO_SUCH_OBJECT = 'no such object: "'


def inspect_argv(names: list[str]) -> list[str]:
    """render("inspect", names=names), without loading Jinja.

    This call is the whole no-change check of apply, execute and status, and
    Jinja's import costs tens of ms there; templates/inspect.j2 stays the
    reference (tests/unit/test_hot_path_imports.py holds the two equal).
    """
    return ["podman", "inspect", *(str(name) for name in names)]


# --- reading one answer -------------------------------------------------------------

def _failed(what: str, argv: list[str], returncode: int | None, stderr: str,
            reason: str | None = None) -> Exception:
    from podman_sandbox.engine.failures import hint_for, podman_reason
    from podman_sandbox.errors import PodmanError

    if reason is None:
        reason = podman_reason(stderr) if stderr.strip() else f"exit {returncode}"
    return PodmanError(f"{what} failed: {reason}", argv=argv, stderr=stderr, returncode=returncode,
                       hint=hint_for(stderr) if stderr else None)


def decode(stdout: str, what: str, argv: list[str] | None = None) -> list[dict]:
    """The JSON list of objects Podman printed; PodmanError for anything else."""
    import json

    try:
        data = json.loads(stdout or "[]")
    except ValueError as exc:
        raise _failed(what, argv or [], 0, "", f"its answer is not JSON ({exc})") from None
    if data is None:
        return []  # `podman images` prints null for no image on some versions
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise _failed(what, argv or [], 0, "", "its answer is not a JSON list of objects")
    return data


def missing_names(stderr: str) -> list[str]:
    """The names Podman said it has no object for (one stderr line each)."""
    found = []
    for line in stderr.splitlines():
        at = line.find(NO_SUCH_OBJECT)
        if at >= 0:
            found.append(line[at + len(NO_SUCH_OBJECT):].rpartition('"')[0])
    return found


def _warning(line: str) -> bool:
    """A warning Podman logs (`WARN[0000] ...`, `time=... level=warning msg=...`)."""
    return line.lstrip().startswith("WARN") or "level=warning" in line


def _only_missing(stderr: str) -> bool:
    """Every error line on stderr says "no such object" (warnings aside)."""
    errors = [line for line in stderr.splitlines() if line.strip() and not _warning(line)]
    return bool(errors) and all(NO_SUCH_OBJECT in line for line in errors)


def read_inspect(names: list[str], result: Result, what: str = "podman inspect") -> list[dict | None]:
    """The inspect entry for each name, in order; None where Podman has no such object."""
    entries = decode(result.stdout, what, result.argv)
    if result.returncode == 0:
        missing: list[str] = []
    elif _only_missing(result.stderr):
        missing = missing_names(result.stderr)
    else:
        raise _failed(what, result.argv, result.returncode, result.stderr)
    present = [name for name in names if name not in missing]
    if not entries:
        return [None] * len(names)
    if len(present) != len(entries):
        raise _failed(what, result.argv, result.returncode, result.stderr,
                      f"{len(entries)} answer(s) for {len(present)} name(s) it found")
    by_position = iter(entries)
    return [None if name in missing else next(by_position) for name in names]


def read_list(result: Result, what: str) -> list[dict]:
    """The rows of a listing (`podman images`, `podman ps`): a failure is never "none"."""
    if result.returncode != 0:
        raise _failed(what, result.argv, result.returncode, result.stderr)
    return decode(result.stdout, what, result.argv)


# --- what an answer is --------------------------------------------------------------

def kind(entry: dict | None) -> str:
    """"container", "image", "pod", "other" (a volume, a network) or "" (none).

    A container's State is an object; a pod's is a word ("Running") and it lists
    its infra container; an image has RootFS and RepoTags."""
    if entry is None:
        return ""
    if isinstance(entry.get("State"), dict):
        return "container"
    if "InfraContainerID" in entry or "NumContainers" in entry:
        return "pod"
    if "RootFS" in entry or "RepoTags" in entry:
        return "image"
    return "other"


def labels_of(entry: dict | None) -> dict[str, str]:
    """A container's or image's labels ({} when it has none, or they are not a map)."""
    entry = entry or {}
    found = (entry.get("Config") or {}).get("Labels") if isinstance(entry.get("Config"), dict) else None
    if not found:
        found = entry.get("Labels")  # an image's listing row carries them at the top
    return dict(found) if isinstance(found, dict) else {}


class Container:
    """The facts of one container inspect entry that everything else decides on."""

    __slots__ = ("info", "id", "name", "running", "pid", "pid_file", "labels")

    def __init__(self, info: dict):
        state = info.get("State") or {}
        pid = state.get("Pid")
        self.info = info
        self.id: str | None = info.get("Id") or None
        self.name: str = info.get("Name") or ""
        self.running: bool = state.get("Running") is True
        self.pid: int | None = pid if self.running and isinstance(pid, int) and pid > 0 else None
        self.pid_file: str | None = info.get("PidFile") or None
        self.labels: dict[str, str] = labels_of(info)

    @property
    def managed(self) -> bool:
        """Made by podman-sandbox (its label says so; whose it is: ownership.py)."""
        return self.labels.get(LABEL_MANAGED) == "true"

    @property
    def built_from(self) -> str | None:
        """The base image id it was made from (its label)."""
        return self.labels.get(LABEL_BASE_ID) or None


def container(entry: dict | None) -> Container | None:
    """The entry's facts when it is a container's; None for anything else or nothing."""
    return Container(entry) if entry is not None and kind(entry) == "container" else None


def sandbox_entries(name: str, entries: list[dict | None]) -> tuple[Container | None, dict | None]:
    """(the container called name, the image) from the answer to `inspect NAME IMAGE`.

    Only a container holds a container's name: an image or a volume called so
    leaves it free (None). A pod holds it too (Podman refuses a container of
    that name), so that is an error that says so, never a guess."""
    first, image = (list(entries) + [None, None])[:2]
    if kind(first) == "pod":
        from podman_sandbox.errors import SandboxError
        raise SandboxError(f"{name!r} is the name of a Podman pod, so no sandbox container can "
                           "have it; the pod is left alone",
                           hint="give the sandbox another name (name: in sandbox.yaml), or "
                                f"remove the pod if it is yours (`podman pod rm {name}`)")
    return container(first), image if kind(image) == "image" else None


# --- asking -------------------------------------------------------------------------

def inspect(runner: Runner, names: list[str]) -> list[dict | None]:
    """One `podman inspect` of names: each one's entry, None where it is absent."""
    argv = inspect_argv(names)
    return read_inspect(names, runner.run(argv, what="podman inspect", check=False))


def inspect_one(runner: Runner, ref: str) -> dict | None:
    return inspect(runner, [ref])[0]


def sandbox(runner: Runner, name: str, image: str) -> tuple[Container | None, dict | None]:
    """The container called name and the image image is, in one `podman inspect`."""
    return sandbox_entries(name, inspect(runner, [name, image]))


def _listing(runner: Runner, template: str, what: str, **values: str) -> list[dict]:
    from podman_sandbox.engine.render import render  # Jinja: never on the fast path

    return read_list(runner.run(render(template, **values), what=what, check=False), what)


def images(runner: Runner, reference: str) -> list[dict]:
    """`podman images` rows whose name matches reference (a first execute asks this:
    the argv from render's Jinja-free twin of templates/images.j2)."""
    from podman_sandbox.engine.render import images_argv

    return images_answer(runner.run(images_argv(reference), what="podman images", check=False))


def start_images(runner: Runner, reference: str) -> Pending:
    """images(), started now and read later with images_answer(pending.result())."""
    from podman_sandbox.engine.render import images_argv

    return runner.start(images_argv(reference), what="podman images")


def images_answer(result: Result) -> list[dict]:
    return read_list(result, "podman images")


def managed_images(runner: Runner, label: str) -> list[dict]:
    """`podman images` rows that carry label=true."""
    return _listing(runner, "images_managed", "podman images", label=label)


def managed_containers(runner: Runner, label: str) -> list[dict]:
    """`podman ps --all` rows that carry label=true."""
    return _listing(runner, "ps_managed", "podman ps", label=label)


def containers(runner: Runner) -> list[dict]:
    """`podman ps --all` rows: every container."""
    return _listing(runner, "ps", "podman ps")

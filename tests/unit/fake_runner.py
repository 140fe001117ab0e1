"""A small in-memory Podman for unit tests, standing in for engine.runner.Runner.

It answers the argv the engine renders (inspect, images, ps, create, start,
rm, rename, run, exec, commit, tag, untag, rmi, diff, update, pull, logs)
from a world of containers and images seeded with JSON recorded from a real
Podman (tests/unit/fixtures, see record.py), and records every call, so a
test can check both what the CLI printed and which podman commands it ran.

Inject it with `podman_sandbox.cli.main.run(argv, obj={"runner": fake})`.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import sys
from pathlib import Path

from podman_sandbox.engine.failures import hint_for, podman_reason
from podman_sandbox.engine.runner import Pending, Result
from podman_sandbox.errors import PodmanError

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# What fixtures/record.py made the recorded sandbox from.
# What `/run/podman-init --version` says in a sandbox here (Debian 12, catatonit 0.1.7).
CATATONIT_VERSION = "tini version 0.1.7_catatonit\n"
RECORDED_PROJECT = "/tmp/psfix/project"
RECORDED_NAME = "fixture-sandbox"
RECORDED_IMAGE = "localhost/podman-sandbox-fixture/busybox:1"
RECORDED_SPEC = f"""\
image: {RECORDED_IMAGE}
name: {RECORDED_NAME}
memory: 64m
setup:
  - echo ran > /root/setup-done
env:
  APP_ENV: test
"""


RECORDED_SETUP = ["echo ran > /root/setup-done"]
# RECORDED_SPEC as a document (build_spec's input).
RECORDED_DOC = {"image": RECORDED_IMAGE, "name": RECORDED_NAME, "memory": "64m",
                "setup": list(RECORDED_SETUP), "env": {"APP_ENV": "test"}}
MIB = 1024 * 1024


def recorded_cgroup(monkeypatch) -> dict:
    """Stand in for the recorded container's cgroup (its pid is not alive in a unit test):
    the limits it enforces, which a test changes as `podman update` would. Use it as an
    autouse fixture: `cgroup_reads = pytest.fixture(autouse=True)(recorded_cgroup)`."""
    from podman_sandbox.engine import cgroup, host

    limits = {"memory": 64 * MIB, "cpus": 0.0}
    monkeypatch.setattr(cgroup, "memory_limit", lambda pid: (True, limits["memory"]))
    monkeypatch.setattr(cgroup, "cpu_limit", lambda pid: limits["cpus"])
    monkeypatch.setattr(host, "rootless_cgroup_v1", lambda: False)
    return limits


def recorded_keys() -> tuple[str, str]:
    """(base image id, setup/state key) of the recording in FIXTURES (Podman 4.3's, or
    another version's when a test points FIXTURES there). The key is of the old format:
    the recordings were made before keys carried the owner."""
    setup = json.loads((FIXTURES / "images_setup.json").read_text(encoding="utf-8"))[0]
    tag = next(n for n in setup["Names"] if n.startswith("localhost/podman-sandbox-setup:"))
    return setup["Labels"]["io.podman-sandbox.base-id"], tag.rpartition(":")[2]


RECORDED_BASE_ID, RECORDED_LEGACY_KEY = recorded_keys()


def current_key(project: str) -> str:
    """The key today's code gives the recorded sandbox's setup in project."""
    from podman_sandbox.engine import images, ownership
    return images.setup_key(recorded_keys()[0], RECORDED_SETUP, ownership.owner_hash(project))


def load(name: str, project: str | None = None, *, legacy: bool = False):
    """A recorded fixture; project replaces the recorded project path everywhere.
    Image tags get today's key (owner hash first) unless legacy (the old format)."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    if project is not None:
        text = text.replace(RECORDED_PROJECT, project)
    if not legacy:
        text = text.replace(recorded_keys()[1], current_key(project or RECORDED_PROJECT))
    return json.loads(text)


def _option_values(args: list[str], option: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == option]


def _size(text: str | None) -> int:
    if not text or text == "-1":
        return 0
    return int(text.rstrip("b"))


class FakeRunner:
    """The Runner interface (run, executable, passthrough, podman, verbose) over a fake world."""

    podman = "podman"

    def __init__(self, *, verbose: bool = False):
        self.verbose = verbose
        self.calls: list[list[str]] = []
        self.containers: dict[str, dict] = {}  # name -> inspect entry
        self.images: list[dict] = []  # inspect entries of images, with RepoTags
        self.pods: dict[str, dict] = {}  # name -> inspect entry (a pod holds a container name)
        self.fail: dict[str, tuple[int, str]] = {}  # subcommand -> (returncode, stderr)
        self.diff: dict = {}  # what `podman diff` answers
        self.logs = b""  # what `podman logs` writes
        self.passthrough_calls: list[list[str]] = []
        self._ids = itertools.count(1)
        self._template = load("inspect_running.json")[0]

    # --- seeding the world -------------------------------------------------

    def add_image(self, entry: dict) -> dict:
        entry = copy.deepcopy(entry)
        entry.setdefault("Labels", None)
        if not entry.get("RepoTags") and entry.get("Names"):  # a `podman images` row
            entry["RepoTags"] = list(entry["Names"])
        self.images.append(entry)
        return entry

    def add_container(self, entry: dict) -> dict:
        entry = copy.deepcopy(entry)
        self.containers[entry["Name"]] = entry
        return entry

    @classmethod
    def recorded(cls, fixture: str, project: str, **kw) -> "FakeRunner":
        """A world holding what a recorded `podman inspect NAME IMAGE` returned."""
        fake = cls(**kw)
        for entry in load(fixture, project):
            if "InfraContainerID" in entry:
                fake.pods[entry["Name"]] = copy.deepcopy(entry)
            elif "State" in entry:
                fake.add_container(entry)
            else:
                fake.add_image(entry)
        return fake

    # --- the Runner interface ----------------------------------------------

    def executable(self) -> str:
        return "/usr/bin/podman"

    def run(self, argv: list[str], *, what: str, check: bool = True, stream: bool = False,
            input: str | None = None) -> Result:
        assert argv and argv[0] == "podman", argv
        assert all(isinstance(a, str) for a in argv), argv
        self.calls.append(list(argv))
        if self.verbose:
            sys.stderr.write("+ " + " ".join(argv) + "\n")
        sub = argv[1]
        if sub in self.fail:
            code, err = self.fail[sub]
            result = Result(argv, code, "", err)
        else:
            result = getattr(self, "_" + sub)(argv, argv[2:])
        if check and result.returncode != 0:
            raise PodmanError(f"{what} failed: {podman_reason(result.stderr)}", argv=argv,
                              stderr=result.stderr, returncode=result.returncode,
                              hint=hint_for(result.stderr))
        return result

    def start(self, argv: list[str], *, what: str) -> Pending:
        return Pending(argv, result=self.run(argv, what=what, check=False))

    def passthrough(self, argv: list[str]) -> int:
        self.passthrough_calls.append(list(argv))
        self.calls.append(list(argv))
        if argv[1] == "logs":
            out = getattr(sys.stdout, "buffer", None)
            if out is not None:
                sys.stdout.flush()
                out.write(self.logs)
                out.flush()
            return 0 if argv[-1] in self.containers else 125
        return 0

    # --- queries for tests -------------------------------------------------

    def subcommands(self) -> list[str]:
        return [c[1] for c in self.calls]

    def called(self, sub: str) -> list[list[str]]:
        return [c for c in self.calls if c[1] == sub]

    def changes_made(self) -> list[list[str]]:
        """Calls that change containers or images (what `podman events` would show)."""
        changing = {"create", "start", "rm", "rename", "run", "commit", "tag", "untag", "rmi",
                    "update", "pull", "stop", "exec"}
        return [c for c in self.calls if c[1] in changing]

    # --- lookups -----------------------------------------------------------

    def _image(self, ref: str) -> dict | None:
        for img in self.images:
            if ref in (img.get("RepoTags") or ()) or img["Id"] == ref or (
                    len(ref) >= 12 and img["Id"].startswith(ref)):
                return img
        return None

    def _container(self, ref: str) -> dict | None:
        if ref in self.containers:
            return self.containers[ref]
        for entry in self.containers.values():
            if len(ref) >= 12 and entry["Id"].startswith(ref):
                return entry
        return None

    def _new_id(self, seed: str) -> str:
        return hashlib.sha256(f"{seed}{next(self._ids)}".encode()).hexdigest()

    @staticmethod
    def _ok(argv, stdout: str = "") -> Result:
        return Result(argv, 0, stdout, "")

    @staticmethod
    def _missing(argv, ref: str) -> Result:
        return Result(argv, 125, "", f'Error: no such object: "{ref}"\n')

    # --- podman subcommands ------------------------------------------------

    def _inspect(self, argv, args):
        found, missing = [], []
        for ref in args:
            entry = self._container(ref) or self._image(ref) or self.pods.get(ref)
            (found if entry else missing).append(entry or ref)
        if missing:  # as Podman 4.3 says it: a line per missing name, the last one "Error:"
            lines = [f'error inspecting object: no such object: "{ref}"' for ref in missing[1:]]
            lines.append(f'Error: inspecting object: no such object: "{missing[0]}"')
            return Result(argv, 125, json.dumps(found), "\n".join(lines) + "\n")
        return self._ok(argv, json.dumps(found))

    def _images(self, argv, args):
        filters = _option_values(args, "--filter")
        rows = []
        for img in self.images:
            tags = img.get("RepoTags") or []
            labels = img.get("Labels") or {}
            keep = True
            for f in filters:
                kind, _, value = f.partition("=")
                if kind == "reference":
                    keep &= any(t == value or t.rsplit(":", 1)[0] == value for t in tags)
                elif kind == "label":
                    key, _, want = value.partition("=")
                    keep &= key in labels and (not want or labels[key] == want)
            if keep and tags:
                rows.append({"Id": img["Id"], "Names": list(tags), "Labels": img.get("Labels"),
                             "Size": img.get("Size", 0), "CreatedAt": img.get("Created", ""),
                             "Containers": sum(1 for c in self.containers.values()
                                               if c["Image"] == img["Id"])})
        return self._ok(argv, json.dumps(rows))

    def _ps(self, argv, args):
        filters = _option_values(args, "--filter")
        rows = []
        for entry in self.containers.values():
            labels = entry["Config"].get("Labels") or {}
            keep = True
            for f in filters:
                kind, _, value = f.partition("=")
                if kind == "label":
                    key, _, want = value.partition("=")
                    keep &= key in labels and (not want or labels[key] == want)
            if keep:
                rows.append({"Id": entry["Id"], "Names": [entry["Name"]],
                             "Image": entry.get("ImageName", ""), "ImageID": entry["Image"],
                             "State": "running" if entry["State"]["Running"] else "exited",
                             "Labels": labels})
        return self._ok(argv, json.dumps(rows))

    def _make_container(self, argv, args, running: bool) -> Result:
        image_ref = args[-2]  # ... --entrypoint /run/podman-init IMAGE -P
        image = self._image(image_ref)
        if image is None:
            return Result(argv, 125, "", f"Error: {image_ref}: image not known\n")
        name = _option_values(args, "--name")[0]
        if name in self.containers:
            return Result(argv, 125, "", f'Error: the container name "{name}" is already in use\n')
        if name in self.pods:
            return Result(argv, 125, "", f'Error: name "{name}" is in use: pod already exists\n')
        entry = copy.deepcopy(self._template)
        entry["Id"] = self._new_id(name)
        entry["Name"] = name
        entry["Image"] = image["Id"]
        entry["ImageName"] = image_ref
        labels = dict(image.get("Labels") or {})
        for item in _option_values(args, "--label"):
            key, _, value = item.partition("=")
            labels[key] = value
        entry["Config"]["Labels"] = labels
        entry["Config"]["Env"] = ["PATH=/bin", "container=podman", *_option_values(args, "--env")]
        mounts = []
        for volume in _option_values(args, "--volume"):
            source, target, opts = volume.rsplit(":", 2)
            mounts.append({"Type": "bind", "Source": source, "Destination": target,
                           "RW": opts.startswith("rw")})
        entry["Mounts"] = mounts
        host = entry["HostConfig"]
        host["Memory"] = _size((_option_values(args, "--memory") or [None])[0])
        cpus = _option_values(args, "--cpus")
        host["NanoCpus"] = int(float(cpus[0]) * 1e9) if cpus else 0
        pids = _option_values(args, "--pids-limit")
        host["PidsLimit"] = max(int(pids[0]), 0) if pids else 2048
        network = _option_values(args, "--network")
        host["NetworkMode"] = network[0] if network else "bridge"
        host["ReadonlyRootfs"] = "--read-only" in args
        entry["Config"]["User"] = (_option_values(args, "--user") or [""])[0]
        # Pid 0: the engine then reads limits from inspect, not from a host cgroup.
        entry["State"] = {"Status": "running" if running else "created", "Running": running,
                          "Pid": 0}
        self.containers[name] = entry
        return self._ok(argv, entry["Id"] + "\n")

    def _create(self, argv, args):
        return self._make_container(argv, args, running=False)

    def _run(self, argv, args):
        return self._make_container(argv, args, running=True)

    def _start(self, argv, args):
        entry = self._container(args[-1])
        if entry is None:
            return self._missing(argv, args[-1])
        entry["State"].update({"Status": "running", "Running": True, "Pid": 0})
        return self._ok(argv, args[-1] + "\n")

    def _stop(self, argv, args):
        entry = self._container(args[-1])
        if entry is None:
            return self._missing(argv, args[-1])
        entry["State"].update({"Status": "exited", "Running": False, "Pid": 0})
        return self._ok(argv)

    def _rm(self, argv, args):
        ref = args[-1]
        entry = self._container(ref)
        if entry is None:
            return self._missing(argv, ref)
        del self.containers[entry["Name"]]
        return self._ok(argv, entry["Id"] + "\n")

    def _rename(self, argv, args):
        old, new = args[-2], args[-1]
        entry = self.containers.pop(old)
        entry["Name"] = new
        self.containers[new] = entry
        return self._ok(argv)

    def _exec(self, argv, args):
        return self._ok(argv)

    def _commit(self, argv, args):
        container, tag = args[-2], args[-1]
        entry = self._container(container)
        if entry is None:
            return self._missing(argv, container)
        labels = dict(entry["Config"].get("Labels") or {})
        for change in _option_values(args, "--change"):
            if change.startswith("LABEL "):
                key, _, value = change[len("LABEL "):].partition("=")
                labels[key] = value
        for img in self.images:  # the tag moves to the new image
            if tag in (img.get("RepoTags") or []):
                img["RepoTags"].remove(tag)
        new = {"Id": self._new_id(tag), "RepoTags": [tag], "Labels": labels, "Size": 1000,
               "Created": "2026-01-01T00:00:00Z", "RootFS": {}, "Parent": entry["Image"]}
        self.images.append(new)
        return self._ok(argv, new["Id"] + "\n")

    def _tag(self, argv, args):
        img = self._image(args[-2])
        if img is None:
            return self._missing(argv, args[-2])
        img["RepoTags"] = [*(img.get("RepoTags") or []), args[-1]]
        return self._ok(argv)

    def _untag(self, argv, args):
        img = self._image(args[-2])
        if img is None:
            return self._missing(argv, args[-2])
        img["RepoTags"] = [t for t in img.get("RepoTags") or [] if t != args[-1]]
        return self._ok(argv)

    def _rmi(self, argv, args):
        ref = args[-1]
        img = self._image(ref)
        if img is None:
            return self._missing(argv, ref)
        users = [c["Name"] for c in self.containers.values() if c["Image"] == img["Id"]]
        if users:
            return Result(argv, 2, "", f"Error: image used by {users[0]}: image is in use by a container\n")
        tags = img.get("RepoTags") or []
        if ref in tags and len(tags) > 1:
            tags.remove(ref)
            return self._ok(argv, f"Untagged: {ref}\n")
        self.images.remove(img)
        return self._ok(argv, f"Deleted: {img['Id']}\n")

    def _diff(self, argv, args):
        return self._ok(argv, json.dumps(self.diff))

    def _update(self, argv, args):
        entry = self._container(args[-1])
        if entry is None:
            return self._missing(argv, args[-1])
        memory = _option_values(args, "--memory")
        if memory:
            entry["HostConfig"]["Memory"] = _size(memory[0])
        return self._ok(argv)

    def _pull(self, argv, args):
        return Result(argv, 125, "", f"Error: initializing source docker://{args[-1]}: "
                                     "pinging container registry: no such host\n")

    def _logs(self, argv, args):
        return self._ok(argv, self.logs.decode())


# --- running the CLI in-process ----------------------------------------------

class CliResult:
    def __init__(self, code: int, stdout: str, stderr: str):
        self.code, self.stdout, self.stderr = code, stdout, stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def invoke(fake: FakeRunner | None, *args: str, input: str | None = None,
           env: dict | None = None) -> CliResult:
    """Run the real CLI entry (main.run: exit codes and error messages included) with
    click's CliRunner isolation (captured stdout/stderr) and the fake runner injected."""
    from click.testing import CliRunner

    from podman_sandbox.cli.main import run

    try:
        runner = CliRunner(mix_stderr=False)  # click < 8.2
    except TypeError:
        runner = CliRunner()  # click >= 8.2: stderr is always separate
    with runner.isolation(input=input, env=env) as streams:
        code = run(list(args), obj={"runner": fake} if fake is not None else None)
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = streams[0].getvalue(), streams[1].getvalue()
    return CliResult(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def make_project(tmp_path: Path, monkeypatch, spec: str = RECORDED_SPEC) -> Path:
    """A project folder with sandbox.yaml as the cwd, and XDG folders of its own."""
    project = tmp_path / "project"
    project.mkdir()
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"),
                     ("XDG_RUNTIME_DIR", "run"), ("XDG_STATE_HOME", "state")):
        (tmp_path / sub).mkdir(mode=0o700)
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("PODMAN_SANDBOX_FILE", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.chdir(project)
    monkeypatch.setenv("PWD", str(project))
    (project / "sandbox.yaml").write_text(spec)
    return project


def recorded_world(project: Path, fixture: str = "inspect_running.json") -> FakeRunner:
    """The recorded sandbox, moved to project, with its cached setup image."""
    fake = FakeRunner.recorded(fixture, str(project))
    for row in load("images_setup.json", str(project)):
        fake.add_image(row)
    fake.diff = load("diff_clean.json")
    return fake


def captured_exec_runs(monkeypatch, code: int) -> list:
    """engine/execute.run replaced by one that records (container, command, options) and
    returns code: what a command would have run in the sandbox."""
    from podman_sandbox.engine import execute

    calls: list = []

    def run(container, command, **kw):
        calls.append((container, command, kw))
        return code

    monkeypatch.setattr(execute, "run", run)
    return calls

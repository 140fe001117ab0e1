"""The hot paths stay cheap: what a fresh interpreter imports, and what the fast path trusts.

`execute` on an in-sync sandbox is served by fastpath.py + engine/record.py
with the standard library alone; `apply` with nothing to change goes through
click but must load neither Jinja, deepdiff, PyYAML nor jsonschema. Each check
runs in a fresh interpreter (python -c), so nothing this test process has
imported hides an import.

The fast path is driven for real, against a stand-in `podman` on PATH (a tiny
Python script that logs its argv) and records that point at live processes
of this test run, so no Podman is needed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_runner import RECORDED_NAME, invoke, make_project, recorded_world
from podman_sandbox.engine import record
from podman_sandbox.engine.answers import inspect_argv
from podman_sandbox.engine.render import render
from podman_sandbox.locate import locate

UNIT_DIR = Path(__file__).resolve().parent
SRC = UNIT_DIR.parents[1] / "src"

HEAVY_THIRD_PARTY = {"click", "yaml", "jsonschema", "jinja2", "deepdiff", "markupsafe",
                     "referencing", "rpds", "attrs", "ordered_set"}
# Standard modules that cost milliseconds each to import and that the execute hot
# path does without (see the notes in fastpath.py and engine/record.py).
COSTLY_STDLIB = {"hashlib", "json", "shutil", "subprocess", "uuid", "platform", "dataclasses",
                 "inspect", "typing", "tempfile", "threading", "datetime", "argparse", "logging",
                 "pathlib", "importlib.metadata", "socket", "selectors"}
# A plain execute does without these too: the signal module loads enum (~5 ms; lite.signals
# is its C core), re loads enum, and collections (for a named tuple) costs ~1 ms. (A restart takes contextlib for its lock; an apply,
# json, which loads re.)
EXECUTE_COSTLY = COSTLY_STDLIB | {"signal", "enum", "re", "collections"}
# private: records are trusted only as private files; specfile: the spec's bytes that key
# the record are read bounded (both standard library only, a few syscalls).
EXECUTE_MODULES = {"podman_sandbox", "podman_sandbox.fastpath", "podman_sandbox.locate",
                   "podman_sandbox.paths", "podman_sandbox.engine", "podman_sandbox.engine.record",
                   "podman_sandbox.engine.execute", "podman_sandbox.engine.cgroup",
                   "podman_sandbox.private", "podman_sandbox.specfile",
                   # start times from /proc: the sandbox's init (gone under a command?)
                   # and when the exec began (what a stop may attribute to it)
                   "podman_sandbox.engine.procstat",
                   # --instance / PODMAN_SANDBOX_INSTANCE: the name rule and the command log
                   "podman_sandbox.instance",
                   # which engine: the podman argv prefix, and "remote: no fast path"
                   "podman_sandbox.engine.connection",
                   # looks for a Podman API socket (os.lstat; socket and json load only
                   # when one is there)
                   "podman_sandbox.engine.restexec",
                   # sha256 without hashlib, which() without shutil
                   "podman_sandbox.lite"}
RESTART_MODULES = {"podman_sandbox.engine.lock", "podman_sandbox.errors"}

FAKE_PODMAN = """\
#!{python}
import json, os, sys
with open(os.environ["FAKE_PODMAN_LOG"], "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "start":
    with open(os.environ["FAKE_PODMAN_PIDFILE"], "w") as fh:
        fh.write(os.environ.get("FAKE_PODMAN_NEW_PID", "0"))
    sys.exit(int(os.environ.get("FAKE_PODMAN_START_EXIT", "0")))
if sys.argv[1] == "inspect":
    with open(os.environ["FAKE_PODMAN_INSPECT"]) as fh:
        sys.stdout.write(fh.read())
    sys.exit(int(os.environ.get("FAKE_PODMAN_INSPECT_EXIT", "0")))
sys.exit(int(os.environ.get("FAKE_PODMAN_EXEC_EXIT", "0")))
"""

# Runs the fast path in a fresh interpreter and reports its result and the modules
# it imported. sys is built in; json is imported only after the modules are counted.
EXECUTE_PROBE = """\
import sys
before = set(sys.modules)
from podman_sandbox.fastpath import serve
code = serve(sys.argv[1:])
new = sorted(set(sys.modules) - before)
import json
print(json.dumps({"code": code, "new": new}))
"""


def live_record_for(key: str):
    """The record for key while its container still runs as recorded, else None."""
    rec = record.lookup(key)
    return rec if rec is not None and record.is_live(rec) else None


def _top(name: str) -> str:
    return name.split(".")[0]


def _third_party(modules) -> set[str]:
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib is None:  # Python < 3.10: check the known heavy ones only
        return {m for m in modules if _top(m) in HEAVY_THIRD_PARTY}
    return {m for m in modules if _top(m) not in stdlib and _top(m) != "podman_sandbox"}


def _sleeper() -> subprocess.Popen:
    """A live process of ours for a record to point at (same cgroup, same limits as us)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    # Its start time is fixed at fork; wait until it runs the new program all the same.
    for _ in range(100):
        if record.process_start_time(proc.pid):
            break
        time.sleep(0.01)
    return proc


class World:
    """A project, its own XDG folders, a stand-in podman on PATH and helper processes."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.tmp = tmp_path
        self.project = make_project(tmp_path, monkeypatch, spec="image: localhost/x/y:1\nname: hot\n")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        podman = bin_dir / "podman"
        podman.write_text(FAKE_PODMAN.format(python=sys.executable))
        podman.chmod(0o755)
        self.log = tmp_path / "podman.log"
        self.pidfile = tmp_path / "pidfile"
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        monkeypatch.setenv("FAKE_PODMAN_LOG", str(self.log))
        monkeypatch.setenv("FAKE_PODMAN_PIDFILE", str(self.pidfile))
        monkeypatch.delenv("PYTHONPATH", raising=False)
        self.monkeypatch = monkeypatch
        self.procs: list[subprocess.Popen] = []

    def sleeper(self) -> subprocess.Popen:
        proc = _sleeper()
        self.procs.append(proc)
        return proc

    def key(self) -> str:
        target = locate()
        return record.record_key(target.spec_path, target.project_dir)

    def write_record(self, pid: int, in_sync: bool = False) -> str:
        key = self.key()
        record.write(key, container="hot", container_id="c0ffee", pid=pid, spec_hash="h",
                     memory=None, pid_file=str(self.pidfile), image="localhost/x/y:1",
                     base_id="sha256:base", in_sync=in_sync)
        return key

    def execute(self, *argv: str) -> dict:
        """serve(argv) in a fresh interpreter: {"code", "new" modules, "stderr"}."""
        env = dict(os.environ, PYTHONPATH=str(SRC))
        proc = subprocess.run([sys.executable, "-c", EXECUTE_PROBE, *argv], cwd=self.project,
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]), stderr=proc.stderr)

    def inspect_answer(self, entries: list, code: int = 0) -> None:
        answer = self.tmp / "inspect.json"
        answer.write_text(json.dumps(entries))
        self.monkeypatch.setenv("FAKE_PODMAN_INSPECT", str(answer))
        self.monkeypatch.setenv("FAKE_PODMAN_INSPECT_EXIT", str(code))

    def podman_calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


@pytest.fixture
def world(tmp_path, monkeypatch):
    w = World(tmp_path, monkeypatch)
    yield w
    w.close()


def _assert_lean(new: list[str], allowed_ours: set[str], costly: set[str] = COSTLY_STDLIB) -> None:
    assert not _third_party(new), f"third-party modules on the hot path: {_third_party(new)}"
    assert not (set(new) & costly), f"costly modules on the hot path: {set(new) & costly}"
    ours = {m for m in new if _top(m) == "podman_sandbox"}
    assert ours <= allowed_ours, f"unexpected modules of ours: {ours - allowed_ours}"


# --- execute on a running, in-sync sandbox ------------------------------------------

def test_execute_hot_path_imports_the_standard_library_only(world):
    live = world.sleeper()
    world.write_record(live.pid)
    result = world.execute("execute", "true")
    assert result["code"] == 0  # served by the fast path, not handed to the CLI
    _assert_lean(result["new"], EXECUTE_MODULES, EXECUTE_COSTLY)
    for heavy in ("click", "yaml", "jsonschema", "jinja2", "deepdiff"):
        assert heavy not in result["new"]
    (call,) = world.podman_calls()
    assert call[0] == "exec" and "c0ffee" in call  # by id: the container the record vouches for
    assert call[-4:] == ["sh", "-c", "--", "true"]
    assert call[call.index("--workdir") + 1] == "/workspace"


def test_execute_passes_the_exit_code_and_the_subfolder(world, monkeypatch):
    live = world.sleeper()
    world.write_record(live.pid)
    sub = world.project / "a b"
    sub.mkdir()
    world.project = sub
    monkeypatch.setenv("PWD", str(sub))
    monkeypatch.setenv("FAKE_PODMAN_EXEC_EXIT", "7")
    assert world.execute("execute", "--", "exit 7")["code"] == 7
    (call,) = world.podman_calls()
    assert call[call.index("--workdir") + 1] == "/workspace/a b"


# --- what makes a record untrustworthy ------------------------------------------------

def test_an_edited_spec_finds_no_record(world):
    live = world.sleeper()
    world.write_record(live.pid)
    (world.project / "sandbox.yaml").write_text("image: localhost/x/y:1\nname: hot\nmemory: 64m\n")
    assert world.execute("execute", "true")["code"] is None  # the full CLI converges
    assert world.podman_calls() == []


def test_another_podman_configuration_finds_no_record(world, monkeypatch):
    live = world.sleeper()
    world.write_record(live.pid)
    monkeypatch.setenv("CONTAINERS_CONF", str(world.tmp / "other.conf"))
    assert world.execute("execute", "true")["code"] is None
    assert world.podman_calls() == []


def test_a_changed_limit_in_the_cgroup_makes_the_record_stale(world):
    """`podman update` behind our back: same process, other limits -> converge, run nothing."""
    live = world.sleeper()
    key = world.write_record(live.pid)
    path = Path(record._path(key))
    text = path.read_text()
    assert "\nlimits " in text
    path.write_text(text.replace("\nlimits ", "\nlimits 1;"))
    assert live_record_for(key) is None
    assert world.execute("execute", "true")["code"] is None
    assert world.podman_calls() == []  # not even a start


def test_a_reused_pid_is_not_the_recorded_process(world):
    live = world.sleeper()
    key = world.write_record(live.pid)
    path = Path(record._path(key))
    path.write_text(path.read_text().replace("\nstarttime ", "\nstarttime 1"))
    assert live_record_for(key) is None


def test_one_record_per_container(world):
    """Writing a record for a container drops the others naming it (e.g. the spec before
    an edit that was applied live): reverting the edit can never find a stale one."""
    live = world.sleeper()
    old_key = world.write_record(live.pid)
    (world.project / "sandbox.yaml").write_text("image: localhost/x/y:1\nname: hot\nmemory: 64m\n")
    new_key = world.write_record(live.pid)
    assert new_key != old_key
    assert record.lookup(old_key) is None
    assert live_record_for(new_key) is not None


def test_a_dead_process_is_never_written(world):
    gone = world.sleeper()
    gone.kill()
    gone.wait()
    key = world.write_record(gone.pid)
    assert record.lookup(key) is None


# --- execute on a stopped sandbox -----------------------------------------------------

def test_stopped_container_is_started_by_id_and_the_record_renewed(world, monkeypatch):
    old = world.sleeper()
    key = world.write_record(old.pid)
    old.kill()
    old.wait()
    new = world.sleeper()  # what `podman start` brings up: another process, same limits
    monkeypatch.setenv("FAKE_PODMAN_NEW_PID", str(new.pid))
    result = world.execute("execute", "true")
    assert result["code"] == 0
    _assert_lean(result["new"], EXECUTE_MODULES | RESTART_MODULES)
    calls = world.podman_calls()
    assert calls[0] == ["start", "c0ffee"]
    assert calls[1][0] == "exec" and "c0ffee" in calls[1]
    assert len(calls) == 2
    assert live_record_for(key)["pid"] == new.pid


def test_a_container_that_cannot_start_goes_to_the_full_path(world, monkeypatch):
    old = world.sleeper()
    key = world.write_record(old.pid)
    old.kill()
    old.wait()
    monkeypatch.setenv("FAKE_PODMAN_START_EXIT", "125")  # removed behind our back
    assert world.execute("execute", "true")["code"] is None
    assert [c[0] for c in world.podman_calls()] == ["start"]
    assert live_record_for(key) is None


def test_a_started_container_with_other_limits_goes_to_the_full_path(world, monkeypatch):
    old = world.sleeper()
    key = world.write_record(old.pid)
    path = Path(record._path(key))
    path.write_text(path.read_text().replace("\nlimits ", "\nlimits 1;"))
    old.kill()
    old.wait()
    new = world.sleeper()
    monkeypatch.setenv("FAKE_PODMAN_NEW_PID", str(new.pid))
    assert world.execute("execute", "true")["code"] is None  # converge, which updates the limits
    assert [c[0] for c in world.podman_calls()] == ["start"]


def test_a_locked_sandbox_goes_to_the_full_path(world):
    from podman_sandbox.engine.lock import sandbox_lock

    old = world.sleeper()
    world.write_record(old.pid)
    old.kill()
    old.wait()
    with sandbox_lock("hot"):  # another command is converging it
        assert world.execute("execute", "true")["code"] is None
    assert world.podman_calls() == []


# --- the forms the fast path serves -------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["execute", "true"],
    ["execute", "-i", "true"],
    ["execute", "--timeout", "5", "true"],
    ["execute", "--timeout=5", "--", "-x"],
    ["-f", "sandbox.yaml", "execute", "true"],
])
def test_plain_forms_are_served(world, argv):
    live = world.sleeper()
    world.write_record(live.pid)
    assert world.execute(*argv)["code"] == 0


@pytest.mark.parametrize("argv", [
    ["execute"],
    ["execute", "a", "b"],
    ["execute", "--timeout", "0", "true"],
    ["execute", "--timeout", "nan", "true"],
    ["execute", "--help"],
    ["-v", "execute", "true"],
    ["apply"],
])
def test_other_forms_go_to_the_cli(world, argv):
    live = world.sleeper()
    world.write_record(live.pid)
    assert world.execute(*argv)["code"] is None
    assert world.podman_calls() == []


# --- apply with nothing to change, served by the fast path -----------------------------

def _in_sync_inspect(pid: int) -> list:
    """What `podman inspect hot localhost/x/y:1` says of the recorded, in-sync sandbox."""
    return [{"Id": "c0ffee", "Name": "hot", "State": {"Running": True, "Pid": pid},
             "Config": {"Labels": {"io.podman-sandbox.managed": "true",
                                   "io.podman-sandbox.base-id": "sha256:base"}}},
            {"Id": "sha256:base", "RepoTags": ["localhost/x/y:1"], "RootFS": {}}]


def test_fast_apply_is_one_inspect_with_the_standard_library(world):
    live = world.sleeper()
    world.write_record(live.pid, in_sync=True)
    world.inspect_answer(_in_sync_inspect(live.pid))
    result = world.execute("apply")
    assert result["code"] == 0
    assert result["stderr"] == "==> hot is running and in sync: nothing changed\n"
    assert world.podman_calls() == [["inspect", "hot", "localhost/x/y:1"]]
    # answers and insync: the engine's own reader of the inspect and rule of "in sync"
    _assert_lean([m for m in result["new"] if m != "json" and not m.startswith("json.")],
                 EXECUTE_MODULES | RESTART_MODULES | {"podman_sandbox.output", "podman_sandbox.engine.labels",
                                                      "podman_sandbox.engine.answers",
                                                      "podman_sandbox.engine.insync"})


def _moved_image(entries):
    entries[1]["Id"] = "sha256:other"  # the image name now points at another image


def _other_container(entries):
    entries[0]["Id"] = "d00d"  # re-created under the same name


def _other_process(entries):
    entries[0]["State"]["Pid"] += 1


def _stopped(entries):
    entries[0]["State"]["Running"] = False


def _not_ours(entries):
    del entries[0]["Config"]["Labels"]["io.podman-sandbox.managed"]


def _image_missing(entries):
    del entries[1]


@pytest.mark.parametrize("change", [_moved_image, _other_container, _other_process, _stopped,
                                    _not_ours, _image_missing])
def test_fast_apply_leaves_any_difference_to_the_full_path(world, change):
    live = world.sleeper()
    world.write_record(live.pid, in_sync=True)
    entries = _in_sync_inspect(live.pid)
    change(entries)
    world.inspect_answer(entries)
    result = world.execute("apply")
    assert result["code"] is None and result["stderr"] == ""
    assert len(world.podman_calls()) == 1


def test_fast_apply_needs_a_record_made_in_sync_and_a_plain_apply(world):
    live = world.sleeper()
    world.write_record(live.pid, in_sync=False)  # the converge could not bring it in line
    world.inspect_answer(_in_sync_inspect(live.pid))
    assert world.execute("apply")["code"] is None
    world.write_record(live.pid, in_sync=True)
    for argv in (["apply", "--json"], ["apply", "--force"], ["-q", "apply"], ["-v", "apply"]):
        assert world.execute(*argv)["code"] is None
    assert world.podman_calls() == []
    world.inspect_answer(_in_sync_inspect(live.pid), code=125)
    assert world.execute("apply")["code"] is None


def test_fast_apply_says_what_the_full_path_says(world, tmp_path, monkeypatch):
    live = world.sleeper()
    world.write_record(live.pid, in_sync=True)
    world.inspect_answer(_in_sync_inspect(live.pid))
    fast = world.execute("apply")["stderr"]
    (tmp_path / "full").mkdir()
    project = make_project(tmp_path / "full", monkeypatch)
    full = invoke(recorded_world(project, "inspect_running.json"), "apply")
    assert full.code == 0
    assert full.stderr.replace(RECORDED_NAME, "hot") == fast


# --- apply with nothing to change, through the CLI (--json, -q, or no record yet) ------

APPLY_PROBE = """\
import sys
sys.path.insert(0, {unit!r})
from fake_runner import FakeRunner
import json
world = json.load(open({world!r}))
fake = FakeRunner()
fake.containers, fake.images, fake.diff = world["containers"], world["images"], world["diff"]
from podman_sandbox.schema import spec  # the recorded world has no CPU limit (see conftest.py)
spec.default_cpus = lambda: None
before = set(sys.modules)
from podman_sandbox.cli.main import run
code = run(["apply"], obj={{"runner": fake}})
new = sorted(set(sys.modules) - before)
print(json.dumps({{"code": code, "new": new, "calls": fake.calls}}))
"""


def test_apply_with_nothing_to_change_loads_neither_jinja_nor_deepdiff(tmp_path, monkeypatch):
    project = make_project(tmp_path, monkeypatch)
    fake = recorded_world(project, "inspect_running.json")
    first = invoke(fake, "apply")  # validates sandbox.yaml once (cached by its bytes)
    assert first.code == 0 and "nothing changed" in first.stderr, first
    state = tmp_path / "world.json"
    state.write_text(json.dumps({"containers": fake.containers, "images": fake.images,
                                 "diff": fake.diff}))
    probe = APPLY_PROBE.format(unit=str(UNIT_DIR), world=str(state))
    proc = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(SRC)), timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, proc.stderr
    assert "nothing changed" in proc.stderr
    # One inspect, and (no fast-path record: the fake container's process is not real)
    # the saved states' listing begun beside it (in either order).
    assert sorted(c[:2] for c in result["calls"]) == [["podman", "images"], ["podman", "inspect"]]
    loaded = {_top(m) for m in result["new"]}
    assert not loaded & {"yaml", "jsonschema", "jinja2", "deepdiff", "markupsafe"}, loaded
    assert _third_party(result["new"]) <= {m for m in result["new"] if _top(m) == "click"}


@pytest.mark.parametrize("names", [
    ["plain", "localhost/img:1"],
    ["with space", "$(touch x)", "--rm", "quote'\"", "new\nline", ""],
])
def test_inspect_argv_is_what_the_template_renders(names):
    assert inspect_argv(names) == render("inspect", names=names)


def test_record_key_covers_version_environment_and_bytes(tmp_path, monkeypatch):
    spec = tmp_path / "sandbox.yaml"
    spec.write_text("image: a\n")
    base = record.record_key(str(spec), str(tmp_path))
    assert record.record_key(str(spec), str(tmp_path)) == base
    spec.write_text("image: b\n")
    assert record.record_key(str(spec), str(tmp_path)) != base
    spec.write_text("image: a\n")
    assert record.record_key(str(spec), str(tmp_path)) == base
    monkeypatch.setenv("HOME", str(tmp_path))  # `~` in mount sources
    assert record.record_key(str(spec), str(tmp_path)) != base
    monkeypatch.undo()
    monkeypatch.setattr(record, "__version__", "0.0.0-other")
    assert record.record_key(str(spec), str(tmp_path)) != base
    spec.unlink()
    assert record.record_key(str(spec), str(tmp_path)) != base


def test_signal_module_is_restored_after_the_fast_path(world):
    """The fast path installs handlers for the command's lifetime only."""
    from podman_sandbox.engine import execute

    before = signal.getsignal(signal.SIGINT)
    code = execute.run("c0ffee", "true", workdir="/workspace", podman=str(world.tmp / "bin" / "podman"))
    assert code == 0
    assert signal.getsignal(signal.SIGINT) is before



# --- the Python API: import, and run() on an in-sync sandbox --------------------------

API_PROBE = """\
import sys
before = set(sys.modules)
from podman_sandbox import Sandbox
imported = sorted(set(sys.modules) - before)
result = Sandbox(".").run("exit 7", input=b"data")
new = sorted(set(sys.modules) - before)
import json
print(json.dumps({"imported": imported, "code": result.exit_code, "new": new}))
"""
API_MODULES = {"podman_sandbox.api", "podman_sandbox.confined", "podman_sandbox.errors"}


def test_the_api_costs_what_the_execute_hot_path_costs(world, monkeypatch):
    """`from podman_sandbox import Sandbox` and a run() that the record serves load the
    standard library's cheap modules only, as `execute` does (no click, YAML, ...)."""
    live = world.sleeper()
    world.write_record(live.pid)
    monkeypatch.setenv("FAKE_PODMAN_EXEC_EXIT", "7")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-c", API_PROBE], cwd=world.project, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 7  # served through the record: no converge, no click
    # confined takes WORKSPACE from locate (with paths and private: the execute hot path's own)
    _assert_lean(result["imported"], {"podman_sandbox", "podman_sandbox.api",
                                      "podman_sandbox.confined", "podman_sandbox.errors",
                                      "podman_sandbox.locate", "podman_sandbox.paths",
                                      "podman_sandbox.private"})
    _assert_lean(result["new"], EXECUTE_MODULES | API_MODULES, EXECUTE_COSTLY)
    (call,) = world.podman_calls()
    assert call[0] == "exec" and "c0ffee" in call and call[-1] == "exit 7"


# A plain execute the fast path cannot serve: App.run_in_sandbox (stubbed to report what it
# was given) reached without click, or through click with PLAIN_PROBE_CLICK set.
PLAIN_PROBE = """\
import json, os, sys
from podman_sandbox import app
seen = {}
def run_in_sandbox(self, command, *, interactive, timeout=None):
    seen.update(command=command, interactive=interactive, timeout=timeout,
                instance=self.instance, spec_file=self.spec_file)
    return 5
app.App.run_in_sandbox = run_in_sandbox
argv = sys.argv[1:]
if os.environ.get("PLAIN_PROBE_CLICK"):
    from podman_sandbox.cli.main import run
    code = run(argv)
else:
    sys.argv = ["podman-sandbox", *argv]
    import podman_sandbox.__main__ as entry
    def exit_now(code):  # the real one skips the teardown (os._exit): no print after it
        raise SystemExit(code)
    entry._exit_now = exit_now
    try:
        entry.main()
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "seen": seen, "click": "click" in sys.modules,
                  "jinja2": "jinja2" in sys.modules}))
"""


@pytest.mark.parametrize("argv", [
    ["execute", "echo hi"],
    ["--instance", "a", "execute", "-i", "--timeout", "3", "--", "--x"],
    ["-f", "sandbox.yaml", "execute", "--instance=b", "--timeout=1.5", "ls"],
])
def test_a_plain_execute_the_fast_path_cannot_serve_skips_click(world, argv):
    """No record: the full path, but without click's import; App gets what click gives it."""
    def probe(**env):
        proc = subprocess.run([sys.executable, "-c", PLAIN_PROBE, *argv], cwd=world.project,
                              env=dict(os.environ, PYTHONPATH=str(SRC), **env),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    direct, through_click = probe(), probe(PLAIN_PROBE_CLICK="1")
    assert direct["code"] == 5 and not direct["click"] and not direct["jinja2"]
    assert through_click["click"]  # the probe does compare with the click path
    assert direct["seen"] == through_click["seen"]
    assert direct["seen"]["command"] == argv[-1]


def test_the_file_variable_reaches_the_plain_execute_as_it_reaches_click(world, monkeypatch):
    monkeypatch.setenv("PODMAN_SANDBOX_FILE", str(world.project / "sandbox.yaml"))
    monkeypatch.setenv("PODMAN_SANDBOX_INSTANCE", "c")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    found = []
    for extra in ({}, {"PLAIN_PROBE_CLICK": "1"}):
        proc = subprocess.run([sys.executable, "-c", PLAIN_PROBE, "execute", "true"],
                              cwd=world.project, env={**env, **extra}, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        found.append(json.loads(proc.stdout.strip().splitlines()[-1])["seen"])
    assert found[0] == found[1]
    assert found[0]["instance"] == "c" and found[0]["spec_file"].endswith("sandbox.yaml")


def test_a_plain_execute_exits_with_its_code_without_the_teardown(world):
    """The full path of a plain `execute` ends like the fast path: stdio flushed, then
    os._exit (the interpreter's teardown cost 15 to 30 ms with the planner loaded)."""
    probe = ("import atexit, sys\n"
             "from podman_sandbox import app\n"
             "app.App.run_in_sandbox = lambda self, command, **kw: print('ran', command) or 7\n"
             "atexit.register(lambda: print('teardown ran'))\n"
             "sys.argv = ['podman-sandbox', 'execute', 'true']\n"
             "from podman_sandbox.__main__ import main\n"
             "main()\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=world.project,
                          env=dict(os.environ, PYTHONPATH=str(SRC)), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == "ran true\n"  # flushed, and no teardown after it


# A first execute (no record): what is loaded when the survey's first reads begin.
FIRST_LOOK_PROBE = """\
import json, os, sys
from podman_sandbox.engine import firstlook
def begun(self, runner, name, image, **kwargs):
    print(json.dumps({"names": [name, image], "loaded": sorted(sys.modules)}), flush=True)
    os._exit(0)
firstlook.FirstLook.__init__ = begun
sys.argv = ["podman-sandbox", "execute", "true"]
import podman_sandbox.__main__ as entry
entry.main()
"""


def test_a_first_execute_begins_its_reads_before_the_spec_and_planner_load(world):
    """The survey's inspect runs while Python builds the Spec and loads the planner
    (engine/firstlook.py): begun from the validated document, before dataclasses
    (~10 ms), the Spec (~7 ms) or the planner are imported."""
    proc = subprocess.run([sys.executable, "-c", FIRST_LOOK_PROBE], cwd=world.project,
                          env=dict(os.environ, PYTHONPATH=str(SRC)), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["names"] == ["hot", "localhost/x/y:1"]
    early = {"dataclasses", "podman_sandbox.schema.spec", "podman_sandbox.engine.apply",
             "podman_sandbox.engine.desired", "podman_sandbox.trust"}
    assert not early & set(result["loaded"]), early & set(result["loaded"])


def test_the_installed_command_serves_execute_without_re_or_enum(world):
    """bin/podman-sandbox is the command pip, pipx and uv install (pyproject's script-files):
    its own few lines, because the wrapper pip generates for an entry point imports re
    (and so enum) first: ~10 ms on every execute."""
    live = world.sleeper()
    world.write_record(live.pid)
    script = UNIT_DIR.parents[1] / "bin" / "podman-sandbox"
    proc = subprocess.run([sys.executable, "-X", "importtime", str(script), "execute", "true"],
                          cwd=world.project, env=dict(os.environ, PYTHONPATH=str(SRC)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "podman_sandbox.fastpath" in imported  # the probe does see our imports
    assert not imported & EXECUTE_COSTLY, imported & EXECUTE_COSTLY
    (call,) = world.podman_calls()
    assert call[0] == "exec"


# A first execute (no record): what is loaded when the survey reads the first look's answer,
# with the Spec, the planner and the desired state made.
SURVEY_PROBE = """\
import json, os, sys
from podman_sandbox.engine import firstlook
def answered(self, names):
    print(json.dumps({"loaded": sorted(sys.modules)}), flush=True)
    os._exit(0)
firstlook.FirstLook.inspect = answered
sys.argv = ["podman-sandbox", "execute", "true"]
import podman_sandbox.__main__ as entry
entry.main()
"""


def test_a_first_execute_plans_without_typing_hashlib_or_the_template_engine(world):
    """The Python before a first execute's `podman run` is its critical path (the reads run
    beside it): none of the standard library's costly modules it can do without (lite.py),
    nor Jinja, deepdiff or click."""
    proc = subprocess.run([sys.executable, "-c", SURVEY_PROBE], cwd=world.project,
                          env=dict(os.environ, PYTHONPATH=str(SRC)), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1])["loaded"])
    assert "podman_sandbox.engine.desired" in loaded and "podman_sandbox.engine.plan" in loaded
    avoidable = {"typing", "hashlib", "shutil", "tempfile", "uuid", "pathlib", "platform",
                 "socket", "importlib.metadata", "logging", "argparse"}
    assert not loaded & avoidable, loaded & avoidable
    assert not {_top(m) for m in loaded} & HEAVY_THIRD_PARTY - {"yaml"}, loaded

"""Another local user against the files podman-sandbox trusts: the validated-spec cache,
the fast-path records, the sandbox locks, and a sandbox.yaml that governs a folder.

Each test is one attack, on a real Podman; it passes when the attack fails. Projects
live in a folder other users can reach (the session root is private), and what the
attacker does runs as `other_user`.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from harness import Sandbox

from podman_sandbox.engine.record import FORMAT, limits, process_start_time

PROBE_TIMEOUT = 90  # a guard against a wait that never ends, not a speed check

# The attacker's rewrite of a cached validated document: a read-write mount of /.
REWRITE_CACHE = """\
import json, sys
path = sys.argv[1]
with open(path) as fh:
    entry = json.load(fh)
doc = entry["doc"] if isinstance(entry, dict) and "doc" in entry else entry
doc["mounts"] = [{"source": "/", "target": "/host", "read_only": False, "force": True}]
with open(path, "r+") as fh:
    fh.seek(0)
    fh.truncate()
    json.dump(entry, fh)
"""

# Holds an exclusive flock on argv[1] (made when missing) until stdin closes.
HOLD_LOCK = """\
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def reachable(image, request):
    """A Sandbox under a folder other users can traverse (0755, in /tmp)."""
    top = Path(tempfile.mkdtemp(prefix="pstest-priv-"))
    top.chmod(0o755)
    box = Sandbox(top / "box", image)
    box.root.chmod(0o755)
    yield box
    box.cleanup()
    shutil.rmtree(top, ignore_errors=True)


def cli(sandbox: Sandbox, *args: str, cwd: Path | None = None, umask: int | None = None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "podman_sandbox", *args], cwd=cwd or sandbox.project,
                          env=env or sandbox.env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=PROBE_TIMEOUT, umask=-1 if umask is None else umask)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.args} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def name_for(tag: str) -> str:
    return f"pspriv-{tag}-{uuid.uuid4().hex[:6]}"


def inspect(name: str) -> dict:
    out = subprocess.run(["podman", "inspect", name], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def mount_destinations(name: str) -> dict:
    return {m["Destination"]: m["Source"] for m in inspect(name)["Mounts"]}


def tool_files(*folders: Path) -> list[Path]:
    """Every file and folder under the podman-sandbox folders of these XDG folders."""
    found = []
    for folder in folders:
        mine = folder / "podman-sandbox"
        if mine.exists():
            found.append(mine)
        for dirpath, dirnames, filenames in os.walk(mine):
            found += [Path(dirpath) / n for n in dirnames + filenames]
    return found


# ---------------------------------------------------------------- private whatever the umask

def test_under_umask_000_every_cache_record_and_lock_is_private(sandbox):
    sandbox.write_spec(f"image: {sandbox.image}\nname: {name_for('umask')}\n")
    ok(cli(sandbox, "execute", "true", umask=0))  # the full path: validates, locks, creates, records
    ok(cli(sandbox, "execute", "true", umask=0))  # the fast path
    made = tool_files(sandbox.root / "cache", sandbox.root / "run")
    kinds = {p.suffix for p in made}
    assert {".json", ".rec", ".lock"} <= kinds, made
    loose = {str(p): oct(stat.S_IMODE(p.lstat().st_mode)) for p in made if p.lstat().st_mode & 0o077}
    assert loose == {}


# ---------------------------------------------------------------- the validated-spec cache

def test_another_users_rewrite_of_the_spec_cache_is_not_trusted(reachable, other_user):
    box = reachable
    name = name_for("cache")
    box.write_spec(f"image: {box.image}\nname: {name}\n")
    ok(cli(box, "apply", umask=0))
    # The cache as an earlier version left it under umask 000: open to everyone.
    (box.root / "cache").chmod(0o755)
    cached = list((box.root / "cache" / "podman-sandbox" / "specs").glob("*.json"))
    assert cached
    for folder in (box.root / "cache" / "podman-sandbox", box.root / "cache" / "podman-sandbox" / "specs"):
        folder.chmod(0o777)
    for path in cached:
        path.chmod(0o666)
        other_user.run("python3", "-c", REWRITE_CACHE, str(path))
        assert '"/host"' in path.read_text()  # the attacker's document is in place
    ok(cli(box, "stop"))  # removes the container: the next execute creates it from the spec
    ok(cli(box, "execute", "true"))
    assert "/host" not in mount_destinations(name)
    assert "/" not in mount_destinations(name).values()


# ---------------------------------------------------------------- the fast-path records

def _record_text(key: str, container: str, info: dict) -> str:
    pid = info["State"]["Pid"]
    values = {"key": key, "container": container, "id": info["Id"], "pid": str(pid),
              "starttime": process_start_time(pid), "limits": limits(pid), "hash": "planted",
              "memory": "-", "pidfile": "", "image": "", "base": "", "insync": "0"}
    return FORMAT + "\n" + "".join(f"{k} {v}\n" for k, v in values.items())


def test_a_record_planted_in_a_cache_folder_others_can_write_is_not_trusted(reachable, other_user):
    box = reachable
    victim, other = name_for("a"), name_for("b")
    box.write_spec(f"image: {box.image}\nname: {victim}\n")
    (box.project / "marker").write_text("victim\n")
    project_b = box.root / "project-b"
    project_b.mkdir()
    (project_b / "sandbox.yaml").write_text(f"image: {box.image}\nname: {other}\n")
    (project_b / "marker").write_text("other\n")
    cache = box.root / "cache"
    cache.chmod(0o777)  # a shared cache folder: anyone may create, rename or remove in it
    ok(cli(box, "apply", umask=0))
    ok(cli(box, "apply", cwd=project_b, umask=0))
    key = ok(subprocess.run(
        [sys.executable, "-c", "import sys; from podman_sandbox.engine.record import record_key; "
         "print(record_key(sys.argv[1], sys.argv[2]))", str(box.project / "sandbox.yaml"), str(box.project)],
        env=box.env, capture_output=True, text=True)).stdout.strip()
    # The attacker moves whatever is ours aside and plants a record that sends the
    # victim's execute to the other project's container.
    mine = cache / "podman-sandbox"
    if mine.exists():
        other_user.run("mv", str(mine), str(cache / f"moved-{uuid.uuid4().hex[:6]}"))
    other_user.run("mkdir", "-p", str(mine / "records"))
    other_user.run("tee", str(mine / "records" / f"{key[:32]}.rec"),
                   input=_record_text(key, other, inspect(other)))
    result = ok(cli(box, "execute", "cat /workspace/marker"))
    assert result.stdout == "victim\n"


# ---------------------------------------------------------------- locks in a shared runtime dir

@pytest.fixture
def shared_runtime():
    """A sticky, world-writable XDG_RUNTIME_DIR, as XDG_RUNTIME_DIR=/tmp would be."""
    folder = Path(tempfile.mkdtemp(prefix="pstest-rt-"))
    folder.chmod(0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _attacker_lock_folder(other_user, runtime: Path) -> Path:
    locks = runtime / "podman-sandbox" / "locks"
    other_user.run("mkdir", "-p", "-m", "0755", str(locks))
    return locks


def test_a_symlink_planted_at_the_lock_path_creates_nothing(sandbox, other_user, shared_runtime):
    name = name_for("link")
    sandbox.write_spec(f"image: {sandbox.image}\nname: {name}\n")
    locks = _attacker_lock_folder(other_user, shared_runtime)
    target = shared_runtime / f"made-by-root-{uuid.uuid4().hex[:6]}"
    other_user.run("ln", "-s", str(target), str(locks / f"{name}.lock"))
    env = dict(sandbox.env, XDG_RUNTIME_DIR=str(shared_runtime))
    result = ok(cli(sandbox, "execute", "echo ran", env=env))
    assert result.stdout == "ran\n"
    assert not os.path.lexists(target)


def test_a_lock_another_user_holds_does_not_block_us(sandbox, other_user, shared_runtime):
    name = name_for("held")
    sandbox.write_spec(f"image: {sandbox.image}\nname: {name}\n")
    locks = _attacker_lock_folder(other_user, shared_runtime)
    holder = subprocess.Popen(["runuser", "-u", other_user.name, "--", "python3", "-c", HOLD_LOCK,
                               str(locks / f"{name}.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        env = dict(sandbox.env, XDG_RUNTIME_DIR=str(shared_runtime))
        result = ok(cli(sandbox, "execute", "echo ran", env=env))  # PROBE_TIMEOUT: never a 300 s wait
        assert result.stdout == "ran\n"
        assert holder.poll() is None  # the lock was still held all along
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


# ---------------------------------------------------------------- which sandbox.yaml governs

def test_another_users_symlink_to_my_spec_above_my_folder_is_ignored(reachable, other_user):
    box = reachable
    box.write_spec(f"image: {box.image}\nname: {name_for('mine')}\n")
    config = box.root / "config" / "podman-sandbox"
    config.mkdir(mode=0o700)
    (config / "config.json").write_text(json.dumps({"image": box.image, "name": name_for("classic")}))
    theirs = box.root / "theirs"
    theirs.mkdir()
    os.chown(theirs, other_user.uid, other_user.gid)
    other_user.run("ln", "-s", str(box.project / "sandbox.yaml"), str(theirs / "sandbox.yaml"))
    other_user.run("tee", str(theirs / "planted"), input="theirs\n")
    work = theirs / "work"  # my folder, below theirs
    work.mkdir()
    result = cli(box, "execute", "ls /workspace", cwd=work)
    assert "planted" not in result.stdout.split()
    assert f"ignoring {theirs / 'sandbox.yaml'}: another user owns it (use -f" in result.stderr
    # And my folder is not mounted either: they could swap it for any folder of mine
    # (tests/security/test_redteam_parent_folder.py).
    assert result.returncode == 123, (result.returncode, result.stdout, result.stderr)
    mounted = {m["Source"] for c in box.containers() for m in inspect(c["Id"])["Mounts"]}
    assert str(theirs) not in mounted


def test_my_own_symlink_to_my_spec_still_governs(reachable):
    box = reachable
    name = name_for("ownlink")
    box.write_spec(f"image: {box.image}\nname: {name}\n")
    elsewhere = box.root / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "sandbox.yaml").symlink_to(box.project / "sandbox.yaml")
    # A spec that lives outside the folder it governs is read once you approved it (consent).
    ok(cli(box, "allow", cwd=elsewhere / "sub"))
    result = ok(cli(box, "execute", "pwd", cwd=elsewhere / "sub"))
    assert result.stdout == "/workspace/sub\n" and "ignoring" not in result.stderr
    assert mount_destinations(name)["/workspace"] == str(elsewhere)

"""Spec files read bounded, and the caches, records, locks and config another user must not
touch (private.py applied in specfile.py, schema/source.py, engine/record.py, engine/lock.py,
locate.py). No Podman: tests/security/ drives the same attacks against a real one."""

import os
import stat
import threading

import pytest

from podman_sandbox import paths, private
from podman_sandbox.engine import lock, record
from podman_sandbox.errors import LockError, SpecError
from podman_sandbox.locate import find_spec_file, foreign_spec_file
from podman_sandbox.schema import source
from podman_sandbox.specfile import MAX_SPEC_BYTES, SpecFileError, read_spec_file

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
NOBODY = 65534


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "run")):
        (tmp_path / sub).mkdir(mode=0o700)
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


# --- reading a spec file -------------------------------------------------------------------

def test_a_huge_sparse_spec_file_is_refused_without_reading_it(tmp_path):
    spec = tmp_path / "sandbox.yaml"
    with open(spec, "wb") as fh:
        fh.truncate(16 << 30)
    with pytest.raises(SpecFileError, match="too large"):
        read_spec_file(str(spec))
    spec.write_bytes(b"image: a\n" + b"#" * MAX_SPEC_BYTES)
    with pytest.raises(SpecFileError, match="too large"):
        read_spec_file(str(spec))
    spec.write_bytes(b"image: a\n")
    assert read_spec_file(str(spec)) == b"image: a\n"


def test_a_fifo_or_a_device_is_not_a_spec_file(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    done = []
    worker = threading.Thread(target=lambda: done.append(pytest.raises(SpecFileError, read_spec_file, str(fifo))),
                              daemon=True)
    worker.start()
    worker.join(30)
    assert done, "reading a FIFO blocked"
    with pytest.raises(SpecFileError, match="not a regular file"):
        read_spec_file("/dev/zero")
    with pytest.raises(IsADirectoryError):
        read_spec_file(str(tmp_path))


def test_source_and_record_key_refuse_an_unreadable_spec_with_one_line(tmp_path, xdg):
    spec = tmp_path / "sandbox.yaml"
    with open(spec, "wb") as fh:
        fh.truncate(2 << 30)
    with pytest.raises(SpecError) as err:
        source.read_document(str(spec), kind="project", base_dir=str(tmp_path))
    assert err.value.problems == [f"{spec}: too large (a spec file may hold at most 1 MiB)"]
    assert record.record_key(str(spec), str(tmp_path)) == record.UNREADABLE
    assert record.lookup(record.UNREADABLE) is None
    assert record.record_key("/dev/zero", str(tmp_path)) == record.UNREADABLE


# --- the spec cache and records ------------------------------------------------------------

def test_cache_and_records_are_private_whatever_the_umask(tmp_path, xdg):
    spec = tmp_path / "sandbox.yaml"
    spec.write_text("image: a\n")
    old = os.umask(0)
    try:
        source.read_document(str(spec), kind="project", base_dir=str(tmp_path))
        with lock.sandbox_lock("box", wait=0):
            pass
    finally:
        os.umask(old)
    made = [os.path.join(d, n) for top in (xdg / "cache", xdg / "run")
            for d, dirs, files in os.walk(top) for n in dirs + files]
    assert any(p.endswith(".json") for p in made) and any(p.endswith(".lock") for p in made)
    assert {p: oct(_mode(p)) for p in made if _mode(p) & 0o077} == {}


def test_a_cached_document_is_served_only_under_its_own_key(tmp_path, xdg):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("image: a\n")
    b.write_text("image: b\n")
    assert source.read_document(str(a), kind="project", base_dir=str(tmp_path))["image"] == "a"
    folder = os.path.join(paths.cache_dir(), "specs")
    [cached_a] = os.listdir(folder)
    assert source.read_document(str(b), kind="project", base_dir=str(tmp_path))["image"] == "b"
    [cached_b] = set(os.listdir(folder)) - {cached_a}
    os.replace(os.path.join(folder, cached_a), os.path.join(folder, cached_b))  # a's doc under b's name
    assert source.read_document(str(b), kind="project", base_dir=str(tmp_path))["image"] == "b"


def test_a_cached_document_others_could_write_is_validated_again(tmp_path, xdg):
    spec = tmp_path / "sandbox.yaml"
    spec.write_text("image: a\n")
    source.read_document(str(spec), kind="project", base_dir=str(tmp_path))
    folder = os.path.join(paths.cache_dir(), "specs")
    [name] = os.listdir(folder)
    cached = os.path.join(folder, name)
    text = open(cached).read().replace('"image": "a"', '"image": "evil"')
    with open(cached, "w") as fh:
        fh.write(text)
    os.chmod(cached, 0o666)  # as an older version left it under umask 000
    assert source.read_document(str(spec), kind="project", base_dir=str(tmp_path))["image"] == "a"
    assert _mode(cached) == 0o600


def test_records_in_a_folder_others_can_write_are_never_read(tmp_path, xdg):
    proc_pid = os.getpid()
    key = record.key_for("/p/sandbox.yaml", "/p", b"image: a\n")
    record.write(key, container="box", container_id="abc", pid=proc_pid, spec_hash="h", memory=None)
    assert record.lookup(key) is not None
    os.chmod(xdg / "cache", 0o777)  # the cache home itself: anyone could swap what is inside
    assert record.lookup(key) is None
    os.chmod(xdg / "cache", 0o700)
    path = record._path(key)
    os.chmod(path, 0o622)
    assert record.lookup(key) is None


# --- locks ---------------------------------------------------------------------------------

def test_a_lock_path_symlink_is_never_followed(tmp_path, xdg):
    folder = lock.lock_dir()
    target = tmp_path / "created-through-the-link"
    os.symlink(target, os.path.join(folder, "box.lock"))
    with pytest.raises(LockError, match="cannot use the lock file"):
        with lock.sandbox_lock("box", wait=0):
            pass
    assert not os.path.lexists(target)


@root_only
def test_a_lock_folder_another_user_made_in_a_shared_runtime_dir_is_passed_over(tmp_path, xdg, monkeypatch):
    shared = tmp_path / "shared-run"
    shared.mkdir()
    shared.chmod(0o1777)
    theirs = shared / "podman-sandbox" / "locks"
    theirs.mkdir(parents=True)
    for folder in (theirs.parent, theirs):
        os.chown(folder, NOBODY, NOBODY)
    target = tmp_path / "created-through-the-link"
    os.symlink(target, theirs / "box.lock")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    assert lock.lock_dir() == os.path.join(paths.cache_dir(), "locks")
    with lock.sandbox_lock("box", wait=0):
        pass
    assert not os.path.lexists(target)


# --- the user's config.json ----------------------------------------------------------------

def test_a_config_json_others_can_write_is_refused(tmp_path, xdg):
    path = paths.user_config_path()
    private.private_dir(os.path.dirname(path))
    with open(path, "w") as fh:
        fh.write('{"memory": "256m"}')
    os.chmod(path, 0o600)
    assert source.read_document(path, kind="classic", base_dir=str(tmp_path))["memory"] == "256m"
    os.chmod(path, 0o666)
    with pytest.raises(SpecError, match="writable by other users"):
        source.read_document(path, kind="classic", base_dir=str(tmp_path))


# --- private.py details --------------------------------------------------------------------

def test_the_tools_own_loose_folders_are_tightened(tmp_path):
    loose = tmp_path / "tool" / "specs"
    loose.mkdir(parents=True)
    for folder in (loose.parent, loose):
        folder.chmod(0o777)  # an older version under umask 000
    private.private_dir(str(loose), top=str(loose.parent))
    assert _mode(loose.parent) == 0o700 and _mode(loose) == 0o700


@root_only
def test_a_symlink_of_another_user_on_the_way_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    link = shared / "link"
    link.symlink_to(mine)
    os.lchown(link, NOBODY, NOBODY)  # its owner can re-point it at any time
    with pytest.raises(private.UnsafePathError, match="symlink of another user"):
        private.private_dir(str(link / "cache"))
    os.lchown(link, 0, 0)
    assert private.private_dir(str(link / "cache"))


# --- which sandbox.yaml governs ------------------------------------------------------------

@root_only
def test_another_users_symlink_to_my_spec_is_ignored(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "sandbox.yaml").write_text("image: a\n")
    theirs = tmp_path / "theirs"
    (theirs / "work").mkdir(parents=True)
    (theirs / "sandbox.yaml").symlink_to(mine / "sandbox.yaml")
    os.chown(theirs, NOBODY, NOBODY)
    assert find_spec_file(str(theirs / "work")) is None
    assert foreign_spec_file(str(theirs / "work")) == (
        str(theirs / "sandbox.yaml"), f"another user owns its folder {theirs}")
    os.chown(theirs, 0, 0)
    os.lchown(theirs / "sandbox.yaml", NOBODY, NOBODY)
    assert foreign_spec_file(str(theirs / "work"))[1] == "another user owns it"
    os.lchown(theirs / "sandbox.yaml", 0, 0)  # my own link, in my own folder: it governs
    assert find_spec_file(str(theirs / "work")) == str(theirs / "sandbox.yaml")


def test_a_spec_in_a_folder_anyone_can_write_is_ignored(tmp_path):
    shared = tmp_path / "shared"
    (shared / "work").mkdir(parents=True)
    (shared / "sandbox.yaml").write_text("image: a\n")
    shared.chmod(0o777)
    assert find_spec_file(str(shared / "work")) is None
    assert foreign_spec_file(str(shared / "work"))[1] == f"other users can write its folder {shared}"
    shared.chmod(0o1777)  # sticky: nobody can replace what is ours in it
    assert find_spec_file(str(shared / "work")) == str(shared / "sandbox.yaml")


# --- what configure writes -----------------------------------------------------------------

def test_configure_writes_through_no_planted_symlink_and_config_json_is_private(tmp_path, xdg):
    from podman_sandbox.settings import _write_atomically

    spec = tmp_path / "sandbox.yaml"
    spec.write_text("image: a\n")
    spec.chmod(0o640)
    victim = tmp_path / "victim"
    os.symlink(victim, f"{spec}.{os.getpid()}.tmp")  # the sandbox can write the project folder
    _write_atomically(str(spec), b"image: b\n", kind="project")
    assert not os.path.lexists(victim) and spec.read_text() == "image: b\n" and _mode(spec) == 0o640
    old = os.umask(0)
    try:
        _write_atomically(paths.user_config_path(), b"{}\n", kind="classic")
    finally:
        os.umask(old)
    assert _mode(paths.user_config_path()) == 0o600 and _mode(paths.config_dir()) == 0o700


@root_only
def test_a_spec_named_with_f_is_used_whoever_owns_it_with_a_notice(tmp_path, xdg, capsys):
    from podman_sandbox.app import App

    spec = tmp_path / "theirs.yaml"
    spec.write_text("image: a\n")
    os.chown(spec, NOBODY, NOBODY)
    app = App(spec_file=str(spec))
    assert app.target.spec_path == str(spec)
    assert f"using {spec} because -f chose it, although another user owns it" in capsys.readouterr().err

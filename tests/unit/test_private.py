"""private.py: the folders and files another local user must not be able to touch."""

import os
import stat

import pytest

from podman_sandbox import private
from podman_sandbox.private import UnsafePathError


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_folder_and_file_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        folder = private.private_dir(str(tmp_path / "a" / "b"))
        private.write_private(os.path.join(folder, "f"), b"data")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a") == 0o700 and _mode(folder) == 0o700
    assert _mode(os.path.join(folder, "f")) == 0o600
    assert private.read_private(os.path.join(folder, "f")) == b"data"


def test_an_existing_folder_of_ours_is_tightened(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    private.private_dir(str(loose))
    assert _mode(loose) == 0o700


def test_a_symlink_is_never_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(UnsafePathError):
        private.private_dir(str(tmp_path / "link"))
    (real / "target").write_bytes(b"x")
    (real / "file").symlink_to(real / "target")
    with pytest.raises(OSError):
        private.read_private(str(real / "file"))


def test_a_folder_above_that_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not sticky: anyone could rename what is in it
    with pytest.raises(UnsafePathError):
        private.private_dir(str(shared / "mine"))
    shared.chmod(0o1777)  # like /tmp: others cannot rename or remove what is ours
    assert private.private_dir(str(shared / "mine"))


def test_a_file_others_can_write_is_not_trusted(tmp_path):
    folder = private.private_dir(str(tmp_path / "p"))
    path = os.path.join(folder, "f")
    private.write_private(path, b"x")
    os.chmod(path, 0o666)
    with pytest.raises(UnsafePathError):
        private.read_private(path)


def test_a_fifo_never_blocks_and_a_large_file_is_refused(tmp_path):
    folder = private.private_dir(str(tmp_path / "p"))
    os.mkfifo(os.path.join(folder, "fifo"), 0o600)
    with pytest.raises(UnsafePathError):
        private.read_private(os.path.join(folder, "fifo"))
    private.write_private(os.path.join(folder, "big"), b"x" * 2000)
    with pytest.raises(UnsafePathError):
        private.read_private(os.path.join(folder, "big"), limit=1000)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")
def test_a_folder_or_file_of_another_user_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(UnsafePathError):
        private.private_dir(str(theirs))
    folder = private.private_dir(str(tmp_path / "mine"))
    planted = os.path.join(folder, "f")
    with open(planted, "wb") as fh:
        fh.write(b"x")
    os.chown(planted, 65534, 65534)
    with pytest.raises(UnsafePathError):
        private.read_private(planted)

"""confined.py: paths under /workspace taken apart before anything is opened, and files
read and written one component at a time, never through a symlink (no Podman needed:
the project folder is a temporary folder)."""

from __future__ import annotations

import os

import pytest

from podman_sandbox import confined
from podman_sandbox.errors import EXIT_REFUSED, SandboxError, WorkspacePathError


@pytest.mark.parametrize("path, parts", [
    ("a/b.txt", ["a", "b.txt"]),
    ("./a//b/", ["a", "b"]),
    ("/workspace", []),
    ("/workspace/a", ["a"]),
    ("", []),
    ("a b/$(x)", ["a b", "$(x)"]),
])
def test_components(path, parts):
    assert confined.components(path) == parts


@pytest.mark.parametrize("path", ["../x", "a/../../x", "a/..", "/etc/passwd", "/workspacex/a",
                                  "/", "a\0b", "/workspace/../etc"])
def test_escapes_are_refused(path):
    with pytest.raises(WorkspacePathError) as info:
        confined.components(path)
    assert info.value.exit_code == EXIT_REFUSED


def test_workdir():
    assert confined.workdir(None, "/workspace/sub") == "/workspace/sub"
    assert confined.workdir("a/b", "/workspace") == "/workspace/a/b"
    assert confined.workdir("/workspace/a", "/workspace") == "/workspace/a"
    with pytest.raises(WorkspacePathError):
        confined.workdir("/tmp", "/workspace")


@pytest.fixture
def root(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"host secret")
    return project, outside


def test_round_trip_is_byte_exact(root):
    project, _ = root
    data = bytes(range(256)) * 1000
    assert confined.write(str(project), "deep/er/f.bin", data) == len(data)
    assert (project / "deep/er/f.bin").read_bytes() == data
    assert confined.read(str(project), "/workspace/deep/er/f.bin") == data
    assert confined.read(str(project), "deep/er/f.bin", max_bytes=10) == data[:10]
    confined.write(str(project), "deep/er/f.bin", b"short")
    assert confined.read(str(project), "deep/er/f.bin") == b"short"  # truncated, not appended


def test_listing(root):
    project, outside = root
    (project / "f").write_bytes(b"abc")
    (project / "d").mkdir()
    os.symlink(outside, project / "l")
    assert confined.listing(str(project)) == [
        {"name": "d", "kind": "dir", "size": None},
        {"name": "f", "kind": "file", "size": 3},
        {"name": "l", "kind": "symlink", "size": None}]


def test_a_symlinked_file_is_neither_read_nor_written(root):
    project, outside = root
    os.symlink(outside / "secret", project / "link")
    with pytest.raises(WorkspacePathError, match="symlink"):
        confined.read(str(project), "link")
    with pytest.raises(WorkspacePathError, match="symlink"):
        confined.write(str(project), "link", b"pwned")
    assert (outside / "secret").read_bytes() == b"host secret"


def test_a_symlinked_folder_on_the_way_is_refused(root):
    project, outside = root
    os.symlink(outside, project / "dir")
    for call in (lambda: confined.read(str(project), "dir/secret"),
                 lambda: confined.write(str(project), "dir/new", b"x"),
                 lambda: confined.write(str(project), "dir/sub/new", b"x"),
                 lambda: confined.listing(str(project), "dir")):
        with pytest.raises(WorkspacePathError, match="symlink"):
            call()
    assert sorted(os.listdir(outside)) == ["secret"]


def test_even_a_symlink_pointing_inside_is_not_followed(root):
    project, _ = root
    (project / "real").write_bytes(b"x")
    os.symlink("real", project / "alias")
    with pytest.raises(WorkspacePathError):
        confined.read(str(project), "alias")


def test_a_fifo_is_refused_without_blocking(root):
    project, _ = root
    os.mkfifo(project / "fifo")
    with pytest.raises(WorkspacePathError, match="not a regular file"):
        confined.read(str(project), "fifo")
    with pytest.raises(WorkspacePathError, match="not a regular file"):
        confined.write(str(project), "fifo", b"x")


def test_a_hard_linked_file_is_not_written(root):
    project, outside = root
    os.link(outside / "secret", project / "hard")
    with pytest.raises(WorkspacePathError, match="hard links"):
        confined.write(str(project), "hard", b"pwned")
    assert (outside / "secret").read_bytes() == b"host secret"


def test_missing_and_folder(root):
    project, _ = root
    with pytest.raises(SandboxError, match="no such file"):
        confined.read(str(project), "nope")
    with pytest.raises(SandboxError, match="no such file or folder"):
        confined.write(str(project), "a/b", b"x", parents=False)
    (project / "d").mkdir()
    with pytest.raises(SandboxError, match="is a folder"):
        confined.read(str(project), "d")


def test_a_links_target_is_read_only_through_folders_that_are_not_links(root, tmp_path):
    """kube's pack sends a project symlink as a link (its target string): read through the
    folder it was found in, never through a folder swapped for a link since."""
    root, _ = root
    (root / "notes").mkdir()
    os.symlink("marker", root / "notes" / "link")
    assert confined.read_link(str(root), "notes/link") == "marker"
    outside = tmp_path / "host"
    outside.mkdir()
    os.symlink("/the/hosts/secret/path", outside / "link")
    os.rename(root / "notes", root / "notes.old")
    os.symlink(outside, root / "notes")
    with pytest.raises(SandboxError):
        confined.read_link(str(root), "notes/link")
    with pytest.raises(SandboxError):  # not a link: nothing to read
        confined.read_link(str(root), "notes.old")


def test_pack_sends_no_link_target_found_through_a_swapped_folder(tmp_path, monkeypatch):
    import io
    import tarfile

    from podman_sandbox.engine.kube import workspace

    project = tmp_path / "project"
    (project / "notes").mkdir(parents=True)
    os.symlink("marker", project / "notes" / "link")
    outside = tmp_path / "host"
    outside.mkdir()
    os.symlink("/the/hosts/secret/path", outside / "link")
    walk = workspace.entries

    def walk_then_swap(project_dir):
        found = walk(project_dir)
        os.rename(project / "notes", project / "notes.old")  # as code in the sandbox would
        os.symlink(outside, project / "notes")
        return found

    monkeypatch.setattr(workspace, "entries", walk_then_swap)
    with tarfile.open(fileobj=io.BytesIO(b"".join(workspace.pack(str(project)))), mode="r|") as tar:
        sent = {m.name: m.linkname for m in tar}
    assert (project / "notes").is_symlink()  # the swap happened
    assert "/the/hosts/secret/path" not in sent.values(), sent

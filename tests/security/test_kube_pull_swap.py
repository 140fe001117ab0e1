"""`pull DIR` (the Pod's /workspace back, engine/kube/workspace.unpack) into a folder
whose parent another local user owns: the attacker swaps DIR for a link to a folder of
the victim's between our mkdir and the writes. The Pod's files must never land through
that link. No Podman needed: the stream is the Pod's tar, and reading it is the moment
the attacker acts (after the mkdir, before the first write)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest

from podman_sandbox.engine.kube import workspace
from podman_sandbox.errors import SandboxError


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def attackers_folder(other_user):
    folder = Path(tempfile.mkdtemp(prefix="pstest-pull-"))
    os.chown(folder, other_user.uid, other_user.gid)
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_pull_folder_swapped_for_a_link_by_another_user_writes_nothing_through_it(
        other_user, attackers_folder, outside):
    dest = attackers_folder / "results"
    body = _tar({"planted": b"from the pod\n", "sub/deeper": b"more\n"})

    def stream():
        # The attacker, as themselves: our new folder moved aside, a link in its place.
        other_user.run("mv", str(dest), str(attackers_folder / "taken"))
        other_user.run("ln", "-s", str(outside), str(dest))
        yield body

    with pytest.raises(SandboxError) as err:
        workspace.unpack(stream(), str(dest))
    assert str(dest) in err.value.message and "replaced" in err.value.message
    assert sorted(p.name for p in outside.iterdir()) == ["marker"]  # nothing planted there
    assert not (outside / "sub").exists()
    # What was written went into the folder we made (moved, still ours and private).
    taken = attackers_folder / "taken"
    assert taken.stat().st_uid == os.geteuid() and taken.stat().st_mode & 0o777 == 0o700


def test_a_pull_folder_replaced_before_it_is_opened_is_refused(other_user, attackers_folder,
                                                              outside, monkeypatch):
    """The swap lands between the mkdir and our first look at the folder: a link, or a
    folder of the attacker's, is never written into."""
    dest = attackers_folder / "results"
    real_mkdir = os.mkdir

    def mkdir_then_swap(path, mode=0o777, *a, **kw):
        real_mkdir(path, mode, *a, **kw)
        if os.fspath(path) == str(dest):
            other_user.run("mv", str(dest), str(attackers_folder / "taken"))
            other_user.run("mkdir", str(dest))  # the attacker's own folder, readable by them

    monkeypatch.setattr(workspace.os, "mkdir", mkdir_then_swap)
    with pytest.raises(SandboxError):
        workspace.unpack(iter([_tar({"planted": b"secret from the pod\n"})]), str(dest))
    assert list(dest.iterdir()) == []  # nothing of the Pod's where the attacker can read it


def test_a_folder_swapped_for_a_link_from_inside_never_sends_a_host_file_to_the_pod(
        sandbox, outside, monkeypatch):
    """The other way: code in the project's local sandbox swaps a folder of the project
    for a link to a host folder after pack's walk; the host file of that name must not go
    into the Pod's workspace (a cluster the sandbox's own code may read)."""
    sandbox.write_spec(f"image: {sandbox.image}\n")
    sub = sandbox.project / "notes"
    sub.mkdir()
    (sub / "marker").write_text("the project's own\n")
    sandbox.ok("apply")
    walk = workspace.entries

    def walk_then_swap(project_dir):
        found = walk(project_dir)
        # As the sandbox does it: /workspace is the project folder; the link's target is
        # a host path, which only the host side would resolve.
        sandbox.ok("execute", f"mv /workspace/notes /workspace/notes.old && "
                              f"ln -s {outside} /workspace/notes")
        return found

    monkeypatch.setattr(workspace, "entries", walk_then_swap)
    sent = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(workspace.pack(str(sandbox.project)))),
                      mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member)
            sent[member.name] = data.read() if data else None
    assert (sandbox.project / "notes").is_symlink()  # the swap happened
    assert all(b"host secret" not in (data or b"") for data in sent.values()), sent
    assert "notes/marker" not in sent or sent["notes/marker"] == b"the project's own\n"

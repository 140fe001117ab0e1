"""Red team: a project folder inside a folder another local user owns.

Whoever can write the folder that holds your project can rename your project
away and put a symlink in its place, pointing at any folder of yours. The
spec was read from your real project; the create that follows mounts the
path, now the symlink, at /workspace read-write. Here the other user waits
until a setup step runs (the sandbox is being made), swaps the project for a
link to a private folder of root's, and the sandbox reads it. Now: a
workspace whose folders above it another user could change is refused (123)
before anything is created.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from harness import wait_for

REFUSED = 123




@pytest.fixture
def shared(other_user):
    """A folder of the other user's, in /tmp where they can reach it; what was made from
    projects in it is removed afterwards (by label)."""
    folder = Path(tempfile.mkdtemp(prefix="pstest-rt-shared-"))
    os.chown(folder, other_user.uid, other_user.gid)
    os.chmod(folder, 0o755)
    yield folder
    from harness import podman
    from podman_sandbox.engine.labels import LABEL_PROJECT

    for kind in ("ps", "images"):
        argv = [kind, "--all", "--format", "{{.ID}} {{index .Labels \"%s\"}}" % LABEL_PROJECT]
        for line in podman(*argv, check=False).stdout.splitlines():
            ident, _, owner = line.partition(" ")
            if owner.startswith(str(folder)):
                podman("rm" if kind == "ps" else "rmi", "--force", ident, check=False)
    shutil.rmtree(folder, ignore_errors=True)


def test_workspace_in_another_users_folder_is_refused(sandbox, other_user, outside, shared):
    project = shared / "project"
    project.mkdir()  # root's project in it (root may write anywhere)
    # The setup step says when the sandbox is being made, then waits for the swap (at most
    # 10 minutes, so a test that died leaves nothing waiting for ever).
    (project / "sandbox.yaml").write_text(
        f"image: {sandbox.image}\nsetup:\n  - 'touch /workspace/.go; "
        "i=0; while [ ! -e /workspace/.done ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i+1)); done'\n")
    proc = subprocess.Popen([sys.executable, "-m", "podman_sandbox", "execute", "cat /workspace/marker"],
                            cwd=project, env=dict(sandbox.env, PWD=str(project)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (project / ".go").exists() or proc.poll() is not None)
    if proc.poll() is None and (project / ".go").exists():  # the other user swaps the folder
        other_user.run("mv", str(project), str(shared / "moved"))
        other_user.run("ln", "-s", str(outside), str(project))
        (shared / "moved" / ".done").touch()
    out, err = proc.communicate(timeout=120)
    assert "host secret" not in out, "another user's swap mounted root's folder at /workspace"
    assert proc.returncode == REFUSED, (proc.returncode, out, err)
    assert str(shared) in err, err
    from harness import podman
    assert str(shared) not in podman("ps", "--all", "--format", "{{.Labels}}").stdout

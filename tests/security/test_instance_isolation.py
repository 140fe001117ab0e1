"""Attacks on instances (README "Parallel agents"), on real Podman and git.

The code in an instance writes every file of its worktree, `.git` included, and
its own /workspace; it must not get the host to run anything, reach another
instance's or the plain sandbox's container, or escape its workspace through a
mount source.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

GIT_ID = ["-c", "user.name=test", "-c", "user.email=test@example.com"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


def make_repo(sandbox, spec: str) -> Path:
    sandbox.write_spec(spec)
    (sandbox.project / "f.txt").write_text("original\n")
    git(sandbox.project, "init", "-q")
    git(sandbox.project, "add", "-A")
    git(sandbox.project, "commit", "-q", "-m", "start")
    return sandbox.project


def test_host_git_never_runs_what_the_sandbox_wrote_in_its_worktree(sandbox):
    """A `.git` folder planted in the worktree whose config sets core.fsmonitor and
    core.hooksPath (`git add` there would run them: git discovers that folder). diff,
    merge and discard run git on the worktree and must run none of it."""
    project = make_repo(sandbox, f"image: {sandbox.image}\n")
    marker = sandbox.root / "pwned"
    hook = f'#!/bin/sh\ntouch {marker}-hook\n'
    # A complete repository for git to discover: its objects borrowed from the project's
    # (alternates), HEAD at the commit the worktree started from.
    head = git(project, "rev-parse", "HEAD").strip()
    objects = project / ".git" / "objects"
    plant = (
        "rm -f .git && mkdir -p .git/objects/info .git/refs/heads .git/hooks && "
        "echo 'ref: refs/heads/master' > .git/HEAD && "
        f"echo {head} > .git/refs/heads/master && echo {objects} > .git/objects/info/alternates && "
        f"printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = \"touch {marker}\"\\n"
        "\\thooksPath = .git/hooks\\n' > .git/config && "
        + " && ".join(f"printf '{hook}' > .git/hooks/{h} && chmod +x .git/hooks/{h}"
                      for h in ("pre-commit", "post-commit", "commit-msg", "post-merge",
                                "post-checkout", "reference-transaction"))
        + " && echo changed > f.txt")
    sandbox.ok("execute", "--instance", "evil", plant)
    diff = sandbox.run("diff", "--instance", "evil")
    merged = sandbox.run("merge", "--instance", "evil")
    discarded = sandbox.run("discard", "--instance", "evil")
    assert not list(sandbox.root.glob("pwned*")), "host-side git ran what the sandbox wrote"
    assert diff.returncode == 0 and "+changed" in diff.stdout, diff.stderr
    assert ".git/config" not in diff.stdout  # a path named .git is never content
    assert merged.returncode == 0, merged.stderr
    assert (project / "f.txt").read_text() == "changed\n"
    assert discarded.returncode == 0, discarded.stderr
    assert "sandbox/evil" not in git(project, "branch", "--list")  # its branch went too
    assert len(git(project, "worktree", "list").splitlines()) == 1


def test_an_instance_never_takes_over_the_plain_sandbox_of_the_same_name(sandbox):
    """Two spec files of one folder: the plain sandbox of one is named like an instance
    of the other (<name>--a). Same folder, so only the instance label tells them apart."""
    project = make_repo(sandbox, f"image: {sandbox.image}\nname: pstakeover--a\n")
    (project / "other.yaml").write_text(f"image: {sandbox.image}\nname: pstakeover\n")
    sandbox.ok("execute", "true")
    before = sandbox.inspect("pstakeover--a")["Id"]
    result = sandbox.run("-f", "other.yaml", "execute", "--instance", "a", "true")
    assert result.returncode == 123, result.stderr
    assert "belongs to" in result.stderr and "instance a" in result.stderr
    assert sandbox.inspect("pstakeover--a")["Id"] == before
    mounts = {m["Destination"]: m["Source"] for m in sandbox.inspect("pstakeover--a")["Mounts"]}
    assert mounts["/workspace"] == str(project)


def test_a_mount_source_the_instance_swapped_for_a_symlink_is_refused(sandbox):
    """./data is taken in the instance's own workspace, where the instance can replace it
    with a symlink to /: the next create must refuse, and the project's data stays."""
    project = sandbox.project
    (project / "data").mkdir()
    (project / "data" / "x").write_text("project data\n")
    make_repo(sandbox, f"image: {sandbox.image}\nmounts:\n  - source: ./data\n    target: /data\n"
                       "    read_only: false\n")
    sandbox.ok("allow")  # the project's approval covers its instances
    assert sandbox.ok("execute", "--instance", "m", "cat /data/x").stdout == "project data\n"
    info = sandbox.inspect(json.loads(sandbox.ok("status", "--instance", "m", "--json").stdout)["name"])
    sources = {m["Destination"]: m["Source"] for m in info["Mounts"]}
    assert sources["/data"] == sources["/workspace"] + "/data"  # its own copy, not the project's
    sandbox.ok("execute", "--instance", "m", "rm -rf /workspace/data && ln -s / /workspace/data")
    sandbox.ok("stop", "--instance", "m")
    refused = sandbox.run("execute", "--instance", "m", "ls /data")
    assert refused.returncode == 123, refused.stderr
    assert (project / "data" / "x").read_text() == "project data\n"


def test_the_log_and_the_instance_folder_are_out_of_the_sandboxs_reach(sandbox):
    make_repo(sandbox, f"image: {sandbox.image}\n")
    sandbox.ok("execute", "--instance", "l", "echo hello")
    name = json.loads(sandbox.ok("status", "--instance", "l", "--json").stdout)["name"]
    folder = next((sandbox.root / "state" / "podman-sandbox" / "instances").glob("*/l"))
    sources = [m["Source"] for m in sandbox.inspect(name)["Mounts"]]
    assert sources == [str(folder / "workspace")]  # the workspace only, not the log beside it
    assert (folder.stat().st_mode & 0o077) == 0 and ((folder / "log").stat().st_mode & 0o077) == 0
    sandbox.ok("execute", "--instance", "l", "echo forged > /workspace/../log || true")
    entries = json.loads(sandbox.ok("log", "--instance", "l", "--json").stdout)
    assert [e["command"] for e in entries][:1] == ["echo hello"]
    assert "forged" not in (folder / "log").read_text().replace("echo forged", "")

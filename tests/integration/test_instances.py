"""Instances on real Podman and git: several sandboxes of one project at once, each
with its own container and its own copy of the files (README "Parallel agents")."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import podman

GIT_ID = ["-c", "user.name=test", "-c", "user.email=test@example.com"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


def make_repo(sandbox, spec_extra: str = "") -> Path:
    sandbox.write_spec(f"image: {sandbox.image}\nsetup:\n  - echo built > /etc/built\n{spec_extra}")
    (sandbox.project / "f.txt").write_text("original\n")
    git(sandbox.project, "init", "-q")
    git(sandbox.project, "add", "-A")
    git(sandbox.project, "commit", "-q", "-m", "start")
    return sandbox.project


def names(sandbox) -> set[str]:
    return {n for c in sandbox.containers() for n in c.get("Names") or ()}


def test_four_instances_in_parallel_each_with_its_own_files(sandbox):
    project = make_repo(sandbox)
    runs = [("a", "AAA"), ("b", "BBB"), ("c", "CCC"), ("d", "DDD")]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda r: sandbox.run(
            "execute", "--instance", r[0], f"cat /etc/built && echo {r[1]} > f.txt && cat f.txt"), runs))
    for (name, word), result in zip(runs, results):
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"built\n{word}\n", (name, result.stdout)
    # One setup build for the four (the project's setup lock), four containers, four worktrees.
    assert sum(r.stderr.count("setup step 1/1") for r in results) == 1, [r.stderr for r in results]
    base = sandbox.ok("status", "--json").stdout
    sandbox_name = json.loads(base)["name"]
    assert {f"{sandbox_name}--{n}" for n, _ in runs} <= names(sandbox)
    assert sandbox_name not in names(sandbox)  # the plain sandbox was never made
    # Each sees only its own, and the user's tree is untouched.
    for name, word in runs:
        assert sandbox.ok("execute", "--instance", name, "cat f.txt").stdout == f"{word}\n"
    assert (project / "f.txt").read_text() == "original\n"
    assert git(project, "status", "--porcelain") == ""
    for name, word in runs:
        diff = sandbox.ok("diff", "--instance", name).stdout
        assert f"+{word}" in diff and "-original" in diff, diff
        assert not any(f"+{w}" in diff for n, w in runs if n != name)
    # The plain sandbox still mounts the project itself.
    assert sandbox.ok("execute", "cat f.txt").stdout == "original\n"
    # Merging one brings exactly its change.
    merged = sandbox.ok("merge", "--instance", "b")
    assert "running: git merge sandbox/b" in merged.stderr
    assert (project / "f.txt").read_text() == "BBB\n"
    assert git(project, "diff", "HEAD~1", "--name-only").split() == ["f.txt"]
    assert sandbox.ok("execute", "--instance", "a", "cat f.txt").stdout == "AAA\n"
    # The log holds every command, outside the sandbox.
    log = json.loads(sandbox.ok("log", "--instance", "a", "--json").stdout)
    assert [e["command"] for e in log] == ["cat /etc/built && echo AAA > f.txt && cat f.txt",
                                          "cat f.txt", "cat f.txt"]
    assert all(e["exit_code"] == 0 and e["duration"] > 0 for e in log)
    listing = sandbox.ok("list").stdout
    assert "instance a" in listing and "instance d" in listing


def test_fast_path_serves_an_instance_and_never_the_plain_sandbox_for_it(sandbox):
    make_repo(sandbox)
    sandbox.ok("execute", "echo plain > f.txt")  # the plain sandbox, on the project itself
    sandbox.ok("execute", "--instance", "x", "echo inst > f.txt")
    for _ in range(2):  # the second run of each is served by the fast path
        assert sandbox.ok("execute", "cat f.txt").stdout == "plain\n"
        assert sandbox.ok("execute", "--instance", "x", "cat f.txt").stdout == "inst\n"
        env_run = sandbox.run("execute", "cat f.txt")
        assert env_run.stdout == "plain\n"
    sandbox.env["PODMAN_SANDBOX_INSTANCE"] = "x"
    try:
        assert sandbox.ok("execute", "cat f.txt").stdout == "inst\n"
    finally:
        del sandbox.env["PODMAN_SANDBOX_INSTANCE"]
    log = json.loads(sandbox.ok("log", "--instance", "x", "--json").stdout)
    assert len(log) == 4  # every run, fast or not


def test_copy_mode_outside_a_git_repository(sandbox):
    sandbox.write_spec(f"image: {sandbox.image}\n")
    (sandbox.project / "f.txt").write_text("original\n")
    result = sandbox.ok("execute", "--instance", "c", "echo new > added.txt && echo changed > f.txt")
    assert "copying" in result.stderr
    assert (sandbox.project / "f.txt").read_text() == "original\n"
    assert not (sandbox.project / "added.txt").exists()
    diff = sandbox.ok("diff", "--instance", "c").stdout
    assert "+new" in diff and "+changed" in diff and "-original" in diff
    # The patch is the export: it applies to the project.
    patch = sandbox.root / "c.patch"
    patch.write_text(diff)
    subprocess.run(["git", "apply", str(patch)], cwd=sandbox.project, check=True)
    assert (sandbox.project / "f.txt").read_text() == "changed\n"
    refused = sandbox.run("discard", "--instance", "c")
    assert refused.returncode == 123 and "added.txt" in refused.stderr
    sandbox.ok("discard", "--instance", "c", "--force")
    assert not any(n.endswith("--c") for n in names(sandbox))
    assert not list((sandbox.root / "state" / "podman-sandbox" / "instances").glob("*/c"))


def test_discard_cleans_everything_it_made(sandbox):
    project = make_repo(sandbox)
    sandbox.ok("execute", "--instance", "z", "echo saved > /root/state && echo work > w.txt")
    sandbox.ok("commit", "--instance", "z")
    name = json.loads(sandbox.ok("status", "--instance", "z", "--json").stdout)["name"]
    repo = f"localhost/podman-sandbox-state-{name}"
    assert podman("images", "--format", "json", "--filter", f"reference={repo}").stdout.strip() != "[]"
    refused = sandbox.run("discard", "--instance", "z")
    assert refused.returncode == 123 and "w.txt" in refused.stderr
    assert name in names(sandbox)  # refused: nothing removed
    sandbox.ok("discard", "--instance", "z", "--force")
    assert name not in names(sandbox)
    assert json.loads(podman("images", "--format", "json", "--filter", f"reference={repo}").stdout or "[]") == []
    assert "sandbox/z" not in git(project, "branch", "--list")
    assert len(git(project, "worktree", "list").splitlines()) == 1
    assert not list((sandbox.root / "state" / "podman-sandbox" / "instances").glob("*/z"))
    assert sandbox.run("discard", "--instance", "z").returncode == 0  # nothing left: says so


def test_an_instance_starts_from_the_projects_committed_state_and_never_commits_into_it(sandbox):
    make_repo(sandbox)
    sandbox.ok("execute", "echo project > /root/mark")
    sandbox.ok("commit")
    plain = json.loads(sandbox.ok("status", "--json").stdout)
    assert sandbox.ok("execute", "--instance", "s", "cat /root/mark").stdout == "project\n"
    sandbox.ok("execute", "--instance", "s", "echo instance > /root/mark")
    sandbox.ok("commit", "--instance", "s")
    sandbox.ok("reset")  # the plain sandbox's states only
    sandbox.ok("execute", "--instance", "s", "true")
    assert sandbox.ok("execute", "--instance", "s", "cat /root/mark").stdout == "instance\n"
    assert sandbox.run("execute", "cat /root/mark").returncode != 0  # the project's is fresh again
    assert os.path.basename(plain["name"]) == plain["name"]


def test_gc_finds_instances_whose_project_is_gone(sandbox):
    import shutil

    project = sandbox.project / "sub"
    project.mkdir()
    sandbox.write_spec(f"image: {sandbox.image}\n", folder=project)
    sandbox.ok("execute", "--instance", "g", "echo x > y", cwd=project)
    folders = list((sandbox.root / "state" / "podman-sandbox" / "instances").glob("*/g"))
    assert len(folders) == 1
    shutil.rmtree(project)
    listed = sandbox.ok("gc", "--json", "--under", str(sandbox.project), cwd=sandbox.root).stdout
    kinds = {o["kind"] for o in json.loads(listed)["orphans"]}
    assert {"container", "instance"} <= kinds
    assert folders[0].exists()  # a dry run
    sandbox.ok("gc", "--yes", "--under", str(sandbox.project), cwd=sandbox.root)
    assert not folders[0].exists()
    assert not any(n.endswith("--g") for n in names(sandbox))

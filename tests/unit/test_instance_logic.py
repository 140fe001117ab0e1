"""Instances, the pure parts: names, the instance's spec, ownership with the instance
label, record keys, the fast path's option parsing, the command log, the plan's
starting image, and git's safe invocation (git itself, no Podman)."""

from __future__ import annotations

import os
import subprocess

import pytest

from podman_sandbox import fastpath, instance, trust
from podman_sandbox.engine import images, ownership, record, workspace
from podman_sandbox.engine.actual import Actual
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.instances import instance_spec, rebase, sandbox_base
from podman_sandbox.engine.labels import LABEL_INSTANCE, LABEL_PROJECT, LABEL_SOURCE
from podman_sandbox.engine.plan import make_plan
from podman_sandbox.engine.steps import owner_labels, setup_image_labels
from podman_sandbox.schema.spec import Mount, build_spec


def project_spec(doc=None, project="/proj"):
    return build_spec({"image": "img", "name": "box", **(doc or {})}, project_dir=project,
                      source=os.path.join(project, "sandbox.yaml"), mode="project")


def layout(name="a", mode="worktree", mount="/state/instances/p/a/workspace"):
    return workspace.Layout(name, mode, os.path.dirname(mount), mount, None)


@pytest.mark.parametrize("name,ok", [
    ("a", True), ("agent-7", True), ("try_2", True), ("x" * 32, True), ("x" * 33, False),
    ("", False), ("-a", False), ("_a", False), ("A", False), ("a.b", False), ("a/b", False),
    ("..", False), ("a b", False), ("a\n", False)])
def test_instance_names(name, ok):
    assert instance.valid_name(name) is ok


def test_container_names_fit_podman_and_stay_apart():
    assert instance.container_name("box", "a") == "box--a"
    long = instance.container_name("s" * 63, "agent")
    assert len(long) <= 63 and long.endswith("--agent")
    assert long != instance.container_name("s" * 62 + "t", "agent")


def test_instance_spec_mounts_its_workspace_and_rebases_sources_inside_the_project():
    spec = project_spec({"mounts": [{"source": "data", "target": "/data", "read_only": False},
                                    {"source": "/proj/sub/x", "target": "/x"},
                                    {"source": "/srv/shared", "target": "/shared"}]})
    inst = instance_spec(spec, layout())
    assert inst.name == "box--a" and inst.project_dir == "/state/instances/p/a/workspace"
    assert [m.source for m in inst.mounts] == ["/state/instances/p/a/workspace/data",
                                               "/state/instances/p/a/workspace/sub/x", "/srv/shared"]
    assert inst.instance.project is spec and inst.instance.name == "a"
    assert {"source": "/state/instances/p/a/workspace", "target": "/workspace", "read_only": False} \
        in Desired.from_spec(inst).container["mounts"]
    assert rebase(Mount("/proj", "/p"), "/proj", "/w").source == "/w"
    assert rebase(Mount("/projector", "/p"), "/proj", "/w").source == "/projector"


def test_classic_instances_are_one_per_folder():
    a = build_spec({}, project_dir="/home/me/a", source="/home/me/.config/podman-sandbox/config.json",
                   mode="classic")
    b = build_spec({}, project_dir="/home/me/b", source=a.source, mode="classic")
    assert sandbox_base(a) != sandbox_base(b) and sandbox_base(a).startswith("podman-sandbox-")


def test_one_ownership_rule_keeps_instances_apart():
    spec = project_spec()
    inst = instance_spec(spec, layout("a"))
    other = instance_spec(spec, layout("b"))
    plain_labels, a_labels = owner_labels(spec), owner_labels(inst)
    assert a_labels == {LABEL_PROJECT: "/proj", LABEL_SOURCE: "/proj/sandbox.yaml", LABEL_INSTANCE: "a"}
    assert ownership.is_ours(plain_labels, spec) and not ownership.is_ours(plain_labels, inst)
    assert ownership.is_ours(a_labels, inst) and not ownership.is_ours(a_labels, other)
    assert not ownership.is_ours(a_labels, spec)
    assert ownership.is_ours({**plain_labels, LABEL_INSTANCE: ""}, spec)  # inherited, emptied
    # The project's images are an instance's starting point; an instance's are not.
    assert ownership.is_projects(setup_image_labels(inst), inst)
    assert ownership.is_projects(plain_labels, other)
    assert not ownership.is_projects(a_labels, inst)
    with pytest.raises(ownership.RefusedError, match=r"instance a"):
        ownership.require("sandbox", "box--a", plain_labels, inst)


def test_consent_is_the_projects(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    project = str(tmp_path / "proj")
    os.makedirs(os.path.join(project, "data"))
    spec = project_spec({"mounts": [{"source": "data", "target": "/data"}]}, project=project)
    inst = instance_spec(spec, layout(mount=str(tmp_path / "ws")))
    assert trust.consent(inst).pending  # nothing approved yet
    trust.approve(spec, trust.consent(spec))
    assert not trust.consent(inst).pending  # the project's approval covers it


def test_record_keys_are_per_instance(tmp_path):
    spec = tmp_path / "sandbox.yaml"
    spec.write_text("image: x\n")
    plain = record.record_key(str(spec), str(tmp_path))
    assert plain == record.record_key(str(spec), str(tmp_path), "")  # unchanged for the plain one
    a, b = (record.record_key(str(spec), str(tmp_path), n) for n in ("a", "b"))
    assert len({plain, a, b}) == 3


@pytest.mark.parametrize("argv,expected", [
    (["execute", "true"], ("", ["execute", "true"])),
    (["--instance", "a", "execute", "true"], ("a", ["execute", "true"])),
    (["execute", "--instance=a", "true"], ("a", ["execute", "true"])),
    (["execute", "true", "--instance", "b"], ("b", ["execute", "true"])),
    (["execute", "--", "--instance"], ("", ["execute", "--", "--instance"])),
    (["execute", "--instance"], None),
    (["execute", "--instance", "Bad", "x"], None),
    (["--workspace", "copy", "execute", "--instance", "a", "x"], None),
])
def test_fast_path_reads_the_instance_as_click_does(argv, expected, monkeypatch):
    monkeypatch.delenv(instance.ENV, raising=False)
    assert fastpath._take_instance(argv) == expected


def test_fast_path_takes_the_environment_instance(monkeypatch):
    monkeypatch.setenv(instance.ENV, "e")
    assert fastpath._take_instance(["execute", "x"]) == ("e", ["execute", "x"])
    assert fastpath._take_instance(["--instance", "o", "execute", "x"]) == ("o", ["execute", "x"])
    monkeypatch.setenv(instance.ENV, "NOT valid")
    assert fastpath._take_instance(["execute", "x"]) is None


def test_the_log_round_trips_any_command(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    folder = instance.ensure_folder(instance.folder(str(tmp_path), "a"))
    hostile = "echo 'a\tb'\nprintf '\\\\n' # \r"
    instance.append_log(folder, 1_700_000_000.0, 3, hostile)
    instance.append_log(folder, 1_700_000_001.0, 0, "true")
    entries = instance.read_log(folder)
    assert [e["command"] for e in entries] == [hostile, "true"]
    assert entries[0]["exit_code"] == 3 and entries[0]["time"] == "2023-11-14T22:13:20Z"
    assert (os.stat(os.path.join(folder, "log")).st_mode & 0o777) == 0o600
    assert (os.stat(folder).st_mode & 0o777) == 0o700


def test_a_log_that_is_a_symlink_is_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    folder = instance.ensure_folder(instance.folder(str(tmp_path), "a"))
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.symlink(target, os.path.join(folder, "log"))
    instance.append_log(folder, 0.0, 0, "x")
    assert target.read_text() == ""


def test_an_instance_starts_from_the_projects_state_and_commits_its_own():
    spec = project_spec({"setup": ["make"]})
    inst = instance_spec(spec, layout())
    owner = ownership.spec_owner_hash(inst)
    assert owner == ownership.spec_owner_hash(spec)  # one setup key: one build for all
    key = images.setup_key("base", ["make"], owner)
    project_state = images.state_tag(spec.name, key)
    actual = Actual(state="missing", container_id=None, pid=None, pid_file=None, observed=None,
                    managed=True, labels={}, owner_key=owner, base_image_id="base", base_labels={},
                    built_from_base_id=None, memory_enforced=True, setup_image_present=True,
                    state_image=project_state, other_state_image=None, legacy_states=[],
                    uncommitted=[], disk_unenforced=None)
    plan = make_plan(Desired.from_spec(inst), actual, [])
    assert plan.actions[0].kind == "create" and plan.actions[0].params["image"] == project_state
    assert images.state_tag(inst.name, key) != project_state  # its own commits go elsewhere


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout


class _Out:
    def step(self, _msg):
        pass

    notice = step


def test_worktree_diff_merge_and_remove_on_real_git(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "f").write_text("one\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    lay = workspace.resolve(str(repo / "sub"), "w", None, None)
    assert lay.mode == "worktree" and lay.mount.endswith("/workspace/sub")
    meta = workspace.create(lay, str(repo / "sub"), str(repo / "sub" / "sandbox.yaml"), _Out())
    with open(os.path.join(lay.mount, "f"), "w") as fh:
        fh.write("two\n")
    with open(os.path.join(lay.mount, "new"), "w") as fh:
        fh.write("n\n")
    assert "sub/f" in workspace.changes(meta, names_only=True)
    assert sorted(workspace.unmerged(meta)) == ["sub/f", "sub/new"]
    assert git(repo, "status", "--porcelain") == ""  # looking touched nothing of the user's
    assert workspace.commit_work(meta, "work")
    assert workspace.merge(meta).returncode == 0
    assert (repo / "sub" / "f").read_text() == "two\n"
    assert workspace.unmerged(meta) == []
    workspace.remove(meta, lay.folder, _Out())
    assert not os.path.exists(lay.folder)
    assert "sandbox/w" not in git(repo, "branch")
    with pytest.raises(workspace.RefusedError):
        lay2 = workspace.resolve(str(repo / "sub"), "v", None, None)
        workspace.create(lay2, str(repo / "sub"), "", _Out())
        workspace.resolve(str(repo / "sub"), "v", "copy", None)  # made as a worktree


def test_copy_mode_outside_git_and_worktree_refused_there(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    project = tmp_path / "plain"
    project.mkdir()
    (project / "f").write_text("one\n")
    os.mkfifo(project / "fifo")  # never read (it would block)
    os.symlink("/etc/passwd", project / "link")  # copied as a link, never followed
    with pytest.raises(workspace.SandboxError, match="not in a git repository"):
        workspace.resolve(str(project), "c", "worktree", None)
    lay = workspace.resolve(str(project), "c", None, None)
    assert lay.mode == "copy"
    meta = workspace.create(lay, str(project), "", _Out())
    assert os.readlink(os.path.join(lay.mount, "link")) == "/etc/passwd"
    assert not os.path.exists(os.path.join(lay.mount, "fifo"))
    assert workspace.unmerged(meta) == []
    with open(os.path.join(lay.mount, "f"), "w") as fh:
        fh.write("two\n")
    assert workspace.unmerged(meta) == ["f"]
    assert "+two" in workspace.changes(meta)


def test_git_runs_with_nothing_the_workspace_can_steer(monkeypatch):
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/evil")
    env = workspace.safe_env()
    assert "GIT_DIR" not in env and "GIT_CONFIG_GLOBAL" not in env
    assert env["GIT_CONFIG_NOSYSTEM"] == "1" and env["GIT_TERMINAL_PROMPT"] == "0"
    argv = workspace.git_argv("status", git_dir="/g", work_tree="/w")
    assert "core.fsmonitor=false" in argv and "core.hooksPath=/dev/null" in argv
    assert "--git-dir=/g" in argv and "--work-tree=/w" in argv and "-C" not in argv


def test_fast_path_serves_an_instance_from_its_own_record_and_logs_it(tmp_path, monkeypatch):
    """A record of the plain sandbox never serves `--instance a`, nor a's the plain
    sandbox; the instance's fast `execute` is logged in its folder."""
    from test_hot_path_imports import EXECUTE_MODULES, World, _assert_lean

    world = World(tmp_path, monkeypatch)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv(instance.ENV, raising=False)
    try:
        from podman_sandbox.locate import locate
        target = locate()
        plain = world.sleeper()
        world.write_record(plain.pid)  # the plain sandbox's record only
        assert world.execute("execute", "--instance", "a", "true")["code"] is None  # full path
        inst = world.sleeper()
        key = record.record_key(target.spec_path, target.project_dir, "a")
        record.write(key, container="hot--a", container_id="abcdef", pid=inst.pid, spec_hash="h",
                     memory=None, pid_file=str(world.pidfile))
        instance.ensure_folder(instance.folder(target.project_dir, "a"))
        result = world.execute("execute", "--instance", "a", "echo hi")
        assert result["code"] == 0
        _assert_lean(result["new"], EXECUTE_MODULES)
        assert "abcdef" in world.podman_calls()[-1]  # the instance's container, by id
        assert world.execute("execute", "true")["code"] == 0
        assert "c0ffee" in world.podman_calls()[-1]  # and the plain one for the plain sandbox
        log = instance.read_log(instance.folder(target.project_dir, "a"))
        assert [e["command"] for e in log] == ["echo hi"]
    finally:
        world.close()

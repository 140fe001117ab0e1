"""sandbox.yaml, plan and apply against a real Podman."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone

from harness import memory_limit_in_container
from harness import podman

MIB = 1024 * 1024


def spec(image: str, *, memory: str | None = "64m", setup=("echo ran >> /root/setup-count",),
         extra: str = "") -> str:
    lines = [f"image: {image}"]
    if memory:
        lines.append(f"memory: {memory}")
    if setup:
        lines.append("setup:")
        lines += [f"  - {json.dumps(step)}" for step in setup]
    return "\n".join(lines) + "\n" + extra


def _event_time(event: dict) -> datetime:
    if "timeNano" in event:  # Podman 5: "time" (seconds) and "timeNano" since the epoch
        return datetime.fromtimestamp(event["timeNano"] / 1e9, timezone.utc)
    # Podman 4: "Time": "2026-11-26T11:22:41.238613648Z"; keep microseconds for fromisoformat.
    head, _, frac = event["Time"].rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def events_during(fn) -> list[dict]:
    """Container and image events Podman emitted while fn ran."""
    start = datetime.now(timezone.utc)
    fn()
    out = podman("events", "--since", str(int(start.timestamp()) - 1), "--stream=false",
                 "--format", "json", check=False).stdout
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in events if _event_time(e) >= start]


def test_acceptance_memory_setup_plan_apply(sandbox):
    """The issue's 'done when': 64m + one setup step, then 128m live, setup result kept."""
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    assert memory_limit_in_container(sandbox) == 64 * MIB
    assert sandbox.ok("execute", "wc -l < /root/setup-count").stdout.strip() == "1"
    assert sandbox.run("plan", "--exit-code").returncode == 0

    sandbox.write_spec(spec(sandbox.image, memory="128m"))
    plan = sandbox.run("plan", "--exit-code")
    assert plan.returncode == 2, plan.stderr
    assert "memory: 64m -> 128m" in plan.stdout and "live" in plan.stdout
    before = sandbox.inspect(sandbox.containers()[0]["Id"])["Id"]
    sandbox.ok("apply")
    assert memory_limit_in_container(sandbox) == 128 * MIB
    # Applied live: same container, setup ran once, in sync afterwards.
    assert [c["Id"] for c in sandbox.containers()] == [before]
    assert sandbox.ok("execute", "wc -l < /root/setup-count").stdout.strip() == "1"
    assert sandbox.run("plan", "--exit-code").returncode == 0


def test_second_apply_changes_nothing(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    (container,) = sandbox.containers()
    name = container["Names"][0]
    events = events_during(lambda: sandbox.ok("apply"))
    # Only this sandbox's events: other sessions may be using Podman at the same time.
    ours = [e for e in events
            if (e.get("Type") == "container" and (e.get("ID") == container["Id"] or name in e.get("Name", "")))
            or (e.get("Type") == "image" and name.lower() in e.get("Name", ""))]
    assert [e for e in ours if e.get("Status") in
            ("create", "init", "start", "stop", "remove", "commit", "pull", "tag", "update")] == []
    assert "nothing changed" in sandbox.ok("apply").stderr


def test_invalid_spec_names_line_and_changes_nothing(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    cid = sandbox.containers()[0]["Id"]
    sandbox.write_spec(f"image: {sandbox.image}\nmemory: lots\n")
    for cmd in (("apply",), ("plan",), ("execute", "true")):
        result = sandbox.run(*cmd)
        assert result.returncode == 121, result
        assert "sandbox.yaml:2:" in result.stderr and "memory" in result.stderr
        assert "Traceback" not in result.stderr
    assert sandbox.run("plan", "--exit-code").returncode == 1
    assert [c["Id"] for c in sandbox.containers()] == [cid]
    assert sandbox.inspect(cid)["State"]["Running"]


def test_unpullable_image_leaves_the_running_sandbox(sandbox):
    sandbox.write_spec(spec(sandbox.image, setup=()))
    sandbox.ok("apply")
    cid = sandbox.containers()[0]["Id"]
    sandbox.write_spec(spec("localhost/podman-sandbox-test/does-not-exist:1", setup=()))
    result = sandbox.run("apply")
    assert result.returncode == 125
    assert "does-not-exist" in result.stderr and "Traceback" not in result.stderr
    assert [c["Id"] for c in sandbox.containers()] == [cid]
    assert sandbox.inspect(cid)["State"]["Running"]


def test_bad_value_rejected_by_podman_leaves_the_running_sandbox(sandbox):
    sandbox.write_spec(spec(sandbox.image, setup=()))
    sandbox.ok("apply")
    cid = sandbox.containers()[0]["Id"]
    # Valid for the schema (and approved), refused by Podman at create time: no such source.
    missing = sandbox.root / "no such folder"
    sandbox.write_spec(spec(sandbox.image, setup=(), extra=f"mounts:\n  - source: {json.dumps(str(missing))}\n"
                                                         "    target: /data\n"))
    sandbox.ok("allow")
    result = sandbox.run("apply", "--force")
    assert result.returncode == 125, result
    names = [n for c in sandbox.containers() for n in c["Names"]]
    assert [c["Id"] for c in sandbox.containers()] == [cid], names
    assert sandbox.inspect(cid)["State"]["Running"]


def test_env_change_recreates_with_values_intact(sandbox):
    hostile = "it's \"quoted\" $(echo pwned) --flag\nsecond line"
    sandbox.write_spec(spec(sandbox.image, setup=()))
    sandbox.ok("apply")
    first = sandbox.containers()[0]["Id"]
    sandbox.write_spec(spec(sandbox.image, setup=(), extra=f"env:\n  HOSTILE: {json.dumps(hostile)}\n"))
    plan = sandbox.ok("plan", "--json")
    data = json.loads(plan.stdout)
    assert [a["kind"] for a in data["actions"]] == ["replace"]
    assert data["changes"][0]["field"] == "env"
    sandbox.ok("apply")
    assert sandbox.containers()[0]["Id"] != first
    out = sandbox.ok("execute", 'printf %s "$HOSTILE"').stdout
    assert out == hostile


def test_image_change_recreates(sandbox):
    other = sandbox.image.rsplit(":", 1)[0] + ":other-" + sandbox.root.name[-6:]
    podman("tag", sandbox.image, other)
    try:
        sandbox.write_spec(spec(sandbox.image, setup=()))
        sandbox.ok("apply")
        sandbox.write_spec(spec(other, setup=()))
        data = json.loads(sandbox.ok("plan", "--json").stdout)
        assert [c["field"] for c in data["changes"]] == ["image"]
        assert data["actions"][0]["kind"] == "replace"
        sandbox.ok("apply")
        container = sandbox.inspect(sandbox.containers()[0]["Id"])
        assert json.loads(container["Config"]["Labels"]["io.podman-sandbox.spec"])["image"] == other
        assert sandbox.run("plan", "--exit-code").returncode == 0
    finally:
        sandbox.cleanup()
        podman("untag", other, other, check=False)


def test_setup_is_cached_and_edit_reruns_from_base(sandbox):
    marker = sandbox.project / "runs.log"
    steps = ("echo one >> /workspace/runs.log", "echo a > /root/a")
    sandbox.write_spec(spec(sandbox.image, setup=steps))
    sandbox.ok("apply")
    assert marker.read_text().splitlines() == ["one"]
    # Same steps in another project on the same base: the cached image is reused.
    sandbox.ok("stop")
    sandbox.ok("apply")
    assert marker.read_text().splitlines() == ["one"]
    # Editing a step re-runs all of them from the base; /root/a from the old run is gone.
    sandbox.write_spec(spec(sandbox.image, setup=("echo two >> /workspace/runs.log", "echo b > /root/b")))
    data = json.loads(sandbox.ok("plan", "--json").stdout)
    # ... and the plan ends by removing the setup result the new sandbox no longer uses.
    assert [a["kind"] for a in data["actions"]] == ["build-setup", "replace", "remove-replaced"]
    assert data["actions"][0]["class"] == "rebuild"
    sandbox.ok("apply")
    assert marker.read_text().splitlines() == ["one", "two"]
    assert sandbox.run("execute", "test -e /root/a").returncode == 1
    assert sandbox.run("execute", "test -e /root/b").returncode == 0


def test_failing_setup_step_is_reported_and_nothing_is_left(sandbox):
    sandbox.write_spec(spec(sandbox.image, setup=("echo fine", "exit 7")))
    result = sandbox.run("apply")
    assert result.returncode == 125
    assert "setup step 2/2" in result.stderr
    assert sandbox.containers() == []


def test_execute_in_subfolder_runs_there_and_passes_io(sandbox):
    sandbox.write_spec(spec(sandbox.image, setup=()))
    sub = sandbox.project / "pkg" / "mod"
    sub.mkdir(parents=True)
    assert sandbox.ok("execute", "pwd", cwd=sub).stdout.strip() == "/workspace/pkg/mod"
    result = sandbox.run("execute", "cat; echo err >&2; exit 42", input="from stdin\n", cwd=sub)
    assert (result.returncode, result.stdout, result.stderr.strip().splitlines()[-1]) == \
        (42, "from stdin\n", "err")
    # Still one container: a subfolder is not a reason to remount.
    assert len(sandbox.containers()) == 1


def test_apply_refuses_to_discard_uncommitted_changes(sandbox):
    sandbox.write_spec(spec(sandbox.image, setup=()))
    sandbox.ok("apply")
    sandbox.ok("execute", "echo precious > /root/work")
    sandbox.write_spec(spec(sandbox.image, setup=(), extra="env:\n  A: b\n"))
    plan = sandbox.ok("plan")
    assert "discards 1 uncommitted change(s): /root/work" in plan.stdout
    for cmd in (("apply",), ("execute", "true"), ("start",)):
        refused = sandbox.run(*cmd)
        assert refused.returncode == 123 and "/root/work" in refused.stderr, (cmd, refused)
        # The hint names a command that exists (execute and start have no --force).
        assert "`podman-sandbox apply --force`" in refused.stderr, refused.stderr
    cid = sandbox.containers()[0]["Id"]
    assert podman("exec", cid, "cat", "/root/work").stdout == "precious\n"
    sandbox.ok("apply", "--force")
    assert sandbox.run("execute", "cat /root/work").returncode == 1


def test_auto_commit_keeps_changes_across_recreate(sandbox):
    sandbox.write_spec(spec(sandbox.image, setup=(), extra="auto_commit: true\n"))
    sandbox.ok("apply")
    sandbox.ok("execute", "echo kept > /root/work")
    sandbox.write_spec(spec(sandbox.image, setup=(), extra="auto_commit: true\nenv:\n  A: b\n"))
    data = json.loads(sandbox.ok("plan", "--json").stdout)
    assert [a["kind"] for a in data["actions"]] == ["commit", "replace"]
    sandbox.ok("apply")
    assert sandbox.ok("execute", "cat /root/work; echo $A").stdout == "kept\nb\n"


def test_container_removed_behind_our_back_is_recreated(sandbox):
    sandbox.write_spec(spec(sandbox.image, setup=()))
    sandbox.ok("execute", "true")
    podman("rm", "--force", "--time", "0", sandbox.containers()[0]["Id"])
    assert sandbox.ok("execute", "echo back").stdout == "back\n"
    podman("stop", "--time", "0", sandbox.containers()[0]["Id"])
    assert sandbox.ok("execute", "echo again").stdout == "again\n"
    assert len(sandbox.containers()) == 1


def test_foreign_container_with_our_name_is_left_alone(sandbox):
    name = f"pstest-foreign-{sandbox.root.name[-6:]}"
    podman("create", "--name", name, "--label", f"io.podman-sandbox.project={sandbox.root}",
           sandbox.image, "sleep", "1")
    sandbox.write_spec(spec(sandbox.image, setup=(), extra=f"name: {name}\n"))
    result = sandbox.run("apply")
    assert result.returncode != 0 and "not made by podman-sandbox" in result.stderr
    assert sandbox.inspect(name)["Config"]["Labels"].get("io.podman-sandbox.managed") is None


def test_workspace_is_never_the_whole_home_folder_by_accident(sandbox):
    """Classic mode mounts the current folder: run from home, that would be all of it."""
    config = sandbox.root / "config" / "podman-sandbox"
    config.mkdir(parents=True)
    name = f"pstest-home-{sandbox.root.name[-6:]}"
    (config / "config.json").write_text(json.dumps({"image": sandbox.image, "name": name}))
    sandbox.env["HOME"] = str(sandbox.project)
    refused = sandbox.run("execute", "true")
    assert refused.returncode == 123 and "whole home folder" in refused.stderr
    assert sandbox.run("plan").returncode == 123
    assert sandbox.run("plan", "--exit-code").returncode == 1
    # A folder that holds the home folder is as broad.
    sandbox.env["HOME"] = str(sandbox.project / "me")
    assert sandbox.run("execute", "true").returncode == 123
    assert sandbox.containers() == []
    sandbox.env["PODMAN_SANDBOX_ALLOW_BROAD_MOUNT"] = "1"
    assert sandbox.ok("execute", "echo allowed").stdout == "allowed\n"


def test_setup_steps_run_under_the_sandbox_limits(sandbox):
    step = ("(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max) > /root/pids; "
            "(cat /sys/fs/cgroup/memory.max 2>/dev/null || "
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes) > /root/mem")
    sandbox.write_spec(spec(sandbox.image, memory="48m", setup=(step,), extra="pids_limit: 77\n"))
    sandbox.ok("apply")
    assert sandbox.ok("execute", "cat /root/pids /root/mem").stdout.split() == ["77", str(48 * MIB)]


def test_a_broken_spec_does_not_lock_you_out_of_your_sandbox(sandbox):
    sandbox.write_spec(spec(sandbox.image, setup=()))
    sandbox.ok("apply")
    sandbox.ok("execute", "echo scratch > /root/scratch")
    sandbox.write_spec(spec(sandbox.image, setup=()) + "memory: lots\n")  # a bad merge
    assert sandbox.run("execute", "true").returncode == 121
    status = sandbox.ok("status", "--json")
    assert json.loads(status.stdout)["state"] == "running"
    assert "invalid" in status.stderr
    stopped = sandbox.ok("stop")
    # auto_commit is absent (off): the scratch file is discarded, and said so; no commit.
    assert "/root/scratch" in stopped.stderr and "committing" not in stopped.stderr
    assert sandbox.containers() == []

"""Fitting the ecosystem, on a real Podman: byte-exact execute, streamed setup output,
--verbose/--quiet, logs, shell, gc, and the documented --json shapes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from harness import podman, wait_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "json-output.md"


def spec(image: str, *extra: str) -> str:
    return "\n".join([f"image: {image}", *extra]) + "\n"


def run_bytes(sandbox, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "podman_sandbox", *args], cwd=cwd or sandbox.project,
                          env=sandbox.env, capture_output=True, timeout=120)


def test_execute_output_passes_through_byte_for_byte(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    payload = r"printf '\033[31mred\033[0m \303\251\377\376\000end\r\n'"
    expected = b"\033[31mred\033[0m \xc3\xa9\xff\xfe\x00end\r\n"
    command = f"{payload}; {payload} >&2"
    first = run_bytes(sandbox, "execute", command)  # converges first (full CLI)
    second = run_bytes(sandbox, "execute", command)  # the fast path
    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected
        assert result.stderr.endswith(expected)
    assert second.stderr == expected  # nothing else on stderr once running


def test_setup_output_streams_while_the_step_runs(sandbox):
    # The step waits for a file only this test writes, once it has read the first line:
    # output held back until the step ends would never arrive before that (no clock needed).
    step = f"echo first-line; while [ ! -e /workspace/go ]; do sleep 0.1; done; echo second-line # {sandbox.root.name}"
    sandbox.write_spec(spec(sandbox.image, "setup:", f"  - {json.dumps(step)}"))
    proc = subprocess.Popen([sys.executable, "-m", "podman_sandbox", "apply"], cwd=sandbox.project,
                            env=sandbox.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = reader(proc.stderr)
    try:
        assert wait_for(lambda: "first-line" in lines), f"the first line never came: {lines}"
        assert "second-line" not in lines  # the step is still waiting
    finally:
        (sandbox.project / "go").touch()
    assert proc.wait(timeout=120) == 0
    assert wait_for(lambda: "second-line" in lines), lines


def test_quiet_silences_progress_and_verbose_shows_podman_commands(sandbox):
    sandbox.write_spec(spec(sandbox.image, "memory: 64m"))
    quiet = sandbox.ok("--quiet", "apply")
    assert quiet.stderr == "" and quiet.stdout == ""
    assert sandbox.ok("status", "--json").stdout and sandbox.containers()

    sandbox.write_spec(spec(sandbox.image, "memory: 96m"))
    verbose = sandbox.ok("--verbose", "apply")
    lines = verbose.stderr.splitlines()
    assert lines[0].startswith("+ podman inspect ")
    update = [ln for ln in lines if ln.startswith("+ podman update ")]
    assert len(update) == 1 and "--memory 100663296b" in update[0]
    assert any(ln.startswith("==> update: memory: 64m -> 96m") for ln in lines)
    # execute's own podman exec is shown too, then the command's output passes through.
    shown = sandbox.ok("-v", "execute", "echo 'a b'")
    assert shown.stdout == "a b\n"
    exec_line = shown.stderr.splitlines()[-1]
    assert exec_line.startswith("+ podman exec --interactive --env PODMAN_SANDBOX_EXEC=")
    assert exec_line.endswith(" sh -c -- 'echo '\"'\"'a b'\"'\"''")


def test_logs_show_the_sandbox_output_and_follow_it(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "echo hello-log > /proc/1/fd/1; echo other-log > /proc/1/fd/1")
    logs = sandbox.ok("logs")
    assert logs.stdout.splitlines() == ["hello-log", "other-log"]
    assert sandbox.ok("logs", "--tail", "1").stdout == "other-log\n"

    follow = subprocess.Popen([sys.executable, "-m", "podman_sandbox", "logs", "--follow",
                               "--tail", "0"], cwd=sandbox.project, env=sandbox.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = reader(follow.stdout)

        def attached() -> bool:  # a line written now reaches the follower
            sandbox.ok("execute", "echo ping-line > /proc/1/fd/1")
            return wait_for(lambda: "ping-line" in lines, timeout=1)

        assert wait_for(attached, interval=0), f"logs --follow never showed a new line: {lines}"
        sandbox.ok("execute", "echo followed-line > /proc/1/fd/1")
        assert wait_for(lambda: "followed-line" in lines), lines
        assert set(lines) == {"ping-line", "followed-line"}, lines  # --tail 0: nothing older
    finally:
        follow.terminate()
        follow.wait(timeout=60)


def reader(stream) -> list[str]:
    """The lines of stream (stripped), as they come, read by a thread of their own."""
    lines: list[str] = []

    def read() -> None:
        for raw in stream:
            lines.append(raw.decode(errors="replace").strip())

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_logs_of_no_sandbox_fail_clearly(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    result = sandbox.run("logs")
    assert result.returncode == 1
    assert "no sandbox container" in result.stderr and "podman-sandbox start" in result.stderr


def test_shell_runs_sh_or_bash_when_present(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    result = sandbox.run("shell", input='echo "shell=$0 in $PWD"; exit 3\n')
    assert result.returncode == 3, result.stderr
    assert result.stdout == "shell=sh in /workspace\n"

    # busybox has no bash: give the sandbox one, and shell must prefer it.
    sandbox.ok("execute", "printf '#!/bin/sh\\necho bash-was-chosen\\n' > /bin/bash && chmod +x /bin/bash")
    result = sandbox.run("shell", input="")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "bash-was-chosen\n"


def test_gc_collects_only_what_deleted_projects_left(sandbox):
    marker = uuid.uuid4().hex[:8]
    gone = sandbox.root / "deleted-checkout"
    gone.mkdir()
    sandbox.write_spec(spec(sandbox.image, "setup:", f"  - echo {marker} > /root/made"), folder=gone)
    sandbox.ok("apply", cwd=gone)
    sandbox.ok("execute", "touch /root/work", cwd=gone)
    state_tag = sandbox.ok("commit", cwd=gone).stdout.strip()
    gone_name = json.loads(sandbox.ok("status", "--json", cwd=gone).stdout)["name"]
    setup_image = json.loads(podman("inspect", gone_name).stdout)[0]["ImageName"]
    assert setup_image.startswith("localhost/podman-sandbox-setup:")

    sandbox.write_spec(spec(sandbox.image))  # a live project, kept
    sandbox.ok("apply")
    live_name = json.loads(sandbox.ok("status", "--json").stdout)["name"]
    foreign = f"pstest-foreign-{marker}"
    podman("create", "--name", foreign, "--label", f"io.podman-sandbox.project={gone}",
           sandbox.image, "true")  # our project label but not our managed label
    try:
        shutil.rmtree(gone)
        root = str(sandbox.root)
        dry = json.loads(sandbox.ok("gc", "--under", root, "--json").stdout)
        assert dry["dry_run"] is True
        assert sorted((o["kind"], o["name"]) for o in dry["orphans"]) == sorted([
            ("container", gone_name), ("state-image", state_tag), ("setup-image", setup_image)])
        assert podman("container", "exists", gone_name, check=False).returncode == 0

        done = sandbox.ok("gc", "--under", root, "--yes")
        assert done.stdout.count("removed ") == 3, done.stdout
        assert podman("container", "exists", gone_name, check=False).returncode == 1
        assert podman("image", "exists", state_tag, check=False).returncode == 1
        assert podman("image", "exists", setup_image, check=False).returncode == 1
        # Left alone: the live project's sandbox and the container without our labels.
        assert podman("container", "exists", live_name, check=False).returncode == 0
        assert podman("container", "exists", foreign, check=False).returncode == 0
        assert sandbox.ok("execute", "true").returncode == 0
        assert "Nothing to collect" in sandbox.ok("gc", "--under", root).stdout
    finally:
        podman("rm", "--force", foreign, check=False)


def _documented_keys() -> dict[str, set[str]]:
    text = DOC.read_text(encoding="utf-8")
    found = {}
    for match in re.finditer(r"^## `podman-sandbox ([a-z -]+?) --json`\n(.*?)```json\n(.*?)```",
                             text, re.S | re.M):
        example = json.loads(match.group(3))
        found[match.group(1)] = set((example[0] if isinstance(example, list) else example))
    return found


def test_json_outputs_from_real_podman_keep_the_documented_keys(sandbox):
    sandbox.write_spec(spec(sandbox.image, "memory: 64m"))
    keys = _documented_keys()
    outputs = {"apply": sandbox.ok("apply", "--json"), "status": sandbox.ok("status", "--json"),
               "plan": sandbox.ok("plan", "--json"), "list": sandbox.ok("list", "--json"),
               "configure --show": sandbox.ok("configure", "--show", "--json"),
               "gc": sandbox.ok("gc", "--json", "--under", str(sandbox.root))}
    for name, result in outputs.items():
        data = json.loads(result.stdout)
        row = data[0] if isinstance(data, list) else data
        assert keys[name] <= set(row), (name, keys[name] - set(row))
    assert json.loads(outputs["plan"].stdout)["in_sync"] is True
    assert json.loads(outputs["gc"].stdout)["orphans"] == []


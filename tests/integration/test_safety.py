"""Stopping commands, memory kills, concurrency, faults and hostile values, on a real Podman.

A sandbox runs untrusted code: what it starts must end when asked (timeout,
Ctrl-C, SIGTERM) without taking the sandbox down; parallel commands must make
one container; a crash at any point must leave a state the next command
converges from; and no value may turn into an extra argument on its way to Podman.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness import podman, wait_for


def spec(image: str, extra: str = "") -> str:
    return f"image: {image}\n{extra}"


def names(sandbox) -> list[str]:
    return sorted(n for c in sandbox.containers() for n in c.get("Names") or [])


def sandbox_name(sandbox) -> str:
    [c] = sandbox.containers()
    return c["Names"][0]


def processes(container: str) -> list[str]:
    """Command lines running in the container, from `podman top`, minus the sandbox's own two."""
    out = podman("top", container, "pid", "args", check=False).stdout.splitlines()[1:]
    rows = [ln.split(None, 1)[1] for ln in out if len(ln.split(None, 1)) == 2]
    return [r for r in rows if "podman-init" not in r and r.strip() != "sleep infinity"]


def exec_sessions(container_id: str) -> list[int]:
    """Host pids of the conmon processes serving `podman exec` sessions of the container
    (`conmon -c CONTAINER -u SESSION`, SESSION not the container's own id). One runs from
    before its command starts until the command has ended: none left, and no podman
    client left to start one, means no command of ours is still on its way in."""
    cid = container_id.encode()
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:  # not a process, or gone
            continue
        opts = dict(zip(argv, argv[1:]))
        if os.path.basename(argv[0]) == b"conmon" and opts.get(b"-c") == cid \
                and opts.get(b"-u") not in (None, cid):
            found.append(int(entry))
    return found


def session_processes(sid: int) -> list[int]:
    """Live processes of the session sid (what a killed CLI may have left, its podman exec)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in (b"Z", b"X") and int(fields[3]) == sid:
            found.append(int(entry))
    return found


def catches(pid: int, *signums: int) -> bool:
    """Has pid set handlers for all of signums (SigCgt in /proc/PID/status)?"""
    try:
        with open(f"/proc/{pid}/status") as fh:
            mask = next(int(line.split()[1], 16) for line in fh if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return all(mask >> (s - 1) & 1 for s in signums)


def exec_clients(sid: int) -> list[int]:
    """The session's `podman exec` clients (what execute spawns to run the command)."""
    found = []
    for pid in session_processes(sid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"podman" and b"exec" in argv:
            found.append(pid)
    return found


def popen(sandbox, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "podman_sandbox", *args], cwd=sandbox.project,
                            env=sandbox.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


# ------------------------------------------------------------------ timeouts and signals

def test_timeout_stops_the_command_with_124(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    name = sandbox_name(sandbox)
    start = time.monotonic()
    result = sandbox.run("execute", "--timeout", "2", "sleep 40 && touch /workspace/ran-out")
    assert result.returncode == 124, result
    assert time.monotonic() - start >= 2  # not before its time (a loaded machine only adds)
    assert "timed out after 2s" in result.stderr
    # Stopped, not waited for: the command never reached its end, and nothing of it runs.
    assert not (sandbox.project / "ran-out").exists()
    assert processes(name) == []
    assert sandbox.inspect(name)["State"]["Running"]


def test_timeout_stops_everything_the_command_started(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    name = sandbox_name(sandbox)
    # Each sleep leaves a mark if it ends by itself (&&: not when a signal ends it): a stop
    # that waited for them instead of ending them would show, however slow the machine.
    result = sandbox.run("execute", "--timeout", "1",
                         "sh -c '(sleep 40 && touch /workspace/a) & (sleep 41 && touch /workspace/b) & "
                         "sleep 42' && touch /workspace/c")
    assert result.returncode == 124, result
    assert processes(name) == []
    # A command that ignores SIGTERM is killed after the grace period.
    result = sandbox.run("execute", "--timeout", "1",
                         "trap '' TERM; (sleep 40 && touch /workspace/d) & sleep 41 && touch /workspace/e")
    assert result.returncode == 124
    assert processes(name) == []
    assert [m for m in "abcde" if (sandbox.project / m).exists()] == []


def test_timeout_on_a_sandbox_not_yet_created(sandbox):
    """The slow path (converge first) honours --timeout the same way."""
    sandbox.write_spec(spec(sandbox.image))
    result = sandbox.run("execute", "--timeout", "1", "sleep 40")
    assert result.returncode == 124, result
    assert processes(sandbox_name(sandbox)) == []


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("to", ["process", "group"])
def test_signal_ends_the_command_inside_and_keeps_the_sandbox(sandbox, signum, code, to):
    """to=group is Ctrl-C at a terminal: the podman client gets the signal too and dies
    at once, which alone would leave the command running in the container."""
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    name = sandbox_name(sandbox)
    cid = sandbox.inspect(name)["Id"]
    proc = popen(sandbox, "execute", "sleep 40 && touch /workspace/ran-out", start_new_session=True)
    assert wait_for(lambda: any("sleep 40" in p for p in processes(name))), "the command never started"
    if to == "group":
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert not (sandbox.project / "ran-out").exists()  # ended, not waited for
    assert "Traceback" not in err
    assert processes(name) == []
    info = sandbox.inspect(name)
    assert info["Id"] == cid and info["State"]["Running"]


def test_signal_before_the_command_has_started(sandbox):
    """Ctrl-C right after the command was typed: whatever had begun is gone, nothing is
    left running in the sandbox, and the exit code says how it ended. The signal lands
    at each step of the way in (the CLI's handlers set, its podman exec client running,
    the exec session made in the container), told by /proc, not by a clock."""
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    name = sandbox_name(sandbox)
    cid = sandbox.inspect(name)["Id"]
    steps = {"the CLI runs": lambda proc: catches(proc.pid, signal.SIGINT, signal.SIGTERM),
             "podman exec runs": lambda proc: exec_clients(proc.pid),
             "exec session made": lambda proc: exec_sessions(cid)}
    n = 0
    for step, reached in steps.items():
        for signum, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
            n += 1
            proc = popen(sandbox, "execute", f"sleep {3600 + n}", start_new_session=True)
            if not wait_for(lambda: reached(proc) or proc.poll() is not None) or proc.poll() is not None:
                pytest.fail(f"{step}: never got there: {proc.communicate()}")
            os.killpg(proc.pid, signum)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == code, (step, err)
            assert "Traceback" not in err
            # A command that escaped is running or on its way in: once no podman client
            # of that run and no exec session of the container is left, it would show.
            # (An escaped `sleep 3600` keeps its session: this wait runs out and fails.)
            assert wait_for(lambda: not session_processes(proc.pid) and not exec_sessions(cid)), \
                (step, processes(name))
            assert processes(name) == [], step
    assert sandbox.inspect(name)["State"]["Running"]


# ------------------------------------------------------------------ memory

def test_out_of_memory_is_137_with_a_message(sandbox):
    sandbox.write_spec(spec(sandbox.image, "memory: 32m\n"))
    sandbox.ok("apply")
    # A 200 MB shell variable: the shell really allocates it.
    result = sandbox.run("execute", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}")
    assert result.returncode == 137, result
    assert "ran out of memory" in result.stderr and "32m" in result.stderr
    assert result.stdout == ""
    # The sandbox is still there, and a SIGKILL that is not about memory says nothing of it.
    killed = sandbox.run("execute", "kill -9 $$")
    assert killed.returncode == 137
    assert "memory" not in killed.stderr
    assert sandbox.ok("execute", "echo alive").stdout == "alive\n"


# ------------------------------------------------------------------ concurrency

def _six_executes(sandbox) -> list[tuple[int, str, str]]:
    procs = [popen(sandbox, "execute", f"echo run-{i}; cat /root/setup-done") for i in range(6)]
    return [(p.wait(timeout=120), *p.communicate()) for p in procs]


def test_six_parallel_executes_make_one_container(sandbox):
    sandbox.write_spec(spec(sandbox.image, "setup:\n  - echo yes > /root/setup-done\n"))
    for i, (code, out, err) in enumerate(_six_executes(sandbox)):
        assert code == 0, err
        assert out == f"run-{i}\nyes\n"
    assert len(sandbox.containers()) == 1
    # Stopped behind our back: six more at once start it once, the same container.
    name = sandbox_name(sandbox)
    cid = sandbox.inspect(name)["Id"]
    podman("stop", "--time", "0", name)
    for i, (code, out, err) in enumerate(_six_executes(sandbox)):
        assert code == 0, err
        assert out == f"run-{i}\nyes\n"
    assert [c["Id"] for c in sandbox.containers()] == [cid]
    assert sandbox.inspect(name)["State"]["Running"]


def test_execute_apply_and_commit_at_once(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    name = sandbox_name(sandbox)
    cid = sandbox.inspect(name)["Id"]
    procs = [popen(sandbox, *args) for args in (
        ("execute", "echo one > /root/one"), ("commit",), ("apply",),
        ("execute", "echo two > /root/two"), ("commit",), ("apply",))]
    for p in procs:
        out, err = p.communicate(timeout=120)
        # A commit that runs after another one has saved everything has nothing to commit.
        nothing = "commit" in p.args and p.returncode == 1 and "nothing to commit" in err
        assert p.returncode == 0 or nothing, (p.args, err)
        assert "Traceback" not in err
    assert [c["Id"] for c in sandbox.containers()] == [cid]
    # One more commit saves both files (unless saved already); a fresh container has them.
    last = sandbox.run("commit")
    assert last.returncode == 0 or (last.returncode == 1 and "nothing to commit" in last.stderr), last
    podman("rm", "--force", "--time", "0", name)
    assert sandbox.ok("execute", "cat /root/one /root/two").stdout == "one\ntwo\n"


# ------------------------------------------------------------------ faults

def test_removed_or_stopped_behind_our_back_converges(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "true")
    name = sandbox_name(sandbox)
    first = sandbox.inspect(name)["Id"]
    podman("stop", "--time", "0", name)
    assert sandbox.ok("execute", "echo back").stdout == "back\n"
    assert sandbox.inspect(name)["Id"] == first
    podman("rm", "--force", "--time", "0", name)
    assert sandbox.ok("execute", "echo again").stdout == "again\n"
    assert [c["Id"] for c in sandbox.containers()] != [first]
    assert len(sandbox.containers()) == 1
    assert sandbox.run("plan", "--exit-code").returncode == 0


@pytest.mark.parametrize("then", ["same spec", "setup removed"])
def test_apply_killed_during_setup_then_next_apply_converges(sandbox, then):
    gate = sandbox.project / "go"
    # The step names this test's folder: no setup image cached by another test can serve it.
    step = (f"touch /workspace/step-runs; while [ ! -e /workspace/go ]; do sleep 0.1; done; "
            f"echo set > /root/s # {sandbox.root.name}")
    sandbox.write_spec(spec(sandbox.image, f"setup:\n  - {json.dumps(step)}\n"))
    proc = popen(sandbox, "apply", start_new_session=True)
    running = wait_for(lambda: (sandbox.project / "step-runs").exists())  # the step is running
    setup = [n for n in names(sandbox) if n.endswith("-setup")]
    if not (running and setup):
        proc.kill()
        pytest.fail(f"the setup step never ran in a setup container: {proc.communicate()}")
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and the podman it runs, as a terminal would
    proc.wait(timeout=60)
    assert names(sandbox) == setup  # the leftover is there
    if then == "setup removed":  # the next apply needs no setup container: still cleaned
        sandbox.write_spec(spec(sandbox.image))
        sandbox.ok("apply")
        assert sandbox.run("execute", "test -e /root/s").returncode == 1
    else:
        gate.write_text("")
        result = sandbox.ok("apply")
        assert "build-setup" in result.stderr
        assert sandbox.ok("execute", "cat /root/s").stdout == "set\n"
    assert [n for n in names(sandbox) if n.endswith(("-setup", "-next"))] == []
    assert len(sandbox.containers()) == 1


def test_leftover_next_container_is_cleaned_by_the_next_apply(sandbox):
    """What a crash between `create NAME-next` and the rename leaves behind."""
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    name = sandbox_name(sandbox)
    podman("create", "--name", f"{name}-next", "--label", "io.podman-sandbox.managed=true",
           "--label", f"io.podman-sandbox.project={sandbox.project}", sandbox.image, "true")
    sandbox.write_spec(spec(sandbox.image, "env:\n  CHANGED: 'yes'\n"))
    sandbox.ok("apply")
    assert names(sandbox) == [name]
    assert sandbox.ok("execute", "echo $CHANGED").stdout == "yes\n"


def test_leftovers_are_cleaned_by_a_first_create_and_a_same_named_image_is_ignored(sandbox):
    """A plan that only creates the sandbox finds a killed run's NAME-setup and NAME-next
    in the create's own inspect and removes them after it; a local image whose short
    name is NAME-next (Podman's answer for a missing container of that name) is neither
    taken for the spec's image nor removed."""
    name = f"pstest-left-{os.urandom(4).hex()}"
    sandbox.write_spec(spec(sandbox.image, f"name: {name}\n"))
    for leftover in (f"{name}-setup", f"{name}-next"):
        podman("create", "--name", leftover, "--label", "io.podman-sandbox.managed=true",
               "--label", f"io.podman-sandbox.project={sandbox.project}", sandbox.image, "true")
    stray = f"localhost/{name}-next:latest"
    podman("tag", sandbox.image, stray)
    try:
        assert sandbox.ok("execute", "echo made").stdout == "made\n"
        assert names(sandbox) == [name]  # both leftovers gone
        sandbox.ok("stop")  # removes the container: the next execute creates it again,
        # and Podman now answers for NAME-next with the image
        assert sandbox.ok("execute", "echo again").stdout == "again\n"
        assert sandbox.inspect(name)["ImageName"] == sandbox.image
        assert podman("image", "exists", stray, check=False).returncode == 0
    finally:
        podman("untag", sandbox.image, stray, check=False)


def test_interrupted_commit_keeps_the_previous_state(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "echo v1 > /root/state")
    sandbox.ok("commit")
    # A big change makes the next commit slow enough to be killed in the middle.
    sandbox.ok("execute", "echo v2 > /root/state; head -c 40000000 /dev/zero > /root/big")
    name = sandbox_name(sandbox)
    proc = popen(sandbox, "commit", start_new_session=True)

    def committing() -> bool:
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    argv = fh.read().split(b"\0")
            except OSError:
                continue
            if b"commit" in argv and name.encode() in argv and os.getsid(int(entry)) == proc.pid:
                return True
        return False

    assert wait_for(committing, interval=0.01), "podman commit never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    # The committed state is still v1: a fresh container from it says so.
    podman("rm", "--force", "--time", "0", name)
    assert sandbox.ok("execute", "cat /root/state").stdout == "v1\n"
    assert sandbox.run("execute", "test -e /root/big").returncode == 1
    # And committing works again afterwards.
    sandbox.ok("execute", "echo v3 > /root/state")
    sandbox.ok("commit")
    podman("rm", "--force", "--time", "0", name)
    assert sandbox.ok("execute", "cat /root/state").stdout == "v3\n"


def test_podman_not_installed_is_one_line_and_122(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.env["PATH"] = str(sandbox.root)  # no podman there
    for cmd in (("execute", "true"), ("apply",), ("status",), ("plan",)):
        result = sandbox.run(*cmd)
        assert result.returncode == 122, (cmd, result)
        lines = result.stderr.strip().splitlines()
        assert lines[0] == "podman-sandbox: error: podman is not installed (not found on PATH)"
        assert len(lines) <= 2 and all("Traceback" not in ln for ln in lines)


def test_image_that_cannot_be_pulled_is_125(sandbox):
    sandbox.write_spec(spec("example.invalid/podman-sandbox/nothing:1"))
    for cmd in (("execute", "true"), ("apply",)):
        result = sandbox.run(*cmd)
        assert result.returncode == 125, result
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("podman-sandbox: error:")]
        assert len(errors) == 1 and "pull example.invalid/podman-sandbox/nothing:1 failed" in errors[0]
        assert "Traceback" not in result.stderr
    assert sandbox.containers() == []


# ------------------------------------------------------------------ hostile values

HOSTILE = {
    "SPACES": "a b  c",
    "QUOTES": "it's \"double\" and 'single'",
    "NEWLINES": "line one\nline two\n",
    "SUBST": "$(touch /tmp/pwned) `touch /tmp/pwned2` ${HOME}",
    "DASHES": "--privileged",
    "SEMI": "; rm -rf / #",
}


def test_hostile_values_stay_one_argument(sandbox, tmp_path):
    project = sandbox.root / "we 'ird\" $(x) --dir"
    project.mkdir()
    (project / "sandbox.yaml").write_text(spec(sandbox.image, "env:\n" + "".join(
        f"  {k}: {json.dumps(v)}\n" for k, v in HOSTILE.items())))
    (project / "here.txt").write_text("inside the odd folder\n")
    for key, value in HOSTILE.items():
        out = sandbox.ok("execute", f'printf %s "${key}"', cwd=project).stdout
        assert out == value, key
    assert sandbox.ok("execute", "cat here.txt; pwd", cwd=project).stdout == \
        "inside the odd folder\n/workspace\n"
    assert sandbox.run("execute", "test -e /tmp/pwned || test -e /tmp/pwned2", cwd=project).returncode == 1
    assert not os.path.exists("/tmp/pwned") and not os.path.exists("/tmp/pwned2")
    [c] = [c for c in sandbox.containers()
           if c["Labels"]["io.podman-sandbox.project"] == str(project)]
    info = sandbox.inspect(c["Id"])
    assert info["HostConfig"]["Privileged"] is False
    assert [(m["Source"], m["Destination"]) for m in info["Mounts"]] == [(str(project), "/workspace")]
    # The command itself is one argument for sh -c, whatever it looks like.
    out = sandbox.ok("execute", "--", "echo -- --version \"$(echo sub)\" ';' '|'", cwd=project).stdout
    assert out == "-- --version sub ; |\n"

"""Stopping a command without Podman: which processes are the command's, freeze-then-kill,
the one rule for --timeout, and the sandbox going away under a command.

The "sandbox" here is a process tree of this test: its cgroup and pid namespace
are stood in for (cgroup.member_pids, stopping._pid_ns), so nothing outside the
tree can ever be picked, let alone signalled.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fake_runner import invoke
from harness import wait_for
from podman_sandbox import fastpath
from podman_sandbox.engine import cgroup, execute, procstat, stopping
from podman_sandbox.timeouts import MAX_SECONDS, parse_timeout

TAG = "a" * 32
OTHER = "b" * 32


# --- one rule for --timeout ----------------------------------------------------------

@pytest.mark.parametrize("text,value", [("5", 5.0), ("0.25", 0.25), ("1e3", 1000.0),
                                        (str(MAX_SECONDS), float(MAX_SECONDS))])
def test_good_timeouts(text, value):
    assert parse_timeout(text) == value


BAD = ["inf", "-inf", "1e10", "1e400", "nan", "-1", "0", "-0", "abc", "", str(MAX_SECONDS + 1)]


@pytest.mark.parametrize("text", BAD)
def test_bad_timeouts_are_refused_in_one_line(text):
    with pytest.raises(ValueError) as err:
        parse_timeout(text)
    assert "\n" not in str(err.value) and "--timeout" in str(err.value)


@pytest.mark.parametrize("text", BAD)
def test_the_fast_path_leaves_a_bad_timeout_to_the_cli(text):
    assert fastpath._parse(["execute", "--timeout", text, "true"]) is None


@pytest.mark.parametrize("text", ["inf", "1e10", "nan", "0", "abc"])
def test_the_cli_says_so_with_exit_2_before_any_podman_call(text):
    from fake_runner import FakeRunner

    fake = FakeRunner()
    result = invoke(fake, "execute", "--timeout", text, "true")
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "--timeout must be" in result.stderr
    assert fake.calls == []


# --- which processes are the command's ---------------------------------------------

class Tree:
    """Processes of this test standing in for a sandbox: `init` and what runs under it."""

    def __init__(self, monkeypatch):
        self.procs: list[subprocess.Popen] = []
        self.init = self.spawn("exec sleep 300")
        monkeypatch.setattr(cgroup, "member_pids", lambda pid: self.members())
        monkeypatch.setattr(stopping, "_pid_ns", lambda pid: "pid:[sandbox]")
        assert wait_for(lambda: self.alive("sleep 300"))

    def spawn(self, script: str, tag: str | None = None) -> subprocess.Popen:
        env = {"PATH": os.environ["PATH"]}
        if tag:
            env[execute.EXEC_TAG] = tag
        proc = subprocess.Popen(["sh", "-c", script], env=env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def members(self) -> set[int]:
        """Our spawned processes and all their descendants (what a cgroup would list)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = procstat.stat(int(entry))
                if st:
                    children.setdefault(st[1], []).append(int(entry))
        found, todo = set(), [p.pid for p in self.procs]
        while todo:
            pid = todo.pop()
            if pid not in found:
                found.add(pid)
                todo.extend(children.get(pid, ()))
        return found

    def alive(self, needle: str) -> list[int]:
        out = []
        for pid in self.members():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    argv = fh.read().replace(b"\0", b" ").decode()
            except OSError:
                continue
            st = procstat.stat(pid)
            if needle in argv and st and st[0] not in ("Z", "X"):
                out.append(pid)
        return out

    def close(self) -> None:
        for pid in self.members():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for proc in self.procs:
            proc.wait()


@pytest.fixture
def tree(monkeypatch):
    # OTHER stands for another running `execute`: its podman exec client is live.
    monkeypatch.setattr(stopping, "live_tags", lambda: {OTHER.encode()})
    t = Tree(monkeypatch)
    yield t
    t.close()




def ticks_after(ticks: int) -> int | None:
    """now_ticks() once it is later than ticks, else None (poll it with wait_for)."""
    now = now_ticks()
    return now if now > ticks else None


def now_ticks() -> int:
    """A start time every process made from here on is at least (clock ticks since boot)."""
    probe = subprocess.Popen(["sleep", "0"])
    started = procstat.start_time(probe.pid, ended=True)
    probe.wait()
    return started


def test_attribution_by_tag_ancestry_and_start_time(tree):
    before = tree.spawn("exec sleep 301")  # in the sandbox before our command
    assert wait_for(lambda: tree.alive("sleep 301"))
    # Start times count in clock ticks: "since" must be a tick later than that process.
    began = procstat.start_time(before.pid)
    since = wait_for(lambda: ticks_after(began))
    assert since, "the clock never moved on"
    tree.spawn("sleep 302 & exec env -u PODMAN_SANDBOX_EXEC sleep 303", tag=TAG)
    tree.spawn("env -u PODMAN_SANDBOX_EXEC sleep 304 & exec sleep 305", tag=OTHER)
    tree.spawn("exec sleep 306")  # untagged, no tagged ancestor, started after ours began
    assert wait_for(lambda: all(tree.alive(f"sleep {n}") for n in range(301, 307)))
    scope = stopping.Scope(TAG, tree.init.pid, since)
    assert scope.exact
    ours = scope.scan()
    names = {n for n in range(301, 307) if set(tree.alive(f"sleep {n}")) & ours}
    assert names == {302, 303, 306}
    assert tree.init.pid not in ours


def test_the_containers_idle_process_is_never_ours_even_in_our_execs_clock_tick(tree):
    """The init's oldest child is the sandbox's idle process (it started with the
    container): never ours, even when our exec began in its clock tick, as a first
    execute right after the create does. A later child of the init (an orphan that
    came to it) is judged as any other."""
    init = subprocess.Popen(["sh", "-c", "sleep 310 & read line; sleep 311 & exec sleep 300"],
                            stdin=subprocess.PIPE, env={"PATH": os.environ["PATH"]},
                            start_new_session=True)
    tree.procs.append(init)
    idle_of = lambda: [p for p in tree.alive("sleep 310") if p != init.pid]  # noqa: E731
    assert wait_for(idle_of)
    (idle,) = idle_of()
    since = procstat.start_time(idle)  # our exec's client started in the same tick
    assert wait_for(lambda: ticks_after(since)), "the clock never moved on"
    init.stdin.write(b"go\n")
    init.stdin.close()
    assert wait_for(lambda: init.pid in tree.alive("sleep 300") and tree.alive("sleep 311"))
    assert procstat.stat(idle)[1] == init.pid
    ours = stopping.Scope(TAG, init.pid, since).scan()
    assert idle not in ours
    later = set(tree.alive("sleep 311"))
    assert later and later <= ours and init.pid not in ours


def test_a_made_up_tag_shields_nothing(tree):
    """A tag no running command has (the command chose its child's environment) is no tag."""
    since = now_ticks()
    # (An orphan with a made-up tag leaves this tree: tests/security/test_redteam_forged_tag.py.)
    tree.spawn("env PODMAN_SANDBOX_EXEC=forged sleep 341 & exec sleep 343", tag=TAG)
    tree.spawn("exec env PODMAN_SANDBOX_EXEC=forged sleep 344", tag=TAG)
    assert wait_for(lambda: all(tree.alive(f"sleep {n}") for n in (341, 343, 344)))
    ours = stopping.Scope(TAG, tree.init.pid, since).scan()
    assert {n for n in (341, 343, 344) if set(tree.alive(f"sleep {n}")) & ours} == {341, 343, 344}


def test_live_tags_are_those_of_this_users_podman_exec_clients():
    tag = os.urandom(16).hex()  # this run's alone: another run of this test has its own client
    # A process whose argv reads like our podman exec client (sh keeps its argv as is).
    client = subprocess.Popen(["/usr/bin/podman", "-c", "sleep 30; :", "exec", "--env",
                               f"PODMAN_SANDBOX_EXEC={tag}", "box", "sh"], executable="/bin/sh")
    try:
        assert wait_for(lambda: tag.encode() in stopping.live_tags())
    finally:
        client.kill()
        client.wait()
    assert tag.encode() not in stopping.live_tags()


def test_stop_ends_ours_and_spares_the_rest(tree):
    since = now_ticks()
    tree.spawn("trap '' TERM; (env -i sh -c 'sleep 311 &') ; sleep 312 & sleep 313", tag=TAG)
    tree.spawn("exec sleep 314", tag=OTHER)
    assert wait_for(lambda: all(tree.alive(f"sleep {n}") for n in (311, 312, 313, 314)))
    found, left = stopping.stop(stopping.Scope(TAG, tree.init.pid, since), signal.SIGTERM,
                                grace=0.3)
    assert found and left == set()
    assert wait_for(lambda: not any(tree.alive(f"sleep {n}") for n in (311, 312, 313)))
    assert tree.alive("sleep 314") and tree.alive("sleep 300")


def test_freeze_then_kill_outruns_a_process_that_keeps_forking(tree):
    since = now_ticks()
    # Ignores SIGTERM and starts a new child every few milliseconds.
    tree.spawn("trap '' TERM; while :; do sleep 320 & done", tag=TAG)
    assert wait_for(lambda: len(tree.alive("sleep 320")) > 20)
    found, left = stopping.stop(stopping.Scope(TAG, tree.init.pid, since), signal.SIGTERM,
                                grace=0.2)
    assert found and left == set()
    assert tree.alive("sleep 320") == []


def test_without_the_sandbox_namespace_only_tags_count(tree, monkeypatch):
    monkeypatch.setattr(stopping, "_pid_ns", lambda pid: None)
    since = now_ticks()
    tree.spawn("exec sleep 331")  # untagged and late: ours only by start time
    tree.spawn("exec sleep 332", tag=TAG)
    assert wait_for(lambda: tree.alive("sleep 331") and tree.alive("sleep 332"))
    scope = stopping.Scope(TAG, tree.init.pid, since)
    assert not scope.exact
    ours = scope.scan()
    assert set(tree.alive("sleep 332")) <= ours
    assert not set(tree.alive("sleep 331")) & ours


# --- the sandbox gone under a running command -----------------------------------------

FAKE_PODMAN = """\
#!{python}
import os, signal, sys, time
victim = os.environ.get("KILL_INIT")
if victim:  # as `podman rm -f`: the init dies, and then podman exec ends
    os.kill(int(victim), signal.SIGKILL)
    while open(f"/proc/{{victim}}/stat").read().rsplit(")", 1)[1].split()[0] not in "ZX":
        time.sleep(0.01)
sys.exit(255)
"""


@pytest.fixture
def fake_podman(tmp_path):
    path = tmp_path / "podman"
    path.write_text(FAKE_PODMAN.format(python=sys.executable))
    path.chmod(0o755)
    return str(path)


def test_exit_255_with_the_sandbox_alive_is_the_commands(fake_podman, capfd):
    init = subprocess.Popen(["sleep", "60"])
    try:
        code = execute.run("c0ffee", "exit 255", workdir="/workspace", init_pid=init.pid,
                           podman=fake_podman)
    finally:
        init.kill()
        init.wait()
    assert code == 255
    assert capfd.readouterr().err == ""


def test_the_sandbox_gone_under_the_command_is_125_with_our_message(fake_podman, capfd,
                                                                     monkeypatch):
    init = subprocess.Popen(["sleep", "60"])
    monkeypatch.setenv("KILL_INIT", str(init.pid))
    try:
        # Podman ends with 255 once the init is gone, as when `podman rm -f` removed it.
        code = execute.run("c0ffee", "sleep 60", workdir="/workspace", init_pid=init.pid,
                           podman=fake_podman)
    finally:
        init.kill()
        init.wait()
    assert code == 125
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "was stopped or removed while the command ran" in err


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="a pid namespace of its own needs root")
def test_the_stop_run_inside_the_sandbox_spares_its_idle_process(tmp_path):
    """The in-sandbox stop (rootless, remote engines) follows the same rule: the init's
    oldest child is the sandbox's idle process, even when it started in the tick our
    exec began; a later untagged child of the init (an orphan of ours) is ended."""
    inner = ('sleep 320 & idle=$!\n'
             'read -r line < /proc/$idle/stat; set -- ${line##*) }; since=${20}\n'
             'sleep 321 & later=$!\n'
             'PODMAN_SANDBOX_EXEC=own sh -c "$SCRIPT" sh ours "$since" 15 own; echo "code $?"\n'
             'state() { cut -d" " -f3 /proc/$1/stat 2>/dev/null; }\n'
             '[ "$(state $idle)" = S ] && echo idle-alive\n'
             'case "$(state $later)" in Z|"") echo later-gone;; esac\n'
             'kill $idle $later 2>/dev/null; exit 0\n')
    proc = subprocess.run(["unshare", "--fork", "--pid", "--mount-proc", "sh", "-c", inner],
                          env={"PATH": os.environ["PATH"], "SCRIPT": stopping._INSIDE_SCRIPT},
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["code", "0", "idle-alive", "later-gone"], (proc.stdout, proc.stderr)

"""The Python API (podman_sandbox.Sandbox) against a real Podman: the CLI's engine,
execute's guarantees through pipes, files under /workspace, consent never widened."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from harness import podman, wait_for
from podman_sandbox import Sandbox
from podman_sandbox.errors import EXIT_REFUSED, SandboxError, WorkspacePathError
from podman_sandbox.trust import ConsentError


@pytest.fixture
def api(sandbox, monkeypatch):
    """A Sandbox on the test's project, in the test's own XDG folders."""
    for var, _ in sandbox.XDG:
        monkeypatch.setenv(var, sandbox.env[var])
    monkeypatch.delenv("PODMAN_SANDBOX_FILE", raising=False)
    monkeypatch.setenv("PODMAN_SANDBOX_REST", "0")  # the `podman exec` path (REST: below)
    name = f"pstest-api-{uuid.uuid4().hex[:10]}"
    sandbox.write_spec(f"image: {sandbox.image}\nname: {name}\nmemory: 64m\n")
    box = Sandbox(sandbox.project)
    box.name = name  # for the tests' own checks
    box.cli = sandbox
    return box


def _processes(api) -> str:
    return podman("top", api.name, "args").stdout


def test_run_exit_code_and_byte_exact_output(api):
    result = api.run("printf 'a\\000b\\377'; printf 'err\\n' >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"a\x00b\xff", b"err\n")
    assert not result.timed_out and not result.oom_killed
    assert api.run("exit 0").ok
    assert api.run("no-such-command").exit_code == 127


def test_stdin_env_cwd_and_argv(api):
    data = bytes(range(256)) * 4096  # 1 MiB: more than a pipe holds, both ways
    result = api.run("cat", input=data)
    assert result.stdout == data
    assert api.run("wc -c").stdout.strip() == b"0"  # no input: empty stdin, never ours
    assert api.run("echo \"$A|$B\"", env={"A": "x y", "B": "$(id)"}).stdout == b"x y|$(id)\n"
    api.run("mkdir -p 'sub dir'")
    assert api.run("pwd", cwd="sub dir").stdout == b"/workspace/sub dir\n"
    assert api.run(["printf", "%s|", "a b", "$(x)", "'"]).stdout == b"a b|$(x)|'|"
    with pytest.raises(WorkspacePathError):
        api.run("pwd", cwd="/etc")


def test_timeout_ends_everything_the_command_started(api):
    result = api.run("sleep 300 & (setsid sleep 301 &); sleep 302", timeout=1)
    assert result.timed_out and result.exit_code == 124
    assert "timed out after 1s" in result.message
    left = _processes(api)
    assert "sleep 30" not in left, left


def test_out_of_memory_is_named(api):
    result = api.run("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo never")
    assert result.oom_killed and result.exit_code == 137
    assert "ran out of memory" in result.message


def test_stream_yields_output_as_it_comes_and_stopping_early_ends_it(api):
    execution = api.stream("echo one; echo two >&2; sleep 0.2; echo three")
    chunks = list(execution)
    assert b"".join(d for n, d in chunks if n == "stdout") == b"one\nthree\n"
    assert b"".join(d for n, d in chunks if n == "stderr") == b"two\n"
    assert execution.exit_code == 0
    execution = api.stream("echo started; sleep 303")
    for name, data in execution:
        assert (name, data) == ("stdout", b"started\n")
        break
    execution.close()  # leaving early stops the command, as a timeout does
    assert "sleep 303" not in _processes(api)


def test_files_round_trip_with_the_sandbox(api):
    data = b"\x00binary\xff" * 1000
    assert api.write_file("dir/f.bin", data) == len(data)
    assert api.run("md5sum dir/f.bin").stdout.split()[0] == \
        api.run("cat /workspace/dir/f.bin | md5sum").stdout.split()[0]
    api.run("printf made-inside > dir/inside.txt")
    assert api.read_file("/workspace/dir/inside.txt") == b"made-inside"
    assert api.read_file("dir/f.bin") == data
    names = {e["name"]: e for e in api.list_files("dir")}
    assert names["f.bin"] == {"name": "f.bin", "kind": "file", "size": len(data)}
    with pytest.raises(WorkspacePathError) as info:
        api.read_file("../sandbox.yaml")
    assert info.value.exit_code == EXIT_REFUSED


def test_lifecycle_is_the_clis(api):
    with api as sb:
        assert sb.status()["running"]
    assert api.status()["running"]  # leaving the block leaves it running
    assert api.plan()["in_sync"]
    assert api.apply()["changed"] is False
    # The CLI finds the same sandbox by its record: one engine.
    assert api.cli.ok("execute", "echo $HOSTNAME").stdout.strip()
    api.run("echo keep > /root/kept")
    tag = api.commit()
    assert tag.startswith("localhost/podman-sandbox-state-")
    assert api.stop() is True
    assert api.status()["state"] == "missing"
    assert api.run("cat /root/kept").stdout == b"keep\n"  # started again from the state
    assert api.reset()
    assert api.run("cat /root/kept 2>/dev/null || echo fresh").stdout == b"fresh\n"
    with pytest.raises(SandboxError) as info:
        api.commit()  # nothing new since it was made: the CLI's error and code
    assert info.value.exit_code == 1


def test_an_instance_is_a_sandbox_of_its_own(api):
    """Sandbox(..., instance="a") is the CLI's --instance a: its own container
    (<name>--a), its own copy of the files, its command log; the project's untouched."""
    (api.cli.project / "shared.txt").write_text("from the project\n")
    a = Sandbox(api.cli.project, instance="a")
    assert a.instance == "a" and Sandbox(api.cli.project).instance is None
    result = a.run("cat shared.txt; echo mine > mine.txt")
    assert (result.exit_code, result.stdout) == (0, b"from the project\n")
    assert podman("inspect", f"{api.name}--a", check=False).returncode == 0
    assert podman("container", "exists", api.name, check=False).returncode == 1  # not made
    assert not (api.cli.project / "mine.txt").exists()  # the instance's copy, not the project
    assert a.project_dir != str(api.cli.project)
    assert a.read_file("mine.txt") == b"mine\n"
    a.write_file("w.txt", "written\n")
    assert a.run("cat w.txt").stdout == b"written\n"
    # The CLI finds the same instance and the commands the API ran in its log.
    assert api.cli.ok("execute", "--instance", "a", "cat mine.txt").stdout == "mine\n"
    log = api.cli.ok("log", "--instance", "a", "--json").stdout
    assert "echo mine > mine.txt" in log and "cat w.txt" in log
    assert a.status()["name"] == f"{api.name}--a"
    assert api.run("test -e mine.txt").exit_code == 1  # the plain sandbox: the project's files
    assert a.stop() is True
    assert podman("container", "exists", f"{api.name}--a", check=False).returncode == 1
    assert podman("container", "exists", api.name, check=False).returncode == 0
    with pytest.raises(SandboxError) as bad:
        Sandbox(api.cli.project, instance="Not A Name")
    assert bad.value.exit_code == 2
    with pytest.raises(SandboxError):
        Sandbox(api.cli.project, workspace="copy")  # workspace= needs an instance


def test_unapproved_grants_are_refused_and_never_approved(api, tmp_path):
    """The spec lives in /workspace: code inside can add a mount. The API never asks and
    never approves on its own; nothing is created."""
    shared = tmp_path / "host-folder"
    shared.mkdir()
    text = (api.cli.project / "sandbox.yaml").read_text()
    api.write_file("sandbox.yaml", text + f"mounts:\n  - source: {shared}\n    target: /host\n")
    with pytest.raises(ConsentError) as info:
        api.run("ls /host")
    assert info.value.exit_code == EXIT_REFUSED
    assert "podman-sandbox allow" in info.value.hint
    assert api.status()["state"] == "missing"
    assert api.apply(allow=True)["state"] == "running"  # the program's author may approve
    assert api.run("ls -d /host").stdout == b"/host\n"


# --- the REST exec path: a `podman system service` of the test's own ----------------

@pytest.fixture
def rest_api(api, monkeypatch):
    """api, with PODMAN_SANDBOX_REST_SOCKET naming a Podman service on this machine that
    this test starts and stops by PID (CONTAINER_HOST would make it a remote engine);
    a logging `podman` first on PATH shows whether any `podman exec` ran."""
    root = api.cli.root
    sock = root / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: sock.exists() or service.poll() is not None) and sock.exists(), \
            "the service did not start"
        shim = root / "shim"
        shim.mkdir()
        log = root / "podman-calls.log"
        (shim / "podman").write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\n'
                                     f'exec "{shutil.which("podman")}" "$@"\n')
        (shim / "podman").chmod(0o755)
        monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("PODMAN_SANDBOX_REST_SOCKET", str(sock))
        monkeypatch.delenv("PODMAN_SANDBOX_REST")
        api.calls = lambda: log.read_text().split() if log.exists() else []
        api.start()
        yield api
    finally:
        service.terminate()
        service.wait(timeout=30)


def test_rest_path_keeps_executes_guarantees(rest_api):
    api = rest_api
    before = len(api.calls())
    data = bytes(range(256)) * 4096
    result = api.run("cat; printf 'e\\000r' >&2; exit 3", input=data)
    assert (result.exit_code, result.stdout, result.stderr) == (3, data, b"e\x00r")
    assert result.via == "rest"
    assert api.run("wc -c").stdout.strip() == b"0"
    assert api.run("echo \"$A\"; pwd", env={"A": "x y"}, cwd="/workspace").stdout == \
        b"x y\n/workspace\n"
    timed = api.run("sleep 300 & (setsid sleep 301 &); sleep 302", timeout=1)
    assert timed.timed_out and timed.exit_code == 124
    assert "sleep 30" not in _processes(api)
    oom = api.run("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo never")
    assert oom.oom_killed and oom.exit_code == 137
    execution = api.stream("echo started; sleep 303")
    assert next(iter(execution)) == ("stdout", b"started\n")
    execution.close()
    assert "sleep 303" not in _processes(api)
    assert "exec" not in api.calls()[before:]  # all of it went through the REST API
    assert api._rest_connection() is not None


def test_without_the_service_the_podman_exec_path_serves(rest_api, monkeypatch):
    monkeypatch.setenv("PODMAN_SANDBOX_REST", "0")
    fresh = Sandbox(rest_api.cli.project)
    before = len(rest_api.calls())
    result = fresh.run("echo via-exec")
    assert result.stdout == b"via-exec\n" and result.via == "podman exec"
    assert "exec" in rest_api.calls()[before:]


def test_cli_execute_goes_through_rest_with_executes_guarantees(rest_api):
    cli = rest_api.cli
    env = dict(cli.env, PODMAN_SANDBOX_REST_SOCKET=os.environ["PODMAN_SANDBOX_REST_SOCKET"],
               PATH=os.environ["PATH"])
    env.pop("PODMAN_SANDBOX_REST", None)
    before = len(rest_api.calls())

    def execute(*args, **kw):
        return subprocess.run([sys.executable, "-m", "podman_sandbox", "execute", *args],
                              cwd=cli.project, env=env, capture_output=True, timeout=120, **kw)

    data = bytes(range(256)) * 4096
    done = execute("cat; printf 'e\\000r' >&2; exit 3", input=data)
    assert (done.returncode, done.stdout, done.stderr) == (3, data, b"e\x00r")
    assert execute("wc -c", stdin=subprocess.DEVNULL).stdout.strip() == b"0"
    timed = execute("--timeout", "1", "sleep 300 & (setsid sleep 301 &); sleep 302",
                    stdin=subprocess.DEVNULL)
    assert timed.returncode == 124 and b"timed out after 1s" in timed.stderr
    assert "sleep 30" not in _processes(rest_api)
    proc = subprocess.Popen([sys.executable, "-m", "podman_sandbox", "execute",
                             "echo started; sleep 304"], cwd=cli.project, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"started\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert "sleep 304" not in _processes(rest_api)
    assert "exec" not in rest_api.calls()[before:]  # no podman exec: the REST API served


def _read_until(fd: int, want: bytes, seen: bytearray, timeout: float = 60, start: int = 0) -> bytes:
    """Read the pty's master side into seen until want shows up after seen[start:] (a
    condition, not a sleep)."""
    import select
    deadline = time.monotonic() + timeout
    while want not in seen[start:]:
        left = deadline - time.monotonic()
        assert left > 0, f"{want!r} never came; the terminal showed {bytes(seen)!r}"
        if select.select([fd], [], [], min(left, 1))[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the slave side closed: nothing more will come
                break
    return bytes(seen)


def test_cli_execute_at_a_terminal_goes_through_rest(rest_api):
    """`execute -i` at a real pseudo-terminal, over the REST API: the command sees a
    terminal of our size (and the new one after a resize), keys reach it, its exit code
    comes back, and our terminal's mode is what it was, after the end and a timeout."""
    import fcntl
    import pty
    import struct
    import termios

    cli = rest_api.cli
    env = dict(cli.env, PODMAN_SANDBOX_REST_SOCKET=os.environ["PODMAN_SANDBOX_REST_SOCKET"],
               PATH=os.environ["PATH"])
    env.pop("PODMAN_SANDBOX_REST", None)
    master, slave = pty.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        mode = termios.tcgetattr(slave)
        before = len(rest_api.calls())

        def execute(*args: str) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-m", "podman_sandbox", "execute", "-i", *args],
                                    cwd=cli.project, env=env, stdin=slave, stdout=slave,
                                    stderr=slave, start_new_session=True)

        proc = execute('test -t 0 && test -t 1 && echo IS-A-TTY; stty size; '
                       'while read l; do [ "$l" = end ] && exit 7; stty size; done')
        seen = bytearray()
        _read_until(master, b"33 101", seen)
        assert b"IS-A-TTY" in seen
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        proc.send_signal(signal.SIGWINCH)  # what the kernel sends a terminal's foreground
        deadline = time.monotonic() + 30
        while b"40 120" not in seen:  # each line asks for the size again, until it is new
            assert time.monotonic() < deadline, bytes(seen)
            mark = len(seen)
            os.write(master, b"\r")
            _read_until(master, b"\n", seen, start=mark)
        os.write(master, b"end\r")
        assert proc.wait(timeout=60) == 7
        assert termios.tcgetattr(slave) == mode  # raw mode undone

        # Ctrl-C is a key like any other: the terminal inside makes it SIGINT for the command.
        keyed = execute("echo READY; sleep 306; echo NOT-INTERRUPTED")
        seen = bytearray()
        _read_until(master, b"READY", seen)
        os.write(master, b"\x03")
        assert keyed.wait(timeout=60) == 130  # not 306 s later: the sleep was interrupted
        assert termios.tcgetattr(slave) == mode

        timed = execute("--timeout", "1", "sleep 305")
        assert timed.wait(timeout=60) == 124
        assert termios.tcgetattr(slave) == mode
        assert "sleep 305" not in _processes(rest_api)
        assert "exec" not in rest_api.calls()[before:]  # no podman exec: the REST API served
    finally:
        os.close(master)
        os.close(slave)

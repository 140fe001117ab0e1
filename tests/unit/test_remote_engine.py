"""A remote Podman engine, the pure parts: the argv prefix, the workspace rule, the
limits read inside, and that nothing looks at this host's /proc for a remote sandbox."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import pytest

from podman_sandbox.engine import connection, execute, remote, stopping
from podman_sandbox.errors import RefusedError


@pytest.fixture(autouse=True)
def local_engine(monkeypatch):
    for var in (connection.HOST_ENV, connection.CONNECTION_ENV, remote.WORKSPACE_ENV):
        monkeypatch.delenv(var, raising=False)
    connection.choose(None)
    yield
    connection.choose(None)


def test_the_prefix_is_podman_alone_locally_and_names_the_connection_when_chosen():
    assert connection.argv("/usr/bin/podman") == ["/usr/bin/podman"] and not connection.is_remote()
    connection.choose("big-box")
    assert connection.argv("/usr/bin/podman") == ["/usr/bin/podman", "--connection", "big-box"]
    assert connection.is_remote() and connection.describe() == "remote Podman (connection big-box)"
    assert execute.exec_argv("c", "true", workdir="/workspace", tag="t", tty=False,
                             podman="podman")[:4] == ["podman", "--connection", "big-box", "exec"]


@pytest.mark.parametrize("var", [connection.HOST_ENV, connection.CONNECTION_ENV])
def test_podmans_own_variables_make_the_engine_remote(monkeypatch, var):
    monkeypatch.setenv(var, "ssh://core@box/run/podman/podman.sock")
    assert connection.is_remote() and var in connection.describe()
    assert connection.options() == []  # podman reads its own variable


def spec(mounts=()):
    return SimpleNamespace(mounts=tuple(mounts), project_dir="/home/me/proj")


def test_a_remote_engine_without_a_server_folder_is_refused_naming_both_ways(monkeypatch):
    remote.check_spec(spec())  # local: nothing to say
    monkeypatch.setenv(connection.HOST_ENV, "tcp://box:8888")
    with pytest.raises(RefusedError) as exc:
        remote.check_spec(spec())
    assert "--remote-workspace" in exc.value.hint and "CONTAINER_HOST" in exc.value.hint
    assert remote.workspace_source("/home/me/proj") == "/home/me/proj"


@pytest.mark.parametrize("path", ["relative/dir", "/", "/a:b"])
def test_a_bad_server_folder_is_refused(monkeypatch, path):
    monkeypatch.setenv(connection.HOST_ENV, "tcp://box:8888")
    monkeypatch.setenv(remote.WORKSPACE_ENV, path)
    with pytest.raises(RefusedError):
        remote.check_spec(spec())


def test_the_server_folder_is_mounted_and_extra_host_mounts_are_refused(monkeypatch):
    monkeypatch.setenv(remote.WORKSPACE_ENV, "/srv/proj")
    assert remote.workspace_source("/home/me/proj") == "/home/me/proj"  # local: ignored
    monkeypatch.setenv(connection.HOST_ENV, "tcp://box:8888")
    assert remote.workspace_source("/home/me/proj") == "/srv/proj"
    remote.check_spec(spec())
    with pytest.raises(RefusedError, match="mounts"):
        remote.check_spec(spec(mounts=[object()]))


@pytest.mark.parametrize("text, expected", [
    ("67108864\n50000 100000\n", (True, 64 << 20, 0.5)),
    ("9223372036854771712\n-1 100000\n", (True, None, 0.0)),
    ("max\nmax 100000\n", (True, None, 0.0)),
    ("100663296\n200000 100000\n", (True, 96 << 20, 2.0)),
    ("", (False, None, None)),
    ("garbage\n1 2\n", (False, None, None)),
])
def test_limits_read_inside_the_sandbox(text, expected):
    assert remote.parse_limits(text) == expected


def test_the_fast_path_never_serves_a_remote_engine(monkeypatch):
    from podman_sandbox import fastpath
    from podman_sandbox.engine import record

    def no_lookup(*_):
        raise AssertionError("a remote sandbox must not be served from a local record")

    monkeypatch.setattr(record, "lookup", no_lookup)
    monkeypatch.setenv(connection.HOST_ENV, "unix:///run/other.sock")
    assert fastpath.serve(["execute", "true"]) is None
    assert fastpath.serve(["apply"]) is None
    monkeypatch.delenv(connection.HOST_ENV)
    assert fastpath.serve(["--connection", "box", "execute", "true"]) is None


def test_a_remote_stop_asks_the_sandbox_in_its_own_clock(monkeypatch):
    monkeypatch.setenv(connection.HOST_ENV, "unix:///run/other.sock")
    calls = []
    monkeypatch.setattr(stopping, "stop", lambda *a: (_ for _ in ()).throw(
        AssertionError("this host's /proc must not be scanned for a remote sandbox")))
    monkeypatch.setattr(stopping, "from_inside",
                        lambda scope, container, sig, podman, since=None: calls.append(since) or True)
    ex = execute._Exec("ctr", "tag", None, "podman")
    _, found, left = execute._end_all(ex, signal.SIGTERM)
    assert found and left == set()
    assert len(calls) == 1 and calls[0].startswith("-") and int(calls[0][1:]) >= 1


def test_a_remote_execute_never_reads_a_server_pid_in_our_proc(monkeypatch):
    from podman_sandbox.engine import cgroup

    monkeypatch.setenv(connection.HOST_ENV, "unix:///run/other.sock")
    monkeypatch.setattr(cgroup, "oom_kills", lambda pid: (_ for _ in ()).throw(
        AssertionError(f"read /proc/{pid} for a remote sandbox")))
    monkeypatch.setattr(execute.os, "posix_spawnp", lambda *a, **k: 4242)
    monkeypatch.setattr(execute.os, "waitpid", lambda pid, flags: (pid, 0))
    monkeypatch.setattr(execute, "start_time", lambda *a, **k: None)
    assert execute.run("ctr", "true", workdir="/workspace", init_pid=1) == 0


def test_a_checked_in_spec_cannot_choose_the_server_folder(tmp_path):
    """The server folder mounted read-write is the user's setting (--remote-workspace, the
    variable), never a field of sandbox.yaml, which a cloned repository brings along."""
    from podman_sandbox.errors import SpecError
    from podman_sandbox.schema.source import load_spec
    from podman_sandbox.locate import locate

    (tmp_path / "sandbox.yaml").write_text("image: localhost/x:1\nremote_workspace: /\n")
    with pytest.raises(SpecError) as exc:
        load_spec(locate(str(tmp_path / "sandbox.yaml")))
    assert "remote_workspace" in str(exc.value.problems)


# A remote podman client: `exec` ends with EXEC_CODE (125 is what Podman 4.3's remote
# client says when the container is removed under it); `container inspect` answers as the
# engine would: INSPECT is the init's pid, or "missing" for a removed container.
FAKE_REMOTE_PODMAN = """\
#!{python}
import os, sys
args = sys.argv[1:]
with open(os.environ["CALLS"], "a") as fh:
    fh.write(" ".join(args) + "\\n")
if "inspect" in args:
    answer = os.environ["INSPECT"]
    if answer == "missing":
        sys.stderr.write("Error: no such container ctr\\n")
        sys.exit(125)
    print(answer)
    sys.exit(0)
sys.exit(int(os.environ["EXEC_CODE"]))
"""


@pytest.fixture
def remote_podman(tmp_path, monkeypatch):
    path = tmp_path / "podman"
    path.write_text(FAKE_REMOTE_PODMAN.format(python=__import__("sys").executable))
    path.chmod(0o755)
    calls = tmp_path / "calls"
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setenv(connection.HOST_ENV, "tcp://192.0.2.1:8080")
    monkeypatch.setattr(execute, "start_time", lambda *a, **k: None)  # never a server pid here
    return str(path), calls


@pytest.mark.parametrize("inspect, code", [("missing", 125), ("0", 137), ("777", 255)])
def test_a_remote_sandbox_gone_under_the_command_is_told_by_the_engine(remote_podman, monkeypatch,
                                                                      capfd, inspect, code):
    """Removed (no such container), stopped (no init) or replaced (another init's pid):
    the engine's inspect says so, and our 125 and line tell it from the command's code."""
    podman, calls = remote_podman
    monkeypatch.setenv("INSPECT", inspect)
    monkeypatch.setenv("EXEC_CODE", str(code))
    assert execute.run("ctr", "sleep 60", workdir="/workspace", init_pid=4242, podman=podman) == 125
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "was stopped or removed while the command ran" in err, err
    asked = [line for line in calls.read_text().splitlines() if "inspect" in line]
    assert asked and asked[0].endswith("ctr") and asked[0].startswith("container inspect")


def test_a_remote_command_exiting_125_itself_keeps_its_code(remote_podman, monkeypatch, capfd):
    podman, calls = remote_podman
    monkeypatch.setenv("INSPECT", "4242")  # the same init, still running
    monkeypatch.setenv("EXEC_CODE", "125")
    monkeypatch.setattr(execute, "GONE_WAIT_SECONDS", 0.2)
    assert execute.run("ctr", "exit 125", workdir="/workspace", init_pid=4242, podman=podman) == 125
    assert capfd.readouterr().err == ""


def test_a_remote_command_failing_otherwise_costs_no_call_to_the_engine(remote_podman, monkeypatch):
    podman, calls = remote_podman
    monkeypatch.setenv("INSPECT", "missing")
    monkeypatch.setenv("EXEC_CODE", "3")
    assert execute.run("ctr", "exit 3", workdir="/workspace", init_pid=4242, podman=podman) == 3
    assert [line for line in calls.read_text().splitlines() if "inspect" in line] == []


class _InfoRunner:
    """Answers `podman info` with one fixed result."""

    def __init__(self, returncode: int, stdout: str, stderr: str = ""):
        self.result = SimpleNamespace(returncode=returncode, stdout=stdout, stderr=stderr)

    def run(self, argv, **_kw):
        assert argv[:2] == ["podman", "info"]
        return self.result


@pytest.mark.parametrize("returncode,stdout,stderr", [
    (125, "", "Error: unable to connect to Podman socket: connection refused\n"),
    (0, "not json", ""),
    (0, "[]", ""),
])
def test_an_engine_whose_info_fails_is_an_error_not_a_rootful_guess(monkeypatch, returncode,
                                                                   stdout, stderr):
    from podman_sandbox.errors import PodmanError
    monkeypatch.setattr(remote, "_info", None)
    with pytest.raises(PodmanError) as err:
        remote.engine_info(_InfoRunner(returncode, stdout, stderr))
    assert "podman info failed on the engine" in str(err.value)
    assert remote._info is None  # nothing cached: the next call asks again


def test_an_engine_info_is_read(monkeypatch):
    monkeypatch.setattr(remote, "_info", None)
    answer = ('{"host": {"serviceIsRemote": true, "hostname": "box", "cgroupVersion": "v1",'
              ' "security": {"rootless": true}}}')
    info = remote.engine_info(_InfoRunner(0, answer))
    assert info == {"remote": True, "rootless": True, "cgroup": "v1", "host": "box"}
    assert remote.rootless_cgroup_v1()

"""doctor on a remote engine, with a scripted runner: it names the engine, reports what
the server's `podman info` says, and does not judge the server by this machine's files."""

from __future__ import annotations

import io
import json

import pytest

from fake_runner import CATATONIT_VERSION
from podman_sandbox.engine import connection, doctor, failures, host
from podman_sandbox.engine.runner import Result

URL = "tcp://192.0.2.7:8790"
SERVER_INFO = {"host": {"cgroupVersion": "v2", "ociRuntime": {"name": "crun"}, "hostname": "bigbox",
                        "security": {"rootless": True}, "idMappings": {"uidmap": None},
                        "serviceIsRemote": True},
               "store": {"graphDriverName": "overlay", "graphStatus": {}},
               "version": {"Version": "5.4.2"}}
RLIMITS = ("Error: runc: runc create failed: unable to start container process: error during "
           "container init: error setting rlimits for ready process: error setting rlimit type 7: "
           "operation not permitted: OCI permission denied\n")


class Scripted:
    def __init__(self, probe=None, info=(0, json.dumps(SERVER_INFO), "")):
        self.probe = probe or (lambda argv: (0, f"{doctor.PROBE_MARK}\n{doctor.PROBE_MEMORY}\n", ""))
        self.info = info
        self.calls: list[tuple[list[str], dict | None]] = []

    def executable(self) -> str:
        return "/usr/bin/podman"

    def run(self, argv, *, what, check=True, stream=False, input=None, env=None):
        self.calls.append((list(argv), env))
        sub = argv[1]
        answer = {"--version": (0, "podman version 4.3.1\n", ""), "info": self.info,
                  "import": (0, "sha256:abc\n", "")}.get(sub)
        if sub == "run":
            answer = (0, CATATONIT_VERSION, "") if argv[-1] == "--version" else self.probe(argv)
        return Result(argv, *(answer or (0, "", "")))


@pytest.fixture(autouse=True)
def remote_engine(monkeypatch):
    import podman_sandbox.localimage as li
    monkeypatch.setattr(li, "find_static_busybox", lambda: "/bin/busybox")
    monkeypatch.setattr(li, "build_rootfs_tar", lambda busybox, path: open(path, "wb").close())
    monkeypatch.delenv(connection.CONNECTION_ENV, raising=False)
    monkeypatch.setenv(connection.HOST_ENV, URL)
    connection.choose(None)
    # This machine's files must not be read for the server's checks.
    for name in ("subid_problem", "idmap_tools_problem", "runtime_dir_problem", "tun_problem"):
        monkeypatch.setattr(host, name, lambda *a, _n=name, **k: pytest.fail(f"host.{_n} asked"))
    monkeypatch.setattr(doctor, "cgroup_layout", lambda: pytest.fail("this host's cgroups asked"))
    monkeypatch.setattr(doctor.Doctor, "check_selinux", lambda self: pytest.fail("SELinux asked"))


def run_doctor(runner) -> tuple[bool, str]:
    stream = io.StringIO()
    local = failures.Host(user="me", uid=1000, rootless=True)  # this machine: rootless too
    report = doctor.Doctor(runner, host=local).check()
    report.write(stream)
    return report.failed, stream.getvalue()


def test_it_names_the_engine_and_reports_the_servers_answers():
    runner = Scripted()
    failed, text = run_doctor(runner)
    assert not failed, text
    lines = text.splitlines()
    assert lines[0] == f"ok    engine checked: remote Podman (CONTAINER_HOST={URL})"
    assert "ok    podman client 4.3.1 (/usr/bin/podman)" in text
    assert ("ok    the server bigbox (Podman 5.4.2) answers: podman works: rootless, cgroups v2, "
            "runtime crun, storage overlay") in text
    assert "skip  not checked on a remote engine: the server's rootless prerequisites" in text
    assert "disk limits" not in text  # this machine's mount options say nothing of the server's
    assert "a probe container runs on the engine with the sandbox's options" in text
    probe = next(argv for argv, _ in runner.calls if argv[1] == "run")
    # No mount: a bind would resolve on the server (the template's --workdir is no mount).
    assert "--volume" not in probe and not any(":/workspace" in arg for arg in probe)
    assert "echo probe > /workspace/probe" not in " ".join(probe)
    assert "--memory" in probe and "--init" in probe


def test_the_servers_rootless_cgroup_v1_is_told_from_its_info():
    info = json.loads(json.dumps(SERVER_INFO))
    info["host"]["cgroupVersion"] = "v1"
    failed, text = run_doctor(Scripted(info=(0, json.dumps(info), "")))
    assert not failed
    assert "found: the server's podman info" in text


def test_a_known_failure_on_the_server_is_not_fixed_with_a_file_of_this_machine():
    runner = Scripted(probe=lambda argv: (126, "", RLIMITS))
    failed, text = run_doctor(runner)
    assert failed
    assert "FAIL  Podman's default rlimits" in text
    assert "the fix is for the server" in text
    assert [env for argv, env in runner.calls if argv[1] == "run" and env] == []  # no trial here


def test_an_engine_that_does_not_answer_is_named():
    runner = Scripted(info=(125, "", "Error: unable to connect to Podman socket: dial tcp "
                                     "192.0.2.7:8790: connect: connection refused\n"))
    failed, text = run_doctor(runner)
    assert failed
    assert f"FAIL  `podman info` fails on remote Podman (CONTAINER_HOST={URL}): " in text
    assert "connection refused" in text

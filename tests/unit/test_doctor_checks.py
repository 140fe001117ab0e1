"""doctor without Podman: the recognisers on recorded Podman output, and the checks
driven by a scripted runner (what each podman command answers)."""

from __future__ import annotations

import copy
import io
import json
import os

import pytest

from fake_runner import CATATONIT_VERSION
from podman_sandbox.engine import doctor, failures
from podman_sandbox.engine.runner import Result
from podman_sandbox.errors import PodmanMissingError

# Recorded from Podman 4.3.1 on Debian 12 (runc, cgroup v1 hybrid), unless noted.
RECORDED = {
    # crun on this host (ENVIRONMENT.md)
    "crun-hybrid": "Error: crun: cgroups in hybrid mode not supported, drop all controllers from "
                   "cgroupv2: OCI runtime error\n",
    # crun's wording of the rlimit failure (ENVIRONMENT.md)
    "rlimits-crun": "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied\n",
    # runc, CONTAINERS_CONF unset
    "rlimits": "Error: runc: runc create failed: unable to start container process: error during "
               "container init: error setting rlimits for ready process: error setting rlimit type 7: "
               "operation not permitted: OCI permission denied\n",
    # rootless user made with useradd -K SUB_UID_COUNT=0: podman info
    "no-subuid": 'time="2026-11-26T11:27:13Z" level=warning msg="\\"/\\" is not a shared mount, this '
                 'could cause issues or missing mounts with rootless containers"\n'
                 'time="2026-11-26T11:27:13Z" level=error msg="cannot find UID/GID for user me4nosub: '
                 'no subuid ranges found for user \\"me4nosub\\" in /etc/subuid - check rootless mode '
                 'in man pages."\n'
                 'time="2026-11-26T11:27:13Z" level=warning msg="Using rootless single mapping into the '
                 'namespace. This might break some images. Check /etc/subuid and /etc/subgid for adding '
                 'sub*ids if not using a network user"\n',
    # the same user, podman import of a layer owned by uid 1002
    "insufficient-ids": 'Error: writing blob: adding layer with blob "sha256:220960f46b49": ApplyLayer '
                        'stdout:  stderr: potentially insufficient UIDs or GIDs available in user '
                        'namespace (requested 1002:1002 for /bin): Check /etc/subuid and /etc/subgid if '
                        'configured locally and run podman-system-migrate: lchown /bin: invalid argument '
                        'exit status 1\n',
    # containers/podman pkg/rootless wording when the helper is not installed
    "newuidmap": 'Error: command required for rootless mode with multiple IDs: exec: "newuidmap": '
                 'executable file not found in $PATH\n',
    # rootless, podman run --memory 64m on cgroup v1
    "cgroup-v1-rootless": "Resource limits are not supported and ignored on cgroups V1 rootless systems\n",
    # rootless, default network, /dev/net/tun mode 0600 root
    "tun": 'Error: /usr/bin/slirp4netns failed: "open(\\"/dev/net/tun\\"): Permission denied\\n'
           'WARNING: Support for seccomp is experimental\\nWARNING: Support for IPv6 is experimental\\n'
           'child failed(1)\\n"\n',
    # rootless, XDG_RUNTIME_DIR a folder of root's
    "xdg-owner": 'time="2026-11-26T11:27:26Z" level=error msg="XDG_RUNTIME_DIR directory '
                 '\\"/tmp/me4/rootowned\\" is not owned by the current user"\n',
    # rootless, XDG_RUNTIME_DIR=/run/user/1002 that does not exist
    "xdg-missing": 'the path in $XDG_RUNTIME_DIR must be writable by the user\n'
                   'time="2026-11-26T11:27:28Z" level=error msg="mkdir /run/user/1002: permission denied"\n'
                   'Error: runc: time="2026-11-26T11:27:28Z" level=error msg="mkdir /run/user/1002: '
                   'permission denied": OCI permission denied\n',
    # storage.conf driver changed after storage was made with vfs
    "storage-mismatch": 'time="2026-11-26T11:27:31Z" level=error msg="User-selected graph driver '
                        '\\"overlay\\" overwritten by graph driver \\"vfs\\" from database - delete libpod '
                        'local files to resolve.  May prevent use of images created by other tools"\n',
    # driver = "btrfs" on ext4; overlay with a missing mount_program
    "storage-btrfs": 'Error: "/tmp/me4/st-btrfs/g/btrfs" is not on a btrfs filesystem: prerequisites '
                     'for driver not satisfied (wrong filesystem?)\n',
    "storage-fuse": 'Error: overlay: can\'t stat program "/nonexistent/fuse-overlayfs": stat '
                    '/nonexistent/fuse-overlayfs: no such file or directory\n',
    # Podman 5.4.2 (Debian 13), rootless, default network, passt not installed
    "pasta": 'Error: could not find pasta, the network namespace can\'t be configured: exec: "pasta": '
             'executable file not found in $PATH\n',
    # Podman 5.4.2 (Debian 13) as root on cgroup v1, any command
    "cgroup-v1-deprecated": 'time="2026-12-01T15:57:30Z" level=warning msg="Using cgroups-v1 which is '
                            'deprecated in favor of cgroups-v2 with Podman v5 and will be removed in a '
                            'future version. Set environment variable `PODMAN_IGNORE_CGROUPSV1_WARNING` '
                            'to hide this warning."\n',
    # CONTAINERS_CONF=/nonexist.conf podman info
    "containers-conf": 'time="2026-11-26T11:28:05Z" level=error msg="finding config on system: '
                       'CONTAINERS_CONF file: stat /nonexist.conf: no such file or directory"\n',
}

EXPECTED = {
    "crun-hybrid": ["crun-hybrid"],
    "rlimits-crun": ["rlimits"],
    "rlimits": ["rlimits"],
    "no-subuid": ["no-subuid", "shared-mount"],
    "insufficient-ids": ["no-subuid"],
    "newuidmap": ["newuidmap"],
    "cgroup-v1-rootless": ["cgroup-v1-rootless"],
    "tun": ["tun"],
    "xdg-owner": ["xdg-runtime-dir"],
    "xdg-missing": ["xdg-runtime-dir"],
    "storage-mismatch": ["storage-mismatch"],
    "storage-btrfs": ["storage-driver"],
    "storage-fuse": ["storage-driver"],
    "containers-conf": ["containers-conf"],
    "pasta": ["pasta"],
    "cgroup-v1-deprecated": ["cgroup-v1-deprecated"],
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recognises_recorded_failures(name):
    assert sorted(k.key for k in failures.recognise(RECORDED[name])) == sorted(EXPECTED[name])


def test_recognises_nothing_in_healthy_or_unrelated_output():
    assert failures.recognise("") == []
    assert failures.recognise("Error: no such object: \"sandbox-x\"\n") == []
    assert failures.recognise("Error: initializing source docker://example.invalid/x:1: no such host\n") == []


def test_every_known_failure_has_a_fix_naming_something_to_do():
    host = failures.Host(user="alice", uid=1000, rootless=True,
                         user_conf="/home/alice/.config/containers/containers.conf")
    for k in failures.KNOWN:
        fix = k.fix(host)
        assert k.level in (failures.FAIL, failures.WARN)
        assert len(fix) > 20, k.key
    assert "usermod --add-subuids" in failures.known("no-subuid").fix(host)
    assert "alice" in failures.known("no-subuid").fix(host)
    assert "/home/alice/.config/containers/containers.conf" in failures.known("rlimits").fix(host)
    assert "install runc" in failures.known("crun-hybrid").fix(failures.Host(runc=False))
    assert "install runc" not in failures.known("crun-hybrid").fix(failures.Host(runc=True))
    assert "CONTAINERS_CONF" in failures.known("rlimits").fix(failures.Host(conf_env="/tmp/x.conf"))


def test_podman_reason_picks_the_error_line():
    assert failures.podman_reason(RECORDED["rlimits"]).startswith("runc: runc create failed")
    assert failures.podman_reason(RECORDED["xdg-owner"]) == \
        'XDG_RUNTIME_DIR directory "/tmp/me4/rootowned" is not owned by the current user'
    assert failures.podman_reason("") == "no error output"
    # A helper's output quoted with escaped newlines: its first line only.
    assert failures.podman_reason(RECORDED["tun"]) == \
        '/usr/bin/slirp4netns failed: "open(\\"/dev/net/tun\\"): Permission denied'
    # A logged error beats a later warning; with no error at all, the last line.
    assert failures.podman_reason(RECORDED["no-subuid"]).startswith("cannot find UID/GID for user me4nosub")
    assert failures.podman_reason("some output\nthe last line\n") == "the last line"


@pytest.mark.parametrize("stderr, key", [
    (RECORDED["crun-hybrid"], "crun-hybrid"),
    (RECORDED["rlimits-crun"], "rlimits"),
    (RECORDED["rlimits"], "rlimits"),
    ("Error: initializing source docker://example.invalid/x:1: no such host\n", "registry"),
    ('Error: short-name "alpine" did not resolve to an alias\n', "short-name"),
    ("Error: initializing source docker://docker.io/library/alpine:no: reading manifest no in "
     "docker.io/library/alpine: manifest unknown\n", "registry"),  # the first entry with a hint wins
    ("Error: reading manifest no: manifest unknown\n", "manifest-unknown"),
    (RECORDED["tun"], "tun"),  # not slirp4netns: the cause, with its fix
    ('Error: slirp4netns failed: "child failed(1)"\n', "slirp4netns"),
    (RECORDED["pasta"], "pasta"),
    ("Error: runroot must be set\n", "runroot"),
])
def test_a_failed_podman_command_gets_the_hint_of_its_failure(stderr, key):
    hint = failures.hint_for(stderr)
    assert hint and hint == next(k.hint for k in failures.CATALOGUE if k.key == key)


def test_failures_without_a_one_line_hint_get_none():
    assert failures.hint_for("") is None
    assert failures.hint_for("Error: no such object: \"sandbox-x\"\n") is None
    assert failures.hint_for(RECORDED["xdg-owner"]) is None  # doctor explains it; no runner hint today


def test_containers_conf_holds_the_fix_for_each_quirk(monkeypatch):
    limits = {failures.resource.RLIMIT_NOFILE: (1024, 20000),
              failures.resource.RLIMIT_NPROC: (1024, failures.resource.RLIM_INFINITY)}
    monkeypatch.setattr(failures.resource, "getrlimit", lambda which: limits[which])
    text = failures.containers_conf(["rlimits", "crun-hybrid"])
    assert text == ('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
                    '[engine]\nruntime = "runc"\n')
    assert failures.containers_conf(["crun-hybrid"]) == '[engine]\nruntime = "runc"\n'


def test_parse_version():
    assert doctor.parse_version("podman version 4.3.1\n") == (4, 3, 1)
    assert doctor.parse_version("podman version 3.4\n") == (3, 4)
    assert doctor.parse_version("nothing") is None


# ------------------------------------------------------------------ scripted runner

INFO = {"host": {"cgroupVersion": "v2", "ociRuntime": {"name": "runc"},
                 "security": {"rootless": False}, "idMappings": {"uidmap": None}},
        # zfs: a store that enforces `disk:` (overlay on ext4 gets a warning, tested below)
        "store": {"graphDriverName": "zfs", "graphStatus": {}}}


class Scripted:
    """Answers podman commands from a function of (argv, env); records them."""

    def __init__(self, answer, missing: bool = False):
        self.answer = answer
        self.missing = missing
        self.calls: list[tuple[list[str], dict | None]] = []

    def executable(self) -> str:
        if self.missing:
            raise PodmanMissingError("podman is not installed (not found on PATH)", hint="install it")
        return "/usr/bin/podman"

    def run(self, argv, *, what, check=True, stream=False, input=None, env=None):
        self.calls.append((list(argv), env))
        code, out, err = self.answer(argv, env)
        return Result(argv, code, out, err)

    def subcommands(self) -> list[str]:
        return [argv[1] for argv, _ in self.calls]


def probe_output(memory: str = str(doctor.PROBE_MEMORY)) -> str:
    return f"{doctor.PROBE_MARK}\n{memory}\n"


def wrote_probe(argv, output: str | None = None):
    """What a probe container that works does: write /workspace/probe, print its report."""
    workspace = argv[argv.index("--volume") + 1].split(":")[0]
    with open(os.path.join(workspace, "probe"), "w") as fh:
        fh.write("probe\n")
    return 0, output if output is not None else probe_output(), ""


def healthy(argv, env, *, run=None):
    sub = argv[1]
    if sub == "--version":
        return 0, "podman version 4.3.1\n", ""
    if sub == "info":
        return 0, json.dumps(INFO), ""
    if sub == "import":
        return 0, "sha256:abc\n", ""
    if sub == "run" and argv[-1] == "--version":  # the idle check: Podman's init
        return 0, CATATONIT_VERSION, ""
    if sub == "run":
        return run(argv, env) if run else wrote_probe(argv)
    return 0, "", ""


def run_doctor(runner, **kw) -> tuple[int, str]:
    stream = io.StringIO()
    host = failures.Host(user="root", uid=0, rootless=False)
    report = doctor.Doctor(runner, host=host, **kw).check()
    report.write(stream)
    return (doctor.EXIT_PODMAN_MISSING if report.failed else 0), stream.getvalue()


@pytest.fixture(autouse=True)
def static_busybox(monkeypatch):
    """The probe image is 'built' through the scripted runner (podman import)."""
    import podman_sandbox.localimage as li
    monkeypatch.setattr(li, "find_static_busybox", lambda: "/bin/busybox")
    monkeypatch.setattr(li, "build_rootfs_tar", lambda busybox, path: open(path, "wb").close())


def test_healthy_host_passes_and_removes_its_probe_image():
    runner = Scripted(healthy)
    code, text = run_doctor(runner)
    assert code == 0, text
    assert "ok    podman 4.3.1" in text
    assert "a probe container runs" in text and "memory limits are enforced" in text
    assert text.rstrip().endswith("Sandboxes work here.")
    run_argv = next(a for a, _ in runner.calls if a[1] == "run")
    for flag in ("--init", "no-new-privileges", "--pids-limit", "--memory", "--rm"):
        assert flag in run_argv
    imported = next(a for a, _ in runner.calls if a[1] == "import")[-1]
    assert ["podman", "rmi", "--force", imported] in [a for a, _ in runner.calls]


def test_podman_missing_is_one_failure_and_exit_122():
    stream = io.StringIO()
    runner = Scripted(healthy, missing=True)
    code = doctor.run(runner, None, stream=stream)
    assert code == 122
    assert "FAIL  podman is not installed" in stream.getvalue()
    assert runner.calls == []


def rlimit_host(argv, env):
    """Runs only with a CONTAINERS_CONF that sets default_ulimits (and runtime runc if crun_too)."""
    conf = ""
    if env and env.get("CONTAINERS_CONF"):
        with open(env["CONTAINERS_CONF"]) as fh:
            conf = fh.read()
    if "default_ulimits" not in conf:
        return 126, "", RECORDED["rlimits"]
    return wrote_probe(argv)


def test_unconfigured_host_names_the_rlimit_fix_and_checks_it(monkeypatch):
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    runner = Scripted(lambda a, e: healthy(a, e, run=rlimit_host))
    code, text = run_doctor(runner)
    assert code == 122, text
    assert "FAIL  Podman's default rlimits" in text
    assert "default_ulimits = [" in text
    assert "checked: a probe container runs with exactly this containers.conf" in text
    trials = [e for a, e in runner.calls if a[1] == "run" and e]
    assert len(trials) == 1 and "CONTAINERS_CONF" in trials[0]
    assert not os.path.exists(trials[0]["CONTAINERS_CONF"])  # the trial file is gone
    assert "Sandboxes cannot work here yet: 1 problem. Fix them" in text


def fix_lines(text: str) -> list[str]:
    """The fix of the first finding that has one: its 'fix:' line and the lines under it."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("      fix: "))
    out = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("        "):
            break
        out.append(line.strip())
    return out


def test_rootful_fix_offers_the_machine_file_and_containers_conf_saying_for_whom(monkeypatch):
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    code, text = run_doctor(Scripted(lambda a, e: healthy(a, e, run=rlimit_host)))
    assert code == 122
    fix = fix_lines(text)
    assert fix[0].startswith("      fix: put the containers.conf lines below (they ask for limits "
                             "this host allows) in one of these")
    assert fix[1].startswith("/etc/containers/containers.conf, for every user of this machine")
    assert fix[2].startswith("a file of your own named by CONTAINERS_CONF (export CONTAINERS_CONF=FILE), "
                             "for the commands run with it set")
    assert "reads that file alone" in fix[2]
    # As root the per-user file would change nothing: said, not offered.
    assert fix[3].startswith("not /root/.config/containers/containers.conf: Podman run as root "
                             "reads no per-user file")
    assert len(fix) == 4
    assert "containers.conf:\n          [containers]" in text  # the lines follow


def test_rootless_fix_offers_the_users_own_file_first():
    host = failures.Host(user="alice", uid=1000, rootless=True,
                         user_conf="/home/alice/.config/containers/containers.conf")
    report = doctor.Report()
    report.add_known(failures.known("crun-hybrid"), host)
    stream = io.StringIO()
    report.write(stream)
    fix = fix_lines(stream.getvalue())
    assert "(they make Podman use runc instead of crun)" in fix[0]
    assert fix[1] == ("/home/alice/.config/containers/containers.conf, for you (alice) only: "
                      "your rootless Podman reads it")
    assert fix[2].startswith("/etc/containers/containers.conf, as root, for every user of this "
                             "machine")
    assert fix[3].startswith("a file of your own named by CONTAINERS_CONF")
    assert len(fix) == 4


def test_with_containers_conf_set_the_fix_names_that_file_alone(monkeypatch, tmp_path):
    conf = tmp_path / "mine.conf"
    conf.write_text("")
    monkeypatch.setenv("CONTAINERS_CONF", str(conf))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    host = doctor.host_facts()
    assert host.conf_env == str(conf)
    assert host.user_conf == str(tmp_path / "cfg" / "containers" / "containers.conf")
    fix = failures.known("rlimits").fix(host)
    assert fix == (f"put the containers.conf lines below (they ask for limits this host allows) "
                   f"in the file CONTAINERS_CONF names ({conf}): while it is set, Podman reads "
                   "that file alone")


def test_crun_then_rlimits_grow_one_fix_that_works(monkeypatch):
    def host(argv, env):
        conf = open(env["CONTAINERS_CONF"]).read() if env else ""
        if 'runtime = "runc"' not in conf:
            return 126, "", RECORDED["crun-hybrid"]
        if "default_ulimits" not in conf:
            return 126, "", RECORDED["rlimits-crun"]
        return wrote_probe(argv)

    runner = Scripted(lambda a, e: healthy(a, e, run=host))
    code, text = run_doctor(runner)
    assert code == 122
    assert "FAIL  crun, Podman's runtime here" in text and "FAIL  Podman's default rlimits" in text
    conf = [ln.strip() for ln in text.split("containers.conf:\n", 1)[1].splitlines()[:4]]
    assert conf[0] == "[containers]" and conf[1].startswith("default_ulimits = [")
    assert conf[2:] == ["[engine]", 'runtime = "runc"']
    assert "checked: a probe container runs" in text


def test_a_fix_that_does_not_work_is_said_so():
    runner = Scripted(lambda a, e: healthy(a, e, run=lambda a2, e2: (126, "", RECORDED["rlimits"])))
    code, text = run_doctor(runner)
    assert code == 122
    assert "not enough on its own" in text


def test_unknown_probe_failure_shows_podmans_reason():
    runner = Scripted(lambda a, e: healthy(a, e, run=lambda a2, e2: (125, "", "Error: something odd\n")))
    code, text = run_doctor(runner)
    assert code == 122
    assert "FAIL  a probe container cannot run: something odd" in text


def test_unknown_probe_failure_next_to_a_known_warning_still_fails():
    stderr = RECORDED["cgroup-v1-rootless"] + "Error: something odd\n"
    runner = Scripted(lambda a, e: healthy(a, e, run=lambda a2, e2: (125, "", stderr)))
    code, text = run_doctor(runner)
    assert code == 122
    assert "FAIL  a probe container cannot run: something odd" in text


def test_probe_that_cannot_write_its_workspace_fails():
    runner = Scripted(lambda a, e: healthy(a, e, run=lambda a2, e2: (0, probe_output(), "")))
    code, text = run_doctor(runner)
    assert code == 122
    assert "FAIL  the probe container could not write to its /workspace bind mount" in text


def test_info_failure_with_a_known_cause():
    def answer(argv, env):
        if argv[1] == "info":
            return 125, "", RECORDED["storage-btrfs"]
        return healthy(argv, env)

    runner = Scripted(answer)
    code, text = run_doctor(runner)
    assert code == 122
    assert "storage driver cannot work" in text and 'driver = "vfs"' in text
    assert "run" not in runner.subcommands()  # no probe when podman itself fails


def test_memory_limit_not_reaching_the_cgroup_is_a_warning():
    runner = Scripted(lambda a, e: healthy(a, e, run=lambda a2, e2: wrote_probe(a2, probe_output("9223372036854771712"))))
    code, text = run_doctor(runner)
    assert code == 0
    assert "warn  the memory limit did not reach the container's cgroup" in text


def test_old_podman_is_a_warning():
    def answer(argv, env):
        if argv[1] == "--version":
            return 0, "podman version 4.2.0\n", ""
        return healthy(argv, env)

    code, text = run_doctor(Scripted(answer))
    assert code == 0
    assert "warn  podman 4.2.0" in text and "podman update" in text


def test_given_image_is_used_and_not_removed():
    runner = Scripted(healthy)
    code, _ = run_doctor(runner, image="localhost/mine:1")
    assert code == 0
    assert "import" not in runner.subcommands() and "rmi" not in runner.subcommands()
    assert next(a for a, _ in runner.calls if a[1] == "run")[-3] == "localhost/mine:1"


def test_given_image_that_cannot_be_pulled_fails_clearly():
    def answer(argv, env):
        if argv[1:3] == ["image", "exists"]:
            return 1, "", ""
        if argv[1] == "pull":
            return 125, "", "Error: initializing source docker://example.invalid/x:1: no such host\n"
        return healthy(argv, env)

    code, text = run_doctor(Scripted(answer), image="example.invalid/x:1")
    assert code == 122
    assert "the probe image example.invalid/x:1 is not here and cannot be pulled" in text


def rootless_doctor(tmp_path, monkeypatch, *, subuid: str, runtime_dir: str | None,
                    tun: bool, info_uidmap=None, run=None, host_info=None):
    """Doctor as a rootless user on a cgroup v1 host, with the host's files faked in tmp_path."""
    from podman_sandbox.engine import host

    for kind in ("uid", "gid"):
        (tmp_path / f"sub{kind}").write_text(subuid)
    real_ranges = host.subid_ranges
    monkeypatch.setattr(host, "subid_ranges", lambda kind="uid", user=None, path=None:
                        real_ranges(kind, user, str(tmp_path / f"sub{kind}")))
    monkeypatch.setattr(host, "is_rootless", lambda: True)
    monkeypatch.setattr(host, "cgroup_version", lambda: 1)
    monkeypatch.setattr(doctor, "cgroup_layout", lambda: "v1 (hybrid)")
    tun_path = tmp_path / "tun"
    if tun:
        tun_path.write_text("")
    monkeypatch.setattr(host, "TUN_DEVICE", str(tun_path))
    if runtime_dir is None:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", runtime_dir)
    info = json.loads(json.dumps(INFO))
    info["host"]["security"]["rootless"] = True
    info["host"]["idMappings"]["uidmap"] = info_uidmap or [
        {"container_id": 0, "host_id": 1000, "size": 1},
        {"container_id": 1, "host_id": 100000, "size": 65536}]
    info["host"]["slirp4netns"] = {"executable": "/usr/bin/slirp4netns"}
    info["host"].update(host_info or {})
    info["store"]["graphDriverName"] = "vfs"

    def answer(argv, env):
        if argv[1] == "info":
            return 0, json.dumps(info), ""
        return healthy(argv, env, run=run)

    d = doctor.Doctor(Scripted(answer), host=failures.Host(user="alice", uid=os.getuid(), rootless=True))
    stream = io.StringIO()
    report = d.check()
    report.write(stream)
    return report, stream.getvalue()


def test_rootless_without_subuid_ranges(tmp_path, monkeypatch):
    report, text = rootless_doctor(tmp_path, monkeypatch, subuid="bob:100000:65536\n",
                                   runtime_dir=str(tmp_path), tun=True,
                                   info_uidmap=[{"container_id": 0, "host_id": 1000, "size": 1}])
    assert report.failed
    assert "FAIL  alice has no range of 65536 ids in /etc/subuid and /etc/subgid" in text
    assert "fix: (as root) usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice" in text
    assert "warn  rootless Podman on cgroup v1 ignores memory" in text
    assert "warn  storage driver vfs" in text


def test_rootless_ready_except_cgroup_v1_warns_only(tmp_path, monkeypatch):
    report, text = rootless_doctor(tmp_path, monkeypatch, subuid="alice:100000:65536\n",
                                   runtime_dir=str(tmp_path), tun=True)
    assert not report.failed, text
    assert "ok    subordinate uid and gid ranges for alice" in text
    assert "ignores memory, cpus and pids_limit" in text
    # On cgroup v1 rootless the probe's memory limit is not expected to hold.
    assert "did not reach the container's cgroup" not in text


def test_rootless_without_tun_fails_and_probes_without_network(tmp_path, monkeypatch):
    def run(argv, env):
        if "--network" not in argv:
            return 126, "", RECORDED["tun"]
        return wrote_probe(argv)

    report, text = rootless_doctor(tmp_path, monkeypatch, subuid="alice:100000:65536\n",
                                   runtime_dir=str(tmp_path), tun=False, run=run)
    assert report.failed
    assert "is not usable: the default network (bridge) cannot work" in text
    assert "network: none" in text
    assert "a probe container runs with the sandbox's options with --network none" in text


def test_rootless_runtime_dir_not_usable(tmp_path, monkeypatch):
    report, text = rootless_doctor(tmp_path, monkeypatch, subuid="alice:100000:65536\n",
                                   runtime_dir="/proc/1/nonexistent/run", tun=True)
    assert report.failed
    assert "FAIL  XDG_RUNTIME_DIR=/proc/1/nonexistent/run does not exist" in text
    assert "fix: log in as the user" in text


def test_rootless_runtime_dir_unset_is_a_warning(tmp_path, monkeypatch):
    report, text = rootless_doctor(tmp_path, monkeypatch, subuid="alice:100000:65536\n",
                                   runtime_dir=None, tun=True)
    assert not report.failed, text
    assert "warn  XDG_RUNTIME_DIR is not set" in text


def test_a_store_that_cannot_limit_disk_use_is_a_warning(monkeypatch):
    info = copy.deepcopy(INFO)
    info["store"] = {"graphDriverName": "overlay", "graphStatus": {"Backing Filesystem": "extfs"}}
    monkeypatch.setitem(globals(), "INFO", info)
    code, text = run_doctor(Scripted(healthy))
    assert code == 0, text
    assert "warn  disk limits (`disk:` in sandbox.yaml) are NOT enforced here" in text
    assert "overlay on extfs" in text


def test_disk_limit_support_by_driver_and_filesystem():
    from podman_sandbox.engine import disk
    assert disk.unsupported_reason("overlay", "xfs", {"rw", "prjquota"}) is None
    assert disk.unsupported_reason("zfs", "", set()) is None
    assert disk.unsupported_reason("btrfs", "", set())  # Podman 4.3: "unknown option size"
    assert "prjquota" in disk.unsupported_reason("overlay", "xfs", {"rw"})
    assert "overlay on extfs" in disk.unsupported_reason("overlay", "extfs", set())
    assert disk.unsupported_reason("vfs", "extfs", set())
    mountinfo = ("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                 "40 27 7:0 / /var/lib/containers rw - xfs /dev/loop0 rw,prjquota\n")
    assert "prjquota" in disk.mount_options("/var/lib/containers/storage", mountinfo)
    assert "prjquota" not in disk.mount_options("/home", mountinfo)


# Podman 5's podman info names its rootless network tool, pasta by default.
PODMAN5_PASTA = {"rootlessNetworkCmd": "pasta", "slirp4netns": {"executable": ""}}


def no_network_tools_on_path(monkeypatch):
    import shutil
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **kw:
                        None if name in ("slirp4netns", "pasta") else real(name, *a, **kw))


def test_rootless_podman5_with_pasta_needs_no_slirp4netns(tmp_path, monkeypatch):
    no_network_tools_on_path(monkeypatch)
    report, text = rootless_doctor(tmp_path, monkeypatch, subuid="alice:100000:65536\n",
                                   runtime_dir=str(tmp_path), tun=True,
                                   host_info=dict(PODMAN5_PASTA, pasta={"executable": "/usr/bin/pasta"}))
    assert not report.failed, text
    assert "slirp4netns" not in text


def test_rootless_podman5_without_pasta_names_passt(tmp_path, monkeypatch):
    no_network_tools_on_path(monkeypatch)

    def run(argv, env):
        if "--network" not in argv:
            return 127, "", RECORDED["pasta"]
        return wrote_probe(argv)

    report, text = rootless_doctor(tmp_path, monkeypatch, subuid="alice:100000:65536\n",
                                   runtime_dir=str(tmp_path), tun=True, run=run,
                                   host_info=dict(PODMAN5_PASTA, pasta={"executable": ""}))
    assert report.failed
    assert "pasta is not installed" in text
    assert "apt-get install passt" in text
    assert "a probe container runs with the sandbox's options with --network none" in text


def test_podman5_on_cgroup_v1_warns_once_and_passes():
    """Podman 5 prints its cgroup v1 warning on every command: doctor names it (once) and its
    fix, and sandboxes still work."""
    warning = RECORDED["cgroup-v1-deprecated"]

    def answer(argv, env):
        code, out, err = healthy(argv, env)
        return code, out, warning + err

    code, text = run_doctor(Scripted(answer))
    assert code == 0, text
    assert text.count("warn  Podman 5 warns on every command that cgroup v1") == 1
    assert "export PODMAN_IGNORE_CGROUPSV1_WARNING=1" in text


def test_the_probe_is_a_sandbox_from_the_create_template(tmp_path):
    """doctor's probe has exactly the options create gives a sandbox of the same spec
    (labels aside): run once with --rm and `sh -c` instead of sleeping."""
    from podman_sandbox.engine import steps
    from podman_sandbox.engine.desired import Desired
    from podman_sandbox.schema.spec import build_spec

    image = "localhost/probe/x:1"
    probe = ["podman", *doctor.Doctor.__new__(doctor.Doctor)._probe_argv(image, str(tmp_path), "none")]
    name = probe[probe.index("--name") + 1]
    spec = build_spec({"image": image, "name": name, "memory": "64m", "pids_limit": doctor.PROBE_PIDS,
                       "network": "none"}, project_dir=str(tmp_path), source="", mode="project")
    create = steps.create_command(Desired.from_spec(spec), name, image, "", start=True).argv

    def unlabelled(argv):
        return [a for i, a in enumerate(argv) if a != "--label" and argv[i - 1] != "--label"]

    assert probe[:3] == ["podman", "run", "--rm"] and create[:3] == ["podman", "run", "--detach"]
    assert probe[3:-5] == unlabelled(create)[3:-4]
    assert probe[-5:-1] == ["--entrypoint", "sh", image, "-c"] and doctor.PROBE_MARK in probe[-1]
    assert "--cap-drop" in probe and "--network" in probe


def test_the_tun_fix_says_setup_steps_keep_the_default_network():
    # Setup steps always get Podman's default network (README: Setup, inputs and builds),
    # so `network: none` alone cannot get a project with setup steps past a missing tun.
    tun = next(k for k in failures.CATALOGUE if k.key == "tun")
    for text in (tun.hint, tun.fix(failures.Host(rootless=True))):
        assert "chmod 0666 /dev/net/tun" in text and "network: none" in text
        assert "setup steps do not follow" in text


def test_podmans_init_must_be_catatonit():
    """Sandboxes idle in catatonit's pause mode: doctor starts Podman's init as a sandbox
    would and asks its version; tini (an init_path some set) has no pause mode."""
    runner = Scripted(healthy)
    code, text = run_doctor(runner)
    assert code == 0 and "ok    Podman's init is catatonit" in text, text
    idle = next(a for a, _ in runner.calls if a[1] == "run" and a[-1] == "--version")
    assert idle[idle.index("--entrypoint") + 1] == "/run/podman-init" and "--init" in idle

    def tini(argv, env):
        if argv[1] == "run" and argv[-1] == "--version":
            return 0, "tini version 0.19.0 - git.de40ad0\n", ""
        return healthy(argv, env)

    code, text = run_doctor(Scripted(tini))
    assert code != 0
    assert "Podman's init is not catatonit" in text and "tini version 0.19.0" in text
    assert 'init_path = "/usr/libexec/podman/catatonit"' in text

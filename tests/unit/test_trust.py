"""trust.py: the grants of a spec, the subset rule, approvals on disk; and where they show.

The real-Podman attacks are in tests/security/test_consent.py; here the pure
logic, the approvals file's checks, validation of capabilities, which mounts
get SELinux's z, and what plan/status/allow print, against the fake Podman.
"""

from __future__ import annotations

import json
import os

import pytest

from fake_runner import RECORDED_NAME, RECORDED_SPEC, invoke, make_project, recorded_world
from podman_sandbox import trust
from podman_sandbox.engine.desired import Desired, volume_options
from podman_sandbox.engine.doctor import Doctor, Report
from podman_sandbox.engine.steps import create_command
from podman_sandbox.errors import RefusedError, SpecError
from podman_sandbox.schema.loader import load_document
from podman_sandbox.schema.spec import build_spec
from podman_sandbox.schema.validate import validate_document


def make_spec(doc: dict, project: str = "/proj", mode: str = "project", source: str | None = None):
    return build_spec({"image": "img", **doc}, project_dir=project,
                      source=source or os.path.join(project, "sandbox.yaml"), mode=mode)


def ids(spec) -> list[str]:
    return [g.id for g in trust.grants(spec)]


@pytest.fixture
def state(tmp_path, monkeypatch):
    folder = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder


# --- grants ------------------------------------------------------------------------

def test_a_default_spec_grants_nothing():
    assert trust.grants(make_spec({})) == ()
    narrow = {"memory": "64m", "cpus": 1, "pids_limit": 100, "network": "none", "read_only": True,
              "cap_drop": ["ALL"], "cap_add": ["CHOWN", "net_bind_service", "CAP_SETUID"],
              "user": "1000", "env": {"A": "1"}, "setup": ["true"]}
    assert trust.grants(make_spec(narrow)) == ()
    assert trust.grants(make_spec({"pids_limit": 2048, "selinux_label": "project"})) == ()


def test_each_widening_is_a_grant_in_plain_words(tmp_path):
    spec = make_spec({
        "mounts": [{"source": "/home/u/.cache/pip", "target": "/root/.cache/pip", "read_only": False},
                   {"source": "data", "target": "/data"},
                   {"source": "/", "target": "/host", "force": True}],
        "cap_add": ["SYS_PTRACE", "chown", "cap_audit_write"],
        "network": "host", "pids_limit": 0, "selinux_label": "disable"})
    assert ids(spec) == [
        "mount:/home/u/.cache/pip -> /root/.cache/pip:rw", "mount:/proj/data -> /data:ro",
        "mount:/ -> /host:ro", "force:/", "capability:SYS_PTRACE", "capability:AUDIT_WRITE",
        "network:host", "pids_limit:0", "selinux_label:disable"]
    texts = [g.text for g in trust.grants(spec)]
    assert texts[0] == "mount /home/u/.cache/pip read-write at /root/.cache/pip"
    assert texts[1] == "mount /proj/data read-only at /data"
    assert texts[3].startswith("force: allow mounting /, the whole host (/),")
    assert texts[4].startswith("capability SYS_PTRACE (breaks isolation): can read and change "
                               "the memory of any process")
    assert texts[5] == "capability AUDIT_WRITE: beyond Podman's default set"
    assert texts[6].startswith("network host: shares the host's network")
    assert texts[7].startswith("pids_limit 0: no limit on processes")
    assert texts[8].startswith("selinux_label disable: the sandbox runs unconfined by SELinux")
    breaks = {g.id for g in trust.grants(spec) if g.breaks_isolation}
    assert breaks == {"force:/", "capability:SYS_PTRACE", "network:host", "selinux_label:disable"}


def test_pids_limit_above_the_default_is_a_grant():
    assert ids(make_spec({"pids_limit": 2049})) == ["pids_limit:2049"]
    assert ids(make_spec({"pids_limit": 2048})) == []


def test_a_mount_grant_names_the_real_source(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "data").symlink_to(tmp_path / "real")
    spec = make_spec({"mounts": [{"source": "data", "target": "/data"}]}, project=str(tmp_path / "proj"))
    [grant] = trust.grants(spec)
    assert grant.id == f"mount:{tmp_path / 'real'} -> /data:ro"
    assert f"(really {tmp_path / 'real'})" in grant.text


def test_a_rw_mount_showing_the_approvals_is_flagged(tmp_path, state):
    spec = make_spec({"mounts": [{"source": str(tmp_path), "target": "/t", "read_only": False}]})
    [grant] = trust.grants(spec)
    assert "holds your podman-sandbox approvals" in grant.text


# --- the subset rule ---------------------------------------------------------------------

def test_approval_covers_the_same_or_narrower():
    wide = trust.grants(make_spec({"mounts": [{"source": "/a", "target": "/a", "read_only": False}],
                                   "cap_add": ["SYS_PTRACE", "NET_ADMIN"], "pids_limit": 5000}))
    narrower = trust.grants(make_spec({"mounts": [{"source": "/a", "target": "/a"}],
                                       "cap_add": ["NET_ADMIN"], "pids_limit": 3000}))
    assert trust.pending(narrower, wide) == ()
    assert trust.pending(wide, wide) == ()
    assert [g.id for g in trust.pending(wide, narrower)] == [
        "mount:/a -> /a:rw", "capability:SYS_PTRACE", "pids_limit:5000"]
    unlimited = trust.grants(make_spec({"pids_limit": 0}))
    assert trust.pending(unlimited, wide) == unlimited
    assert trust.pending(wide, ()) == wide


def test_another_target_or_source_is_another_grant():
    approved = trust.grants(make_spec({"mounts": [{"source": "/a", "target": "/a"}]}))
    for other in ({"source": "/a", "target": "/b"}, {"source": "/b", "target": "/a"}):
        wanted = trust.grants(make_spec({"mounts": [other]}))
        assert trust.pending(wanted, approved) == wanted


# --- approvals on disk -------------------------------------------------------------------

def test_approve_then_consent_then_revoke(state):
    spec = make_spec({"network": "host"})
    found = trust.consent(spec)
    assert [g.id for g in found.pending] == ["network:host"]
    path = trust.approve(spec, found)
    assert path.startswith(str(state / "podman-sandbox" / "approvals"))
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    assert trust.consent(spec).pending == ()
    # Another spec file of the same folder, another folder: not approved.
    assert trust.consent(make_spec({"network": "host"}, source="/proj/other.yaml")).pending
    assert trust.consent(make_spec({"network": "host"}, project="/other")).pending
    assert trust.revoke(spec.project_dir, spec.source) is True
    assert trust.consent(spec).pending and trust.revoke(spec.project_dir, spec.source) is False


@pytest.mark.parametrize("tamper", ["other_writable", "group_writable", "symlink", "garbage",
                                    "other_project", "folder_open"])
def test_a_tampered_approvals_file_approves_nothing(state, tmp_path, tamper):
    spec = make_spec({"cap_add": ["SYS_ADMIN"]})
    path = trust.approve(spec, trust.consent(spec))
    if tamper == "other_writable":
        os.chmod(path, 0o606)
    elif tamper == "group_writable":
        # Writable by a group other users are in (our own user-private group would be fine).
        if os.geteuid() != 0:
            pytest.skip("needs root to give the file to a shared group")
        os.chown(path, -1, 65534)
        os.chmod(path, 0o620)
    elif tamper == "symlink":
        copy = tmp_path / "copy.json"
        copy.write_bytes(open(path, "rb").read())
        copy.chmod(0o600)
        os.unlink(path)
        os.symlink(copy, path)
    elif tamper == "garbage":
        with open(path, "w") as fh:
            fh.write("{not json")
    elif tamper == "other_project":  # a copy of another project's approvals
        other = make_spec({"cap_add": ["SYS_ADMIN"]}, project="/elsewhere")
        with open(trust.approve(other, trust.consent(other)), "rb") as fh:
            data = fh.read()
        os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, data)
        os.close(fd)
    else:
        os.chmod(os.path.dirname(path), 0o777)
        os.chmod(os.path.dirname(os.path.dirname(path)), 0o777)
    found = trust.consent(spec)
    assert [g.id for g in found.pending] == ["capability:SYS_ADMIN"]
    assert found.problem


def test_classic_config_of_the_user_needs_no_approval(tmp_path):
    config = tmp_path / "config.json"
    config.write_text("{}")
    config.chmod(0o600)
    spec = make_spec({"network": "host"}, project=str(tmp_path / "cwd"), mode="classic",
                     source=str(config))
    found = trust.consent(spec)
    assert found.pending == () and found.consented_file
    config.chmod(0o666)
    assert trust.consent(spec).pending and "writable by other users" in trust.consent(spec).problem


def test_classic_config_shown_read_write_to_the_sandbox_needs_approval(tmp_path, state):
    config = tmp_path / "conf" / "config.json"
    config.parent.mkdir()
    config.write_text("{}")
    config.chmod(0o600)
    spec = make_spec({"mounts": [{"source": str(config.parent), "target": "/c", "read_only": False}]},
                     project=str(tmp_path / "cwd"), mode="classic", source=str(config))
    found = trust.consent(spec)
    assert found.pending and "shows" in found.problem


def test_the_refusal_names_each_grant_and_the_command():
    spec = make_spec({"network": "host", "pids_limit": 0})
    error = trust.ConsentError(spec, trust.consent(spec), "ci/sandbox.yaml")
    lines = error.lines()
    assert error.exit_code == 123
    assert lines[1].startswith("not approved: network host") and lines[2].startswith(
        "not approved: pids_limit 0")
    assert "`podman-sandbox -f ci/sandbox.yaml allow`" in lines[-1]
    assert trust.allow_command(None) == "podman-sandbox allow"


# --- validation of capabilities -----------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("cap_add: [ALL]", "sandbox.yaml:2:11: cap_add[0]: ALL would give every capability"),
    ("cap_add: [CHOWN, cap_all]", "sandbox.yaml:2:18: cap_add[1]: ALL would give every capability"),
    ("cap_add: [NOT_A_CAPABILITY]", "sandbox.yaml:2:11: cap_add[0]: NOT_A_CAPABILITY is not a Linux "
                                    "capability"),
    ("cap_drop: [ALL, SYS_FOO]", "sandbox.yaml:2:17: cap_drop[1]: SYS_FOO is not a Linux capability"),
])
def test_capabilities_refused_at_validation(text, message):
    doc, locator = load_document("sandbox.yaml", f"image: img\n{text}\n", display_name="sandbox.yaml")
    with pytest.raises(SpecError) as caught:
        validate_document(doc, locator, "sandbox.yaml", base_dir="/proj")
    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


def test_known_capabilities_validate():
    doc, locator = load_document("sandbox.yaml", "image: img\ncap_drop: [ALL]\ncap_add: "
                                 "[SYS_PTRACE, cap_net_raw, Bpf]\n", display_name="sandbox.yaml")
    validate_document(doc, locator, "sandbox.yaml", base_dir="/proj")


# --- SELinux: which mounts get z ------------------------------------------------------------

def volumes(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--volume"]


def test_only_the_projects_own_mounts_are_relabelled(tmp_path):
    project = tmp_path / "proj"
    (project / "data").mkdir(parents=True)
    (project / "escape").symlink_to("/etc")
    spec = make_spec({"mounts": [
        {"source": "/etc/ssl/certs/ca-certificates.crt", "target": "/etc/ssl/certs/ca.crt"},
        {"source": "data", "target": "/data", "read_only": False},
        {"source": str(tmp_path / "cache"), "target": "/cache", "read_only": False}]},
        project=str(project))
    argv = create_command(Desired.from_spec(spec), spec.name, "img", "base").argv
    assert volumes(argv) == [
        f"{tmp_path / 'cache'}:/cache:rw",
        f"{project / 'data'}:/data:rw,z",
        "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca.crt:ro",
        f"{project}:/workspace:rw,z",
    ]
    assert "label=disable" not in argv
    # A link out of the project is not the project's: never relabelled (and refused at
    # create, engine/mountcheck.py, since nothing tells the user's link from the sandbox's).
    assert volume_options({"source": str(project / "escape"), "read_only": True}, str(project)) == "ro"
    escaping = make_spec({"mounts": [{"source": "escape", "target": "/escape"}]}, project=str(project))
    with pytest.raises(RefusedError):
        create_command(Desired.from_spec(escaping), escaping.name, "img", "base")


def test_selinux_label_disable_relabels_nothing(tmp_path):
    spec = make_spec({"selinux_label": "disable", "mounts": [{"source": "data", "target": "/data"}]},
                     project=str(tmp_path))
    desired = Desired.from_spec(spec)
    argv = create_command(desired, spec.name, "img", "base").argv
    assert volumes(argv) == [f"{tmp_path / 'data'}:/data:ro", f"{tmp_path}:/workspace:rw"]
    assert argv[argv.index("label=disable") - 1] == "--security-opt"
    assert desired.container["selinux_label"] == "disable"


def test_the_default_keeps_the_desired_hash_of_existing_sandboxes():
    """No selinux_label key unless set: containers made before it stay in sync."""
    assert "selinux_label" not in Desired.from_spec(make_spec({})).container


def test_doctor_says_whether_selinux_enforces(tmp_path):
    for content, words in (("1", "SELinux is enforcing"), ("0", "SELinux is permissive"),
                           (None, "SELinux: not enabled")):
        path = tmp_path / "enforce"
        if content is None:
            path.unlink()
        else:
            path.write_text(content + "\n")
        doctor = Doctor(runner=None, host=object())
        doctor.report = Report()
        doctor.check_selinux(str(path))
        assert doctor.report.findings[0].title.startswith(words)


# --- the CLI, against the fake Podman -----------------------------------------------------------

GRANTING = RECORDED_SPEC + "cap_add: [SYS_PTRACE]\nnetwork: host\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    return make_project(tmp_path, monkeypatch)


@pytest.mark.parametrize("argv", [("execute", "true"), ("apply",), ("start",), ("shell",),
                                  ("start", "--image", "other:1")])
def test_unapproved_grants_are_refused_before_any_podman_change(project, argv):
    fake = recorded_world(project)
    (project / "sandbox.yaml").write_text(GRANTING)
    result = invoke(fake, *argv)
    assert result.code == 123, result
    assert "not approved: capability SYS_PTRACE" in result.stderr
    assert "not approved: network host" in result.stderr
    assert "`podman-sandbox allow`" in result.stderr
    assert fake.changes_made() == []
    assert (project / "sandbox.yaml").read_text() == GRANTING  # start --image saved nothing


def test_allow_then_apply_and_what_plan_status_show(project):
    fake = recorded_world(project)
    (project / "sandbox.yaml").write_text(GRANTING)
    plan = invoke(fake, "plan")
    assert "[NOT APPROVED] capability SYS_PTRACE (breaks isolation)" in plan.stdout
    assert "refuse until you run `podman-sandbox allow`" in plan.stdout
    data = invoke(fake, "plan", "--json").json()["consent"]
    assert data["approved"] is False
    assert [(g["id"], g["approved"], g["breaks_isolation"]) for g in data["grants"]] == [
        ("capability:SYS_PTRACE", False, True), ("network:host", False, True)]
    allowed = invoke(fake, "allow")
    assert allowed.code == 0, allowed
    assert "Approved for" in allowed.stdout and "capability SYS_PTRACE" in allowed.stdout
    assert "[approved] network host" in invoke(fake, "plan").stdout
    status = invoke(fake, "status", "--json").json()["consent"]
    assert status["approved"] is True and all(g["approved"] for g in status["grants"])
    assert "[approved] capability SYS_PTRACE" in invoke(fake, "status").stdout
    assert invoke(fake, "apply").code == 0
    assert invoke(fake, "allow", "--revoke").code == 0
    assert invoke(fake, "apply").code == 123


def test_apply_allow_approves_and_applies(project):
    fake = recorded_world(project)
    (project / "sandbox.yaml").write_text(GRANTING)
    result = invoke(fake, "apply", "--allow")
    assert result.code == 0, result
    assert "approved 2 grant(s)" in result.stderr
    assert invoke(fake, "plan", "--json").json()["consent"]["approved"] is True


def test_a_spec_without_grants_needs_no_approval(project, tmp_path):
    fake = recorded_world(project)
    assert invoke(fake, "apply").code == 0
    allowed = invoke(fake, "allow")
    assert "grants nothing beyond a default sandbox" in allowed.stdout
    assert not (tmp_path / "state" / "podman-sandbox").exists()  # nothing made, not even a folder


def test_plan_shows_which_mounts_get_z(project, tmp_path):
    fake = recorded_world(project)
    (project / "data").mkdir()
    (project / "sandbox.yaml").write_text(
        RECORDED_SPEC + f"mounts:\n  - source: data\n    target: /data\n"
                        f"  - source: {tmp_path}/outside\n    target: /out\n")
    text = invoke(fake, "plan").stdout
    assert f"--volume {project}/data:/data:ro,z " in text
    assert f"--volume {tmp_path}/outside:/out:ro " in text
    assert f"--volume {project}:/workspace:rw,z " in text
    commands = [argv for a in invoke(fake, "plan", "--json").json()["actions"] for argv in a["commands"]]
    create = next(argv for argv in commands if "--volume" in argv)
    assert f"{tmp_path}/outside:/out:ro" in create and f"{project}/data:/data:ro,z" in create


def test_configure_approves_what_the_user_typed(project):
    fake = recorded_world(project)
    result = invoke(fake, "configure", "--network", "host", "--no-restart")
    assert result.code == 0, result
    assert "Approved: network host" in result.stdout
    assert invoke(fake, "plan", "--json").json()["consent"]["approved"] is True
    json.loads(invoke(fake, "status", "--json").stdout)


class _Terminal:
    """Stands in for a terminal on stdin and stderr: says isatty, answers one line."""

    def __init__(self, answer: str = ""):
        self.answer, self.written = answer, []

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.answer

    def write(self, text: str) -> None:
        self.written.append(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("answer, approved", [("y\n", True), ("yes\n", True), ("\n", False),
                                              ("n\n", False), ("", False)])
def test_a_terminal_is_asked(project, monkeypatch, answer, approved):
    import sys

    from podman_sandbox.app import App

    (project / "sandbox.yaml").write_text(GRANTING)
    terminal = _Terminal(answer)
    monkeypatch.setattr(sys, "stdin", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    app = App(runner=recorded_world(project))
    if approved:
        app.check_consent()
        assert trust.consent(app.spec).pending == ()
    else:
        with pytest.raises(trust.ConsentError):
            app.check_consent()
    shown = "".join(terminal.written)
    assert "capability SYS_PTRACE (breaks isolation)" in shown and "approve? [y/N] " in shown
    assert ("approved 2 grant(s)" in shown) is approved


def test_the_sandbox_lock_is_not_held_while_a_person_is_asked(project, monkeypatch):
    """A converge begins its first reads under the sandbox lock before it checks consent;
    a question on the terminal releases them first, so the sandbox's other commands need
    not wait for the answer. The converge then takes the lock again for itself."""
    import sys

    from podman_sandbox.app import App
    from podman_sandbox.engine.lock import sandbox_lock
    from podman_sandbox.errors import LockTimeoutError

    (project / "sandbox.yaml").write_text(GRANTING)
    lock_free = []

    class Asked(_Terminal):
        def readline(self) -> str:
            try:
                with sandbox_lock(RECORDED_NAME, wait=0):
                    lock_free.append(True)
            except LockTimeoutError:
                lock_free.append(False)
            return "y\n"

    terminal = Asked()
    monkeypatch.setattr(sys, "stdin", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    fake = recorded_world(project, "inspect_missing.json")
    App(runner=fake).converge()
    assert lock_free == [True]
    assert fake.called("run")  # approved, and made


def test_no_prompt_when_only_stderr_is_a_terminal(project, monkeypatch):
    import io
    import sys

    from podman_sandbox.app import App

    (project / "sandbox.yaml").write_text(GRANTING)
    terminal = _Terminal("y\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # a pipe says yes: never read
    monkeypatch.setattr(sys, "stderr", terminal)
    with pytest.raises(trust.ConsentError):
        App(runner=recorded_world(project)).check_consent()
    assert terminal.written == []


def test_the_capability_set_is_pinned_whatever_the_hosts_defaults():
    """Everything beyond Podman's defaults (less cap_drop, plus cap_add) is dropped by name,
    so a containers.conf (or none, with Podman's compiled-in NET_RAW, MKNOD, AUDIT_WRITE)
    never adds to what a sandbox holds; nothing is added that the user did not ask for
    (an added capability is ambient: a non-root user would hold it)."""
    from podman_sandbox.capabilities import NAMES, PODMAN_DEFAULTS, drops
    assert set(drops()) == {f"CAP_{c}" for c in NAMES - PODMAN_DEFAULTS}
    assert "CAP_NET_RAW" in drops() and "CAP_CHOWN" not in drops()
    assert "CAP_CHOWN" in drops(["CAP_CHOWN"], ["NET_ADMIN"])
    assert "CAP_NET_ADMIN" not in drops(["CAP_CHOWN"], ["NET_ADMIN"])
    assert drops(["ALL"], ["CAP_NET_BIND_SERVICE"]) == ["ALL"]
    spec = make_spec({"cap_drop": ["ALL"], "cap_add": ["NET_BIND_SERVICE"]})
    argv = create_command(Desired.from_spec(spec), spec.name, "img", "base").argv
    caps = [(a, argv[i + 1]) for i, a in enumerate(argv) if a in ("--cap-add", "--cap-drop")]
    assert caps == [("--cap-drop", "ALL"), ("--cap-add", "CAP_NET_BIND_SERVICE")]
    plain = make_spec({})
    argv = create_command(Desired.from_spec(plain), plain.name, "img", "base").argv
    assert "--cap-add" not in argv and argv.count("--cap-drop") == len(NAMES - PODMAN_DEFAULTS)

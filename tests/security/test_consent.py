"""The sandbox cannot widen itself: consent for every grant (issue 10), on a real Podman.

sandbox.yaml lives in /workspace, which code in the sandbox can write. Here
that code appends a read-write mount of a host folder (with force), a
capability or the host's network to it; the user's next ordinary `execute`
must refuse (123), name the grant and the command that approves it, and
leave the running sandbox exactly as it was. `allow` (outside the sandbox)
approves; narrowing and specs without grants need nothing; an approvals file
another user could have written approves nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import podman

MARKER = "host-only secret 7f3a"


def spec(image: str, extra: str = "") -> str:
    return f"image: {image}\n{extra}"


def host_folder(sandbox) -> Path:
    """A folder outside the project with a marker file in it: the attack's prize."""
    folder = sandbox.root / "host folder"
    folder.mkdir()
    (folder / "marker").write_text(MARKER + "\n")
    return folder


def the_container(sandbox) -> dict:
    [c] = sandbox.containers()
    return sandbox.inspect(c["Id"])


def targets(info: dict) -> set[str]:
    return {m["Destination"] for m in info.get("Mounts") or ()}


def approvals(sandbox) -> list[Path]:
    folder = sandbox.root / "state" / "podman-sandbox" / "approvals"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def append_from_inside(sandbox, text: str) -> None:
    """Code in the sandbox appends text to /workspace/sandbox.yaml (the text handed over in a file)."""
    (sandbox.project / ".added").write_text(text)
    sandbox.ok("execute", "cat /workspace/.added >> /workspace/sandbox.yaml && rm /workspace/.added")


def widenings(folder: Path) -> dict[str, tuple[str, str]]:
    """name -> (what the code appends, what the refusal must name)."""
    return {
        "mount": (f"mounts:\n  - source: {json.dumps(str(folder))}\n    target: /host\n"
                  "    read_only: false\n    force: true\n",
                  f"mount {folder} read-write at /host"),
        "cap_add": ("cap_add: [SYS_PTRACE]\n", "capability SYS_PTRACE"),
        "network_host": ("network: host\n", "network host"),
    }


@pytest.mark.parametrize("kind", ["mount", "cap_add", "network_host"])
def test_a_grant_added_from_inside_is_refused_until_allowed(sandbox, kind):
    folder = host_folder(sandbox)
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "true")  # the quick start: no grants, no prompt, no approval
    before = the_container(sandbox)
    assert approvals(sandbox) == []

    added, named = widenings(folder)[kind]
    append_from_inside(sandbox, added)
    assert added in (sandbox.project / "sandbox.yaml").read_text()

    refused = sandbox.run("execute", "cat /host/marker; echo ran")
    assert refused.returncode == 123, refused
    assert named in refused.stderr, refused.stderr
    assert "podman-sandbox allow" in refused.stderr
    assert "ran" not in refused.stdout and MARKER not in refused.stdout
    after = the_container(sandbox)
    assert after["Id"] == before["Id"] and after["State"]["Running"]
    assert after["State"]["Pid"] == before["State"]["Pid"]
    assert "/host" not in targets(after)
    assert after["HostConfig"]["NetworkMode"] == before["HostConfig"]["NetworkMode"]
    assert after["HostConfig"].get("CapAdd") == before["HostConfig"].get("CapAdd")

    # Also refused by start and apply (and plan says what is pending).
    assert sandbox.run("start").returncode == 123
    assert sandbox.run("apply").returncode == 123
    plan = json.loads(sandbox.ok("plan", "--json").stdout)
    assert plan["consent"]["approved"] is False
    assert [g["approved"] for g in plan["consent"]["grants"]] == \
        [False] * len(plan["consent"]["grants"])
    assert the_container(sandbox)["Id"] == before["Id"]

    allowed = sandbox.ok("allow")
    assert named in allowed.stdout
    assert len(approvals(sandbox)) == 1
    ran = sandbox.run("execute", "--", "cat /host/marker 2>/dev/null; echo ran")
    assert ran.returncode == 0, ran
    assert ran.stdout.endswith("ran\n")
    now = the_container(sandbox)
    assert now["Id"] != before["Id"]  # re-created with the approved grant
    if kind == "mount":
        assert MARKER in ran.stdout and "/host" in targets(now)
    if kind == "network_host":
        assert now["HostConfig"]["NetworkMode"] == "host"
    if kind == "cap_add":
        assert "CAP_SYS_PTRACE" in (now["HostConfig"].get("CapAdd") or [])


def test_revoke_stops_the_fast_path_too(sandbox):
    folder = host_folder(sandbox)
    sandbox.write_spec(spec(sandbox.image, widenings(folder)["mount"][0]))
    assert sandbox.run("execute", "true").returncode == 123
    assert sandbox.containers() == []  # nothing created when refused
    sandbox.ok("allow")
    assert sandbox.ok("execute", "cat /host/marker").stdout == MARKER + "\n"
    assert sandbox.ok("execute", "cat /host/marker").stdout == MARKER + "\n"  # fast path now
    revoked = sandbox.ok("allow", "--revoke")
    assert "Revoked" in revoked.stdout
    assert approvals(sandbox) == []
    refused = sandbox.run("execute", "cat /host/marker")
    assert refused.returncode == 123, refused
    assert MARKER not in refused.stdout


def test_narrowing_needs_nothing(sandbox):
    folder = host_folder(sandbox)
    wide = (f"mounts:\n  - source: {json.dumps(str(folder))}\n    target: /host\n    read_only: false\n"
            "cap_add: [SYS_PTRACE]\npids_limit: 5000\n")
    sandbox.write_spec(spec(sandbox.image, wide))
    # apply --allow: approve and apply in one step, with no terminal (CI).
    sandbox.ok("apply", "--allow")
    assert "/host" in targets(the_container(sandbox))
    narrow = (f"mounts:\n  - source: {json.dumps(str(folder))}\n    target: /host\n"
              "pids_limit: 3000\n")
    sandbox.write_spec(spec(sandbox.image, narrow))
    # --force: Podman's own /host mount point counts as an uncommitted change; no --allow.
    sandbox.ok("apply", "--force")
    ran = sandbox.run("execute", "cat /host/marker; touch /host/new")
    assert ran.returncode != 0 and MARKER in ran.stdout, ran  # read-only now
    assert not (folder / "new").exists()
    info = the_container(sandbox)
    assert info["HostConfig"]["PidsLimit"] == 3000
    assert "CAP_SYS_PTRACE" not in (info["HostConfig"].get("CapAdd") or [])


def test_apply_without_allow_in_a_pipe_never_prompts(sandbox):
    folder = host_folder(sandbox)
    sandbox.write_spec(spec(sandbox.image, widenings(folder)["mount"][0]))
    refused = sandbox.run("apply", input="y\n")  # stdin is a pipe: no prompt, never a yes
    assert refused.returncode == 123, refused
    assert "approve?" not in refused.stderr
    assert sandbox.containers() == [] and approvals(sandbox) == []
    assert "run `podman-sandbox allow` to approve" in refused.stderr
    named = sandbox.run("-f", "sandbox.yaml", "apply")
    assert named.returncode == 123 and "podman-sandbox -f sandbox.yaml allow" in named.stderr


@pytest.mark.parametrize("tamper", ["other_writable", "symlink", "other_owner"])
def test_a_tampered_approvals_file_grants_nothing(sandbox, other_user, tamper):
    folder = host_folder(sandbox)
    sandbox.write_spec(spec(sandbox.image, widenings(folder)["mount"][0]))
    sandbox.ok("allow")
    [path] = approvals(sandbox)
    if tamper == "other_writable":
        path.chmod(0o666)
    elif tamper == "symlink":
        copy = sandbox.root / "elsewhere.json"
        copy.write_bytes(path.read_bytes())
        copy.chmod(0o600)
        path.unlink()
        path.symlink_to(copy)
    else:
        os.chown(path, other_user.uid, other_user.gid)
    refused = sandbox.run("execute", "cat /host/marker")
    assert refused.returncode == 123, refused
    assert MARKER not in refused.stdout
    assert f"mount {folder} read-write at /host" in refused.stderr
    assert sandbox.containers() == []


def test_cap_add_all_is_refused_at_validation(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "true")
    before = the_container(sandbox)["Id"]
    append_from_inside(sandbox, "cap_add: [ALL]\n")
    for argv in (("execute", "true"), ("allow",), ("apply", "--allow")):
        refused = sandbox.run(*argv)
        assert refused.returncode == 121, (argv, refused)
        assert "sandbox.yaml:2:" in refused.stderr and "cap_add[0]: ALL" in refused.stderr
    assert [c["Id"] for c in sandbox.containers()] == [before]
    assert approvals(sandbox) == []
    cap_add = json.loads(podman("inspect", before).stdout)[0]["HostConfig"].get("CapAdd") or []
    assert "CAP_DAC_READ_SEARCH" not in cap_add


def test_a_spec_swapped_for_a_link_to_another_spec_is_refused_until_allowed(sandbox):
    """Code inside replaces /workspace/sandbox.yaml with a link to another spec on the host
    (another project's, whose env holds a secret): its settings must not reach the sandbox
    unless you approved reading that file."""
    other = sandbox.root / "other project"
    other.mkdir()
    (other / "sandbox.yaml").write_text(spec(sandbox.image, f"env:\n  TOKEN: {json.dumps(MARKER)}\n"))
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "true")
    before = the_container(sandbox)

    sandbox.ok("execute", f"ln -sf {json.dumps(str(other / 'sandbox.yaml'))} /workspace/sandbox.yaml")
    assert (sandbox.project / "sandbox.yaml").is_symlink()
    refused = sandbox.run("execute", "echo $TOKEN")
    assert refused.returncode == 123, refused
    assert MARKER not in refused.stdout
    assert f"is a link to {other / 'sandbox.yaml'}, outside the project folder" in refused.stderr
    assert the_container(sandbox)["Id"] == before["Id"]  # not re-created with the other env

    sandbox.ok("allow")  # you looked, and you want that file: now it governs
    assert sandbox.ok("execute", "echo $TOKEN").stdout.strip() == MARKER

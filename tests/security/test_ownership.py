"""One project cannot take over another's sandbox, saved state or setup result.

Names are chosen by whoever writes a spec: project A may write `name:` with
project B's sandbox name. Whatever A does, B's container, B's saved state and
B's setup result stay B's (exit 123 in A, naming both folders).
"""

from __future__ import annotations

import hashlib
import json
import uuid

from harness import images_json, podman
from podman_sandbox.engine.labels import LABEL_BASE_ID

REFUSED = 123


def _image_ids(repo_prefix: str) -> dict[str, str]:
    """tag -> image id, for every image whose tag starts with repo_prefix."""
    found = {}
    for img in images_json():
        for tag in img.get("Names") or ():
            if tag.startswith(repo_prefix):
                found[tag] = img["Id"]
    return found


def _container_id(name: str) -> str | None:
    result = podman("inspect", "--format", "{{.Id}}", name, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def test_project_cannot_take_over_another_projects_sandbox(sandbox):
    name = f"pstest-own-{uuid.uuid4().hex[:8]}"
    spec = f"image: {sandbox.image}\nname: {name}\nauto_commit: true\n"
    sandbox.write_spec(spec)  # project B
    sandbox.ok("execute", "echo B-own-code > /root/who")
    sandbox.ok("commit")
    b_id = _container_id(name)
    b_states = _image_ids(f"localhost/podman-sandbox-state-{name}:")
    assert b_id and b_states

    attacker = sandbox.root / "project-a"
    attacker.mkdir()
    sandbox.write_spec(spec, folder=attacker)  # project A, same name
    for argv in (("apply",), ("start",), ("execute", "echo backdoor > /root/who"),
                 ("shell",), ("commit",), ("stop",), ("reset",), ("logs",)):
        result = sandbox.run(*argv, cwd=attacker)
        assert result.returncode == REFUSED, (argv, result.returncode, result.stdout, result.stderr)
        assert str(sandbox.project) in result.stderr and str(attacker) in result.stderr, result.stderr

    assert _container_id(name) == b_id
    assert _image_ids(f"localhost/podman-sandbox-state-{name}:") == b_states
    assert sandbox.ok("execute", "cat /root/who").stdout.strip() == "B-own-code"
    # status in A says whose the container is, and that it is not A's.
    status = json.loads(sandbox.ok("status", "--json", cwd=attacker).stdout)
    assert status["container_owner"] == str(sandbox.project)
    assert status["committed_state"] == []


def test_project_never_starts_from_another_projects_saved_state(sandbox):
    """B's container is gone, its saved state is not: A with B's name starts fresh."""
    name = f"pstest-own-{uuid.uuid4().hex[:8]}"
    spec = f"image: {sandbox.image}\nname: {name}\nauto_commit: true\n"
    sandbox.write_spec(spec)
    sandbox.ok("execute", "echo B-secret > /root/token")
    sandbox.ok("stop")  # auto_commit: B's state is saved, the container removed
    b_states = _image_ids(f"localhost/podman-sandbox-state-{name}:")
    assert b_states

    attacker = sandbox.root / "project-a"
    attacker.mkdir()
    sandbox.write_spec(spec, folder=attacker)
    seen = sandbox.ok("execute", "cat /root/token 2>/dev/null || echo none", cwd=attacker)
    assert seen.stdout.strip() == "none"
    sandbox.ok("execute", "echo backdoor > /root/token", cwd=attacker)
    sandbox.ok("stop", cwd=attacker)  # A's own state, under A's own tag
    sandbox.ok("reset", cwd=attacker)  # drops A's states only
    assert {t: i for t, i in _image_ids(f"localhost/podman-sandbox-state-{name}:").items()
            if t in b_states} == b_states
    assert sandbox.ok("execute", "cat /root/token").stdout.strip() == "B-secret"


def test_two_config_folders_never_share_the_classic_sandbox(sandbox):
    """Classic mode (no sandbox.yaml): two XDG_CONFIG_HOMEs, one Podman, one name."""
    name = f"pstest-own-{uuid.uuid4().hex[:8]}"
    users = []
    for who in ("one", "two"):
        config = sandbox.root / f"config-{who}"
        (config / "podman-sandbox").mkdir(parents=True)
        (config / "podman-sandbox" / "config.json").write_text(
            json.dumps({"image": sandbox.image, "name": name, "auto_commit": True}))
        env = dict(sandbox.env, XDG_CONFIG_HOME=str(config))
        users.append(env)

    def run(env, *argv):
        saved = sandbox.env
        sandbox.env = env
        try:
            return sandbox.run(*argv)
        finally:
            sandbox.env = saved

    one, two = users
    assert run(one, "execute", "echo one > /root/who").returncode == 0
    assert run(one, "stop").returncode == 0  # auto_commit: one's saved state
    states = _image_ids(f"localhost/podman-sandbox-state-{name}:")
    assert states

    reset = run(two, "reset")
    assert reset.returncode == 0 and "no saved state to remove" in reset.stdout, reset
    assert _image_ids(f"localhost/podman-sandbox-state-{name}:") == states
    seen = run(two, "execute", "cat /root/who 2>/dev/null || echo none")
    assert seen.returncode == 0 and seen.stdout.strip() == "none", seen

    taken = run(one, "execute", "true")  # two's container holds the name now
    assert taken.returncode == REFUSED, taken
    assert str(sandbox.root / "config-two") in taken.stderr, taken.stderr
    assert run(one, "reset").returncode == REFUSED

    assert run(two, "stop").returncode == 0
    mine = run(one, "execute", "cat /root/who")
    assert mine.returncode == 0 and mine.stdout.strip() == "one", mine


def test_setup_result_is_never_shared_between_projects(sandbox):
    """Identical setup steps, different install.sh: each project runs its own."""
    for folder, letter in ((sandbox.project, "A"), (sandbox.root / "project-b", "B")):
        folder.mkdir(exist_ok=True)
        (folder / "install.sh").write_text(f"echo installed-{letter} > /root/installed\n")
        sandbox.write_spec(f"image: {sandbox.image}\nsetup:\n  - sh install.sh\n", folder=folder)
    first = sandbox.ok("execute", "cat /root/installed")
    second = sandbox.ok("execute", "cat /root/installed", cwd=sandbox.root / "project-b")
    assert first.stdout.strip() == "installed-A"
    assert second.stdout.strip() == "installed-B"


def test_old_format_states_are_adopted_only_by_their_own_project(sandbox):
    """After an upgrade: a saved state tagged the old way (no owner in the tag) is used
    by the project its labels name, and by no other project of that name."""
    name = f"pstest-own-{uuid.uuid4().hex[:8]}"
    spec = f"image: {sandbox.image}\nname: {name}\n"
    sandbox.write_spec(spec)
    sandbox.ok("execute", "echo kept > /root/state")
    sandbox.ok("commit")
    sandbox.ok("stop")
    repo = f"localhost/podman-sandbox-state-{name}"
    (tag, image_id), = _image_ids(repo + ":").items()
    # The tag the previous version gave it: the key of base image and setup steps, no owner.
    base = json.loads(podman("image", "inspect", image_id).stdout)[0]["Labels"][LABEL_BASE_ID]
    old_key = hashlib.sha256(json.dumps({"base": base, "setup": []}, sort_keys=True).encode())
    legacy = f"{repo}:{old_key.hexdigest()[:16]}"
    podman("tag", image_id, legacy)
    podman("untag", image_id, tag)

    attacker = sandbox.root / "project-a"
    attacker.mkdir()
    sandbox.write_spec(spec, folder=attacker)
    seen = sandbox.ok("execute", "cat /root/state 2>/dev/null || echo none", cwd=attacker)
    assert seen.stdout.strip() == "none"
    sandbox.ok("stop", cwd=attacker)
    assert _image_ids(legacy) == {legacy: image_id}  # left alone

    status = json.loads(sandbox.ok("status", "--json").stdout)
    assert legacy in status["other_owners_state"]  # listed until it is adopted
    assert sandbox.ok("execute", "cat /root/state").stdout.strip() == "kept"  # adopted, used
    tags = _image_ids(repo + ":")
    assert legacy not in tags and image_id in tags.values()

"""Committed state against a real Podman: the undo copy survives commits of nothing,
a state made on another image or setup is kept and said to be unused, and a long
layer chain is squashed before Podman would refuse to run it."""

from __future__ import annotations

import json

from harness import podman


def spec(image: str, *, setup=(), extra: str = "") -> str:
    lines = [f"image: {image}"]
    if setup:
        lines.append("setup:")
        lines += [f"  - {json.dumps(step)}" for step in setup]
    return "\n".join(lines) + "\n" + extra


def name_of(sandbox) -> str:
    names = [n for c in sandbox.containers() for n in c.get("Names") or ()]
    assert len(names) == 1, names
    return names[0]


def files(image: str, folder: str = "/root") -> list[str]:
    """The files in folder of an image, from a container of its own (no converge)."""
    return podman("run", "--rm", "--entrypoint", "ls", image, folder).stdout.split()


def image_id(ref: str) -> str | None:
    out = podman("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return out.stdout.strip() if out.returncode == 0 else None


def layers(ref: str) -> int:
    return int(podman("image", "inspect", "--format", "{{len .RootFS.Layers}}", ref).stdout)


def status(sandbox) -> dict:
    return json.loads(sandbox.ok("status", "--json").stdout)


# ------------------------------------------------------------------ nothing to commit

def test_commit_with_nothing_new_fails_and_keeps_the_undo_copy(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "echo a > /root/a")
    tag = sandbox.ok("commit").stdout.strip()
    sandbox.ok("execute", "echo b > /root/b")
    assert sandbox.ok("commit").stdout.strip() == tag
    before = (image_id(tag), image_id(tag + "-prev"))

    third = sandbox.run("commit")
    assert third.returncode == 1, third
    assert third.stdout == ""
    assert f"nothing to commit: no changes since {tag}" in third.stderr
    assert "Traceback" not in third.stderr
    # The undo copy still holds the first commit, the state both files.
    assert (image_id(tag), image_id(tag + "-prev")) == before
    assert files(tag + "-prev") == ["a"]
    assert files(tag) == ["a", "b"]
    # A real change commits again, and only then does -prev move.
    sandbox.ok("execute", "echo c > /root/c")
    assert sandbox.ok("commit").stdout.strip() == tag
    assert files(tag + "-prev") == ["a", "b"] and files(tag) == ["a", "b", "c"]


def test_commit_of_a_fresh_sandbox_has_nothing_to_commit(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "true")
    name = name_of(sandbox)
    result = sandbox.run("commit")
    assert result.returncode == 1
    assert f"nothing to commit: no changes since {name} was created" in result.stderr
    assert status(sandbox)["committed_state"] == []


def test_auto_commit_stop_with_nothing_new_keeps_the_undo_copy(sandbox):
    sandbox.write_spec(spec(sandbox.image, extra="auto_commit: true\n"))
    sandbox.ok("execute", "echo a > /root/a")
    first = sandbox.ok("stop")
    assert "auto-commit: state saved as" in first.stderr
    sandbox.ok("execute", "echo b > /root/b")
    sandbox.ok("stop")
    data = status(sandbox)
    [current], [previous] = data["committed_state"], data["previous_state"]
    tag = current["tag"]
    assert previous["tag"] == tag + "-prev"
    before = (image_id(tag), image_id(tag + "-prev"))

    sandbox.ok("execute", "cat /root/a /root/b")  # from the state; changes nothing
    stopped = sandbox.ok("stop")
    assert f"auto-commit: nothing new to commit (no changes since {tag})" in stopped.stderr
    assert "state saved as" not in stopped.stderr
    assert sandbox.containers() == []
    assert (image_id(tag), image_id(tag + "-prev")) == before
    assert files(tag + "-prev") == ["a"] and files(tag) == ["a", "b"]


# ------------------------------------------------------------------ state of another setup

def test_state_of_the_old_setup_is_named_kept_and_used_again(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "echo pkg > /root/pkg")
    tag = sandbox.ok("commit").stdout.strip()
    assert [(s["tag"], s["in_use"]) for s in status(sandbox)["committed_state"]] == [(tag, True)]
    assert f"Saved state:  {tag} (in use)" in sandbox.ok("status").stdout

    # A new setup step: a new key, so the new container does not start from the state.
    step = f"echo set > /root/set # {sandbox.root.name}"
    sandbox.write_spec(spec(sandbox.image, setup=[step]))
    note = (f"committed state {tag} was made on the old image/setup and is not used by the new "
            "sandbox; it is kept (switch back to use it, `podman-sandbox reset` removes it)")
    plan = sandbox.run("plan")
    assert plan.returncode == 0, plan
    assert f"     note: {note}" in plan.stdout.splitlines()
    planned = json.loads(sandbox.ok("plan", "--json").stdout)
    assert [a["notes"] for a in planned["actions"] if a["kind"] == "replace"] == [[note]]

    applied = sandbox.ok("apply")
    assert note in applied.stderr
    assert sandbox.ok("execute", "cat /root/set; test -e /root/pkg || echo no-pkg").stdout == "set\nno-pkg\n"
    data = status(sandbox)
    assert [(s["tag"], s["in_use"]) for s in data["committed_state"]] == [(tag, False)]
    human = sandbox.ok("status").stdout
    assert "Saved state:  none for this image and setup" in human
    assert f"Other saved states: {tag} (made on another image or setup" in human
    assert image_id(tag) is not None  # kept, not destroyed

    # Back to the old setup: the committed file is back, and the state in use again.
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    assert sandbox.ok("execute", "cat /root/pkg").stdout == "pkg\n"
    assert [(s["tag"], s["in_use"]) for s in status(sandbox)["committed_state"]] == [(tag, True)]


# ------------------------------------------------------------------ layer chain

def test_a_long_layer_chain_is_squashed_before_a_container_is_made_from_it(sandbox):
    """Every commit of a container made from a state adds a layer; overlay runs at most
    128. The threshold is lowered here (default 100) to reach it in two cycles."""
    sandbox.env["PODMAN_SANDBOX_SQUASH_AT_LAYERS"] = "3"
    sandbox.write_spec(spec(sandbox.image))
    base_layers = layers(sandbox.image)
    assert base_layers == 1
    for i in (1, 2):
        sandbox.ok("execute", f"echo {i} > /root/f{i}")
        tag = sandbox.ok("commit").stdout.strip()
        sandbox.ok("stop")
        assert layers(tag) == base_layers + i
    long_id = image_id(tag)
    previous = image_id(tag + "-prev")

    started = sandbox.run("execute", "cat /root/f1 /root/f2")
    assert started.returncode == 0, started
    assert started.stdout == "1\n2\n"
    assert f"squashing the saved state {tag} (3 layers) into one" in started.stderr
    assert layers(tag) == 1
    name = name_of(sandbox)
    assert layers(sandbox.inspect(name)["Image"]) == 1
    assert sandbox.inspect(name)["Image"] == image_id(tag)
    assert image_id(long_id) is None  # the long chain's image is gone
    assert image_id(tag + "-prev") == previous  # the undo copy is untouched
    labels = podman("image", "inspect", "--format", "json", tag).stdout
    assert json.loads(labels)[0]["Labels"]["io.podman-sandbox.managed"] == "true"
    assert [c for c in podman("ps", "-a", "--format", "{{.Names}}").stdout.split()
            if c.startswith(name + "-")] == []
    # The new container's changes are measured exactly against the squashed state.
    assert "nothing to commit" in sandbox.run("commit").stderr
    sandbox.ok("execute", "echo 3 > /root/f3")
    sandbox.ok("commit")
    assert layers(tag) == 2 and files(tag) == ["f1", "f2", "f3"]


def test_squash_on_replace_removes_the_old_image_once_the_old_container_is_gone(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "echo 1 > /root/f1")
    tag = sandbox.ok("commit").stdout.strip()
    sandbox.ok("stop")
    sandbox.ok("execute", "true")  # running, made from the 2-layer state (default threshold)
    old = image_id(tag)
    assert sandbox.inspect(name_of(sandbox))["Image"] == old and layers(tag) == 2

    sandbox.env["PODMAN_SANDBOX_SQUASH_AT_LAYERS"] = "2"
    sandbox.write_spec(spec(sandbox.image, extra="env:\n  CHANGED: 'yes'\n"))
    applied = sandbox.ok("apply")
    assert "squashing the saved state" in applied.stderr
    assert layers(tag) == 1
    assert sandbox.ok("execute", "echo $CHANGED; cat /root/f1").stdout == "yes\n1\n"
    assert image_id(old) is None

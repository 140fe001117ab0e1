"""Setup that follows the project (issue 11), on real Podman: `inputs:` re-run the
steps when a file they read changes (never after a touch, never served stale by the
fast path), the steps see the sandbox's mounts and env, derived files never block an
apply, and a rebuild removes the setup image it replaced (`gc` finds superseded ones).
"""

from __future__ import annotations

import json
import os
import time

from harness import podman

REFUSED = 123


def _spec(image: str, steps, extra: str = "") -> str:
    lines = [f"image: {image}", "setup:"] + [f"  - {json.dumps(s)}" for s in steps]
    return "\n".join(lines) + "\n" + extra


def _runs(sandbox) -> int:
    path = sandbox.project / "setup-runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _setup_images(sandbox) -> set[str]:
    out = podman("images", "--format", "json", "--filter",
                 "reference=localhost/podman-sandbox-setup", check=False).stdout
    return {t for img in json.loads(out or "[]") or []
            if (img.get("Labels") or {}).get("io.podman-sandbox.project") == str(sandbox.project)
            for t in img.get("Names") or ()}


READS_REQS = ("echo run >> /workspace/setup-runs", "cp /workspace/requirements.txt /root/reqs")


def test_a_step_reading_requirements_reruns_after_an_edit_not_after_a_touch(sandbox):
    reqs = sandbox.project / "requirements.txt"
    reqs.write_text("attrs\n")
    sandbox.write_spec(_spec(sandbox.image, READS_REQS, "inputs:\n  - requirements.txt\n"))
    assert sandbox.ok("execute", "cat /root/reqs").stdout == "attrs\n"
    assert _runs(sandbox) == 1
    assert sandbox.ok("execute", "true") and _runs(sandbox) == 1  # the fast path

    later = time.time() + 5
    os.utime(reqs, (later, later))  # a touch: same content
    assert sandbox.run("plan", "--exit-code").returncode == 0
    assert sandbox.ok("execute", "cat /root/reqs").stdout == "attrs\n"
    assert _runs(sandbox) == 1

    reqs.write_text("attrs\npytest\n")
    plan = sandbox.run("plan", "--exit-code")
    assert plan.returncode == 2, plan
    assert "setup: requirements.txt changed" in plan.stdout and "rebuild" in plan.stdout, plan.stderr
    status = sandbox.ok("status")
    assert "In sync:" in status.stdout and "In sync:      yes" not in status.stdout, status.stdout
    # execute is never served stale: the record's stat check sends it to the full path.
    assert sandbox.ok("execute", "cat /root/reqs").stdout == "attrs\npytest\n"
    assert _runs(sandbox) == 2
    assert sandbox.run("plan", "--exit-code").returncode == 0


def test_the_fast_path_notices_an_input_change_without_a_plan_first(sandbox):
    reqs = sandbox.project / "requirements.txt"
    reqs.write_text("one\n")
    sandbox.write_spec(_spec(sandbox.image, READS_REQS, "inputs:\n  - requirements.txt\n"))
    sandbox.ok("execute", "true")
    sandbox.ok("execute", "true")  # a record now serves execute
    reqs.write_text("two\n")  # same size: only the stat data and the content differ
    assert sandbox.ok("execute", "cat /root/reqs").stdout == "two\n"
    assert _runs(sandbox) == 2


def test_setup_steps_see_a_read_only_mount_and_an_env_value(sandbox):
    shared = sandbox.root / "certs"
    shared.mkdir()
    (shared / "ca.pem").write_text("the CA\n")
    steps = ("cp /certs/ca.pem /root/ca-seen",
             "echo \"$APP_ENV\" > /root/env-seen",
             "touch /certs/x 2>/dev/null && echo rw > /root/mode || echo ro > /root/mode")
    sandbox.write_spec(_spec(sandbox.image, steps,
                             f"env:\n  APP_ENV: testing\nmounts:\n  - source: {shared}\n"
                             "    target: /certs\n"))
    sandbox.ok("apply", "--allow")
    seen = sandbox.ok("execute", "cat /root/ca-seen /root/env-seen /root/mode").stdout
    assert seen == "the CA\ntesting\nro\n"
    assert not (shared / "x").exists()


def test_derived_files_never_block_an_apply_but_real_changes_do(sandbox):
    step = "echo one > /root/step"
    sandbox.write_spec(_spec(sandbox.image, (step,)))
    sandbox.ok("apply")
    # What running a test suite leaves: bytecode under site-packages, /tmp, a cache.
    sandbox.ok("execute", "mkdir -p /usr/lib/python3/site-packages/pkg/__pycache__ /root/.cache/pip "
                          "&& touch /usr/lib/python3/site-packages/pkg/__pycache__/m.cpython-311.pyc "
                          "/root/.cache/pip/x /tmp/t")
    sandbox.write_spec(_spec(sandbox.image, ("echo two > /root/step",)))
    assert sandbox.ok("apply")
    assert sandbox.ok("execute", "cat /root/step").stdout == "two\n"

    sandbox.ok("execute", "mkdir -p /opt/work && echo mine > /opt/work/file")
    sandbox.write_spec(_spec(sandbox.image, ("echo three > /root/step",)))
    refused = sandbox.run("apply")
    assert refused.returncode == REFUSED, refused
    assert "/opt" in refused.stderr, refused.stderr


def test_ignore_changes_extends_the_derived_list(sandbox):
    sandbox.write_spec(_spec(sandbox.image, ("echo one > /root/step",),
                             "ignore_changes:\n  - /opt/build-cache\n"))
    sandbox.ok("apply")
    sandbox.ok("execute", "mkdir -p /opt/build-cache && touch /opt/build-cache/obj")
    sandbox.write_spec(_spec(sandbox.image, ("echo two > /root/step",),
                             "ignore_changes:\n  - /opt/build-cache\n"))
    sandbox.ok("apply")


def test_a_rebuild_removes_the_setup_image_it_replaced_and_gc_finds_superseded_ones(sandbox):
    sandbox.write_spec(_spec(sandbox.image, ("echo one > /root/step",)))
    sandbox.ok("apply")
    first = _setup_images(sandbox)
    assert len(first) == 1
    sandbox.write_spec(_spec(sandbox.image, ("echo two > /root/step",)))
    applied = sandbox.ok("apply")
    second = _setup_images(sandbox)
    assert len(second) == 1 and second != first, applied.stderr
    assert "remove-replaced: the new sandbox no longer uses" in applied.stderr  # as planned

    # One left behind by hand (an interrupted run, an older version): gc finds it.
    image_id = json.loads(podman("image", "inspect", next(iter(second))).stdout)[0]["Id"]
    stale = next(iter(second)).rsplit("-", 1)[0] + "-0123456789abcdef"
    podman("tag", image_id, stale)
    sandbox.write_spec(_spec(sandbox.image, ("echo three > /root/step",)))
    sandbox.ok("apply")
    left = _setup_images(sandbox)
    assert stale in left  # still tagged on the image it shares with nothing running now
    found = json.loads(sandbox.ok("gc", "--json", "--under", str(sandbox.root)).stdout)
    names = {o["name"] for o in found["orphans"] if o["kind"] == "setup-image"}
    assert stale in names, found
    sandbox.ok("gc", "--yes", "--under", str(sandbox.root))
    assert stale not in _setup_images(sandbox)
    assert sandbox.ok("execute", "cat /root/step").stdout == "three\n"
    status = json.loads(sandbox.ok("status", "--json").stdout)
    assert status["images"]["count"] >= 1 and status["images"]["size"] > 0

    # With no sandbox running, the newest setup result is kept: the next start needs it.
    sandbox.ok("stop")
    found = json.loads(sandbox.ok("gc", "--json", "--under", str(sandbox.root)).stdout)
    assert not [o for o in found["orphans"] if o["project"] == str(sandbox.project)], found

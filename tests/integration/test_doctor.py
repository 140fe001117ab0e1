"""`podman-sandbox doctor` on this host: it names the fix where Podman needs one, the
fix it prints makes it pass, and it leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import subprocess

from harness import podman


def probe_images() -> list[str]:
    out = podman("images", "--format", "json", "--filter",
                 "reference=localhost/podman-sandbox/doctor-probe", check=False).stdout
    return [i["Id"] for i in json.loads(out or "[]") or []]


def host_needs_the_fix(image: str) -> bool:
    """Whether a plain `podman run` fails here without a CONTAINERS_CONF (this CI host: yes)."""
    env = {k: v for k, v in os.environ.items() if k != "CONTAINERS_CONF"}
    return subprocess.run(["podman", "run", "--rm", image, "true"], env=env,
                          capture_output=True).returncode != 0


def printed_conf(text: str) -> str:
    """The containers.conf block doctor printed (indented under 'containers.conf:')."""
    block = text.split("containers.conf:\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if not line.startswith("          "):
            break
        lines.append(line.strip())
    return "\n".join(lines) + "\n"


def test_doctor_passes_on_a_configured_host(sandbox):
    before = probe_images()
    result = sandbox.run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^ok +podman \d+\.\d+", result.stdout, re.M)
    assert "ok    a probe container runs with the sandbox's options" in result.stdout
    assert "ok    Podman's init is catatonit" in result.stdout  # asked as a sandbox starts it
    assert "FAIL" not in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("Sandboxes work here")
    assert probe_images() == before  # the probe image it made is gone


def test_doctor_names_the_fix_on_an_unconfigured_host_and_the_fix_works(sandbox, tmp_path):
    sandbox.env.pop("CONTAINERS_CONF", None)
    before = probe_images()
    result = sandbox.run("doctor")
    assert probe_images() == before
    if not host_needs_the_fix(sandbox.image):
        # A host where Podman works out of the box: nothing to fix.
        assert result.returncode == 0, result.stdout
        return
    assert result.returncode == 122, result.stdout + result.stderr
    assert "FAIL" in result.stdout
    assert "rlimit" in result.stdout or "runc" in result.stdout
    assert "checked: a probe container runs with exactly this containers.conf" in result.stdout
    assert "Traceback" not in result.stderr
    conf = printed_conf(result.stdout)
    assert "default_ulimits" in conf or 'runtime = "runc"' in conf
    # What it printed is the fix: with exactly that file, doctor passes.
    (tmp_path / "containers.conf").write_text(conf)
    sandbox.env["CONTAINERS_CONF"] = str(tmp_path / "containers.conf")
    fixed = sandbox.run("doctor")
    assert fixed.returncode == 0, fixed.stdout
    assert "FAIL" not in fixed.stdout


def test_doctor_with_a_given_image_keeps_it(sandbox):
    result = sandbox.run("doctor", "--image", sandbox.image)
    assert result.returncode == 0, result.stdout
    assert podman("image", "exists", sandbox.image, check=False).returncode == 0


def test_doctor_with_an_image_that_cannot_be_had(sandbox):
    result = sandbox.run("doctor", "--image", "example.invalid/podman-sandbox/nothing:1")
    assert result.returncode == 122
    assert "the probe image example.invalid/podman-sandbox/nothing:1 is not here and cannot be pulled" \
        in result.stdout


def test_doctor_without_podman(sandbox):
    sandbox.env["PATH"] = str(sandbox.root)
    result = sandbox.run("doctor")
    assert result.returncode == 122
    lines = result.stdout.splitlines()
    assert lines[0] == "ok    engine checked: local Podman"  # which engine, then its first check
    assert lines[1].startswith("FAIL  podman is not installed")
    assert "apt-get install podman" in result.stdout
    assert "Traceback" not in result.stderr

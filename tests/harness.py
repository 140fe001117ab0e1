"""What the integration and rootless suites share: running the real CLI in a project
of its own, the test image, and cleanup of exactly what a test made.

Every container podman-sandbox makes carries its project folder as a label;
test projects live under a session root, so cleanup finds a test's own
containers (and their state images) by that label, and nothing else.
"""

from __future__ import annotations

import json
import os
import time
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from podman_sandbox.engine.labels import LABEL_BASE_ID, LABEL_PROJECT
from podman_sandbox.engine.runner import Runner
from podman_sandbox.localimage import build_busybox_image

# The fix for this machine's two Podman quirks (crun on hybrid cgroups, rlimits);
# applied only when a probe container fails without it.
HOST_FIX_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""


def podman(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, **kw)


def podman_major() -> int:
    """The major version of the Podman under test (4 on the host, 5 in tests/podman5/run)."""
    return int(podman("version", "--format", "{{.Client.Version}}").stdout.strip().split(".")[0])


def build_test_image(tag: str, probe_args: tuple[str, ...] = ()) -> str:
    """Import the busybox image as tag and check a container runs (applying the host
    fix when it does not); returns the image id."""
    image_id = build_busybox_image(Runner(), tag)
    probe = podman("run", "--rm", *probe_args, tag, "true", check=False)
    if probe.returncode != 0 and "CONTAINERS_CONF" not in os.environ:
        # The host quirks only show once a container really runs.
        conf = Path(tempfile.mkdtemp(prefix="pstest-conf-")) / "containers.conf"
        conf.write_text(HOST_FIX_CONF)
        os.environ["CONTAINERS_CONF"] = str(conf)
        probe = podman("run", "--rm", *probe_args, tag, "true", check=False)
    assert probe.returncode == 0, f"podman cannot run a container here: {probe.stderr}"
    return image_id


def remove_images(ids: list[str]) -> None:
    """Remove images, children before parents: a state image can be the parent of the
    next commit, and Podman refuses to remove an image with children, even --force."""
    remaining = list(dict.fromkeys(ids))
    while remaining:
        failed = [i for i in remaining if podman("rmi", "--force", i, check=False).returncode != 0]
        if len(failed) == len(remaining):
            return  # no progress: used by something that is not ours
        remaining = failed


def images_json(*filters: str) -> list[dict]:
    """`podman images` rows (each filter one --filter). Podman's listing can fail while
    another process removes an image: it is asked again until it answers, never read as
    "no images" (which would make an image look gone)."""
    args = [a for f in filters for a in ("--filter", f)]
    result = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
        podman("images", "--format", "json", *args, check=False)))
    if not result:
        raise AssertionError(f"podman images {' '.join(args)} never answered")
    return json.loads(result.stdout or "[]") or []


def _image_ids(*filters: str) -> list[str]:
    return [img["Id"] for img in images_json(*filters)]


def remove_test_image(tag: str, image_id: str) -> None:
    """The test image and every setup/state image built on it."""
    remove_images(_image_ids(f"label={LABEL_BASE_ID}={image_id}") + [image_id])


def folder_for_test(session_root: Path, node_name: str) -> Path:
    """A folder of its own for one test, named after it."""
    return session_root / f"{node_name[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:6]}"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Sandbox:
    """Runs the real podman-sandbox CLI in a subprocess, in a project of its own,
    with its own XDG folders (never the user's ~/.config or ~/.cache)."""

    XDG = (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "run"),
           ("XDG_STATE_HOME", "state"))

    def __init__(self, root: Path, image: str):
        self.root = root
        self.image = image
        self.project = root / "project"
        self.project.mkdir(parents=True)
        self.env = dict(os.environ)
        for var, sub in self.XDG:
            (root / sub).mkdir(mode=0o700)
            self.env[var] = str(root / sub)
        self.env.pop("PODMAN_SANDBOX_FILE", None)
        self.env["PYTHONPATH"] = os.pathsep.join(sys.path)

    def run(self, *args: str, cwd: Path | None = None, input: str | None = None,
            timeout: float = 120) -> Result:
        stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        proc = subprocess.run([sys.executable, "-m", "podman_sandbox", *args],
                              cwd=cwd or self.project, env=self.env, capture_output=True,
                              text=True, timeout=timeout, **stdin)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, **kw) -> Result:
        result = self.run(*args, **kw)
        assert result.returncode == 0, f"{args} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def write_spec(self, text: str, folder: Path | None = None) -> Path:
        path = (folder or self.project) / "sandbox.yaml"
        path.write_text(text)
        return path

    def containers(self) -> list[dict]:
        out = podman("ps", "--all", "--format", "json", "--filter", f"label={LABEL_PROJECT}",
                     check=False).stdout
        return [c for c in json.loads(out or "[]") or []
                if (c.get("Labels") or {}).get(LABEL_PROJECT, "").startswith(str(self.root))]

    def inspect(self, name: str) -> dict:
        return json.loads(podman("inspect", name).stdout)[0]

    def cleanup(self) -> None:
        names = []
        for c in self.containers():
            names.extend(c.get("Names") or [])
            podman("rm", "--force", "--time", "0", c["Id"], check=False)
        remove_images([i for name in names
                       for i in _image_ids(f"reference=localhost/podman-sandbox-state-{name.lower()}")])


def memory_limit_in_container(sandbox: Sandbox, cwd: Path | None = None) -> int:
    """The limit the kernel enforces, read from the cgroup inside the sandbox."""
    out = sandbox.ok("execute", "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                     "cat /sys/fs/cgroup/memory/memory.limit_in_bytes", cwd=cwd).stdout.strip()
    return int(out) if out != "max" else -1


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.05):
    """Poll predicate until it is true or timeout seconds pass; its last value. A condition,
    not a fixed sleep: a loaded machine only makes it wait longer (the timeout is for a
    condition that never comes, so it is generous; only a failing test waits it out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()

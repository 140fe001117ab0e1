"""Integration fixtures: a real Podman, an image built here from the host's busybox,
and cleanup of exactly what the tests made (by label and name), nothing else.

Each test gets its own XDG folders (never the user's ~/.config or ~/.cache)
and its own project folders under a session root; every container the tool
makes carries the project path as a label, so cleanup finds them by it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from podman_sandbox.engine.runner import Runner
from podman_sandbox.localimage import build_busybox_image

SESSION = uuid.uuid4().hex[:8]
IMAGE = f"localhost/podman-sandbox-test/busybox:{SESSION}"
HOST_FIX_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def podman(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, **kw)


@pytest.fixture(scope="session")
def session_root():
    root = Path(tempfile.mkdtemp(prefix=f"pstest-{SESSION}-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def podman_ready():
    """Podman is installed and answers. In CI its absence is a failure, never a skip."""
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is not installed: CI must install it (.ci/run)")
        pytest.skip("podman is not installed")
    info = podman("info", "--format", "json", check=False)
    assert info.returncode == 0, f"podman does not work here: {info.stderr}"
    return True


@pytest.fixture(scope="session")
def image(podman_ready):
    """The test image, built from busybox; removed with every image built on it."""
    image_id = build_busybox_image(Runner(), IMAGE)
    probe = podman("run", "--rm", IMAGE, "true", check=False)
    if probe.returncode != 0 and "CONTAINERS_CONF" not in os.environ:
        # The host quirks only show once a container really runs.
        conf = Path(tempfile.mkdtemp(prefix="pstest-conf-")) / "containers.conf"
        conf.write_text(HOST_FIX_CONF)
        os.environ["CONTAINERS_CONF"] = str(conf)
        probe = podman("run", "--rm", IMAGE, "true", check=False)
    assert probe.returncode == 0, f"podman cannot run a container here: {probe.stderr}"
    yield IMAGE
    for img in _images_built_on(image_id):
        podman("rmi", "--force", img, check=False)
    podman("rmi", "--force", IMAGE, check=False)


def _images_built_on(base_id: str) -> list[str]:
    out = podman("images", "--format", "json", "--filter",
                 f"label=io.podman-sandbox.base-id={base_id}", check=False).stdout
    return [i["Id"] for i in json.loads(out or "[]") or []]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Sandbox:
    """Runs the real podman-sandbox CLI in a subprocess, in a project of its own."""

    def __init__(self, root: Path, image: str):
        self.root = root
        self.image = image
        self.project = root / "project"
        self.project.mkdir(parents=True)
        self.env = dict(os.environ)
        for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"),
                         ("XDG_RUNTIME_DIR", "run")):
            (root / sub).mkdir(mode=0o700)
            self.env[var] = str(root / sub)
        self.env.pop("PODMAN_SANDBOX_FILE", None)
        self.env["PYTHONPATH"] = os.pathsep.join(sys.path)

    def run(self, *args: str, cwd: Path | None = None, input: str | None = None,
            timeout: float = 120) -> Result:
        proc = subprocess.run([sys.executable, "-m", "podman_sandbox", *args],
                              cwd=cwd or self.project, env=self.env, input=input,
                              capture_output=True, text=True, timeout=timeout)
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
        out = podman("ps", "--all", "--format", "json", "--filter",
                     f"label=io.podman-sandbox.project", check=False).stdout
        return [c for c in json.loads(out or "[]") or []
                if (c.get("Labels") or {}).get("io.podman-sandbox.project", "").startswith(str(self.root))]

    def inspect(self, name: str) -> dict:
        return json.loads(podman("inspect", name).stdout)[0]

    def cleanup(self) -> None:
        names = []
        for c in self.containers():
            names.extend(c.get("Names") or [])
            podman("rm", "--force", "--time", "0", c["Id"], check=False)
        for name in names:
            repo = f"localhost/podman-sandbox-state-{name.lower()}"
            out = podman("images", "--format", "json", "--filter", f"reference={repo}", check=False).stdout
            for img in json.loads(out or "[]") or []:
                podman("rmi", "--force", img["Id"], check=False)


@pytest.fixture
def sandbox(image, session_root, request):
    root = session_root / f"{request.node.name[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:6]}"
    box = Sandbox(root, image)
    yield box
    box.cleanup()


def memory_limit_in_container(sandbox: Sandbox, cwd: Path | None = None) -> int:
    """The limit the kernel enforces, read from the cgroup inside the sandbox."""
    out = sandbox.ok("execute", "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                     "cat /sys/fs/cgroup/memory/memory.limit_in_bytes", cwd=cwd).stdout.strip()
    return int(out) if out != "max" else -1

"""Rootless fixtures: the real CLI and a real rootless Podman, as an unprivileged user.

These tests must run as an ordinary user (they check what rootless Podman
does). As root they are skipped; `tests/rootless/run` (as root) makes a user
and runs them as it, which is what CI does:

    sudo tests/rootless/run                       # or, as an ordinary user:
    .venv/bin/python -m pytest -p no:cacheprovider tests/rootless

The image is built as the user, in the user's own Podman storage, from the
host's static busybox (`podman import`, no registry). Each test gets its own
project folder and its own podman-sandbox config/cache folders; cleanup
removes only the containers and images the tests made.

Unlike the root suite, XDG_RUNTIME_DIR stays the user's own: rootless Podman
keeps its run root there and refuses a store opened with another one. The
per-test XDG_CONFIG_HOME links the user's containers/ settings (storage.conf)
for the same reason.
"""

from __future__ import annotations

import json
import os
import re
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
IMAGE = f"localhost/podman-sandbox-rootless-test/busybox:{SESSION}"
HOST_FIX_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""
HOW_TO_RUN = ("rootless tests run as an unprivileged user: `sudo tests/rootless/run`, "
              "or as an ordinary user `.venv/bin/python -m pytest tests/rootless`")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/rootless/" in str(item.fspath):
            item.add_marker(pytest.mark.rootless)


def podman(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, **kw)


def _unavailable(reason: str):
    """In CI a rootless suite that cannot run is a failure, never a quiet skip."""
    if os.environ.get("CI") and os.geteuid() != 0:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rootless_podman():
    """An unprivileged user whose Podman works rootless."""
    if os.geteuid() == 0:
        pytest.skip(HOW_TO_RUN)
    if shutil.which("podman") is None:
        _unavailable("podman is not installed")
    info = podman("info", "--format", "json", check=False)
    if info.returncode != 0:
        _unavailable(f"rootless podman does not work for this user: {info.stderr.strip()}")
    data = json.loads(info.stdout)
    assert data["host"]["security"]["rootless"] is True
    return data


@pytest.fixture(scope="session")
def session_root():
    root = Path(tempfile.mkdtemp(prefix=f"psrootless-{SESSION}-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def image(rootless_podman):
    """The test image, imported as this user; removed with every image built on it."""
    image_id = build_busybox_image(Runner(), IMAGE)
    # --network none: the default rootless network may not work here (its own test).
    probe = podman("run", "--rm", "--network", "none", IMAGE, "true", check=False)
    if probe.returncode != 0 and "CONTAINERS_CONF" not in os.environ:
        # The host quirks (crun, rlimits) only show once a container really runs.
        conf = Path(tempfile.mkdtemp(prefix="psrootless-conf-")) / "containers.conf"
        conf.write_text(HOST_FIX_CONF)
        os.environ["CONTAINERS_CONF"] = str(conf)
        probe = podman("run", "--rm", "--network", "none", IMAGE, "true", check=False)
    assert probe.returncode == 0, f"rootless podman cannot run a container here: {probe.stderr}"
    yield IMAGE
    out = podman("images", "--format", "json", "--filter",
                 f"label=io.podman-sandbox.base-id={image_id}", check=False).stdout
    for img in json.loads(out or "[]") or []:
        podman("rmi", "--force", img["Id"], check=False)
    podman("rmi", "--force", IMAGE, check=False)


def _podman_settings(dest: Path, store: dict) -> None:
    """The user's Podman settings, seen through a test's own XDG_CONFIG_HOME.

    With XDG_CONFIG_HOME set, Podman 4.3's `commit` fails with "runroot must be
    set" when storage.conf names a driver but no runroot/graphroot: the copy
    gets both, from `podman info`, so the store stays the user's own.
    """
    user = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "containers"
    if not user.is_dir():
        return
    dest.mkdir()
    for entry in user.iterdir():
        if entry.name != "storage.conf":
            (dest / entry.name).symlink_to(entry)
    conf = user / "storage.conf"
    if not conf.is_file():
        return
    text = conf.read_text()
    missing = "".join(f'{key} = "{store[info]}"\n'
                      for key, info in (("runroot", "runRoot"), ("graphroot", "graphRoot"))
                      if not re.search(rf"^[ \t]*{key}[ \t]*=", text, re.M))
    if missing:
        header = re.search(r"^[ \t]*\[storage\][ \t]*$", text, re.M)
        text = (text[:header.end()] + "\n" + missing + text[header.end() + 1:] if header
                else "[storage]\n" + missing + text)
    (dest / "storage.conf").write_text(text)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Sandbox:
    """Runs the real podman-sandbox CLI in a subprocess, in a project of its own."""

    def __init__(self, root: Path, image: str, store: dict):
        self.root = root
        self.image = image
        self.project = root / "project"
        self.project.mkdir(parents=True)
        self.env = dict(os.environ)
        for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache")):
            (root / sub).mkdir(mode=0o700)
            self.env[var] = str(root / sub)
        _podman_settings(root / "config" / "containers", store)
        self.env.pop("PODMAN_SANDBOX_FILE", None)
        self.env["PYTHONPATH"] = os.pathsep.join(sys.path)

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 120) -> Result:
        proc = subprocess.run([sys.executable, "-m", "podman_sandbox", *args],
                              cwd=cwd or self.project, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, **kw) -> Result:
        result = self.run(*args, **kw)
        assert result.returncode == 0, f"{args} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def write_spec(self, text: str) -> Path:
        path = self.project / "sandbox.yaml"
        path.write_text(text)
        return path

    def containers(self) -> list[dict]:
        out = podman("ps", "--all", "--format", "json", "--filter",
                     "label=io.podman-sandbox.project", check=False).stdout
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
def sandbox(image, session_root, rootless_podman, request):
    root = session_root / f"{request.node.name[:40].replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:6]}"
    box = Sandbox(root, image, rootless_podman["store"])
    yield box
    box.cleanup()

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
import tempfile
import uuid
from pathlib import Path

import pytest
from harness import Sandbox as _Sandbox
from harness import build_test_image, folder_for_test, podman, remove_test_image

SESSION = uuid.uuid4().hex[:8]
IMAGE = f"localhost/podman-sandbox-rootless-test/busybox:{SESSION}"
HOW_TO_RUN = ("rootless tests run as an unprivileged user: `sudo tests/rootless/run`, "
              "or as an ordinary user `.venv/bin/python -m pytest tests/rootless`")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/rootless/" in str(item.fspath):
            item.add_marker(pytest.mark.rootless)


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
    # --network none: the default rootless network may not work here (its own test).
    image_id = build_test_image(IMAGE, ("--network", "none"))
    yield IMAGE
    remove_test_image(IMAGE, image_id)


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


class Sandbox(_Sandbox):
    """The harness's Sandbox, with the user's own runtime dir and Podman settings:
    rootless Podman keeps its run root in XDG_RUNTIME_DIR and refuses a store
    opened with another one."""

    XDG = (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"))

    def __init__(self, root: Path, image: str, store: dict):
        super().__init__(root, image)
        _podman_settings(root / "config" / "containers", store)


@pytest.fixture
def sandbox(image, session_root, rootless_podman, request):
    box = Sandbox(folder_for_test(session_root, request.node.name), image, rootless_podman["store"])
    yield box
    box.cleanup()

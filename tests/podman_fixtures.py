"""The real-Podman fixtures shared by the integration and security suites: a test
image built here from the host's busybox, a project folder per test under a session
root, and cleanup of exactly what each test made (by label and name), nothing else.

Each conftest imports the fixtures it uses from here (tests/ is on pytest's path).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from harness import Sandbox, build_test_image, folder_for_test, podman, remove_test_image

SESSION = uuid.uuid4().hex[:8]
IMAGE = f"localhost/podman-sandbox-test/busybox:{SESSION}"


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
    image_id = build_test_image(IMAGE)
    yield IMAGE
    remove_test_image(IMAGE, image_id)


@pytest.fixture
def sandbox(image, session_root, request):
    box = Sandbox(folder_for_test(session_root, request.node.name), image)
    yield box
    box.cleanup()

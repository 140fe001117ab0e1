"""Unit tests describe a rootful host: the recorded Podman answers came from one.

Pinned so the suite gives the same answers when a developer runs it as an
ordinary user on a cgroup v1 host, where limits are (rightly) not drift.
"""

import pytest

from podman_sandbox.engine import host
from podman_sandbox.schema import spec as spec_module


@pytest.fixture(autouse=True)
def rootful_host(monkeypatch):
    monkeypatch.setattr(host, "is_rootless", lambda: False)


@pytest.fixture(autouse=True)
def no_default_cpu_limit(monkeypatch):
    """The recorded containers were made with no CPU limit: no default here
    (tests/unit/test_default_cpus.py tests the default itself)."""
    monkeypatch.setattr(spec_module, "default_cpus", lambda: None)


@pytest.fixture(autouse=True)
def fake_containers_have_the_checked_mounts(monkeypatch):
    """The fake runner's containers have no /proc/PID/mountinfo to read: the check of a
    started container's mounts (mountcheck.verify) is tested on its own, with text."""
    from podman_sandbox.engine import mountcheck
    monkeypatch.setattr(mountcheck, "verify", lambda pid, expected: [])


@pytest.fixture(autouse=True)
def no_podman_api_socket(monkeypatch):
    """Stand-in podmans serve exec here: a Podman API socket on this machine must not
    (engine/restexec.py)."""
    monkeypatch.setenv("PODMAN_SANDBOX_REST", "0")

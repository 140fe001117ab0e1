"""Security fixtures: attacks on the sandbox, driven against a real Podman.

Code inside the sandbox and other local users are the adversaries. Each test
here is one attack; it passes when the attack fails. Where a scenario needs
another local user, `other_user` makes one (as the rootless suite does) and
`as_user` runs a command as it. Cleanup removes only what a test made.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from podman_fixtures import image, podman_ready, sandbox, session_root  # noqa: F401 - fixtures

OTHER_USER = "podman-sandbox-attacker"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/security/" in str(item.fspath):
            item.add_marker(pytest.mark.security)


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: str

    def run(self, *argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        """argv as this user (runuser: no password, no shell on our side)."""
        return subprocess.run(["runuser", "-u", self.name, "--", *argv], capture_output=True,
                              text=True, check=check, **kw)


@pytest.fixture(scope="session")
def other_user() -> User:
    """Another local user (made with useradd when missing). Needs root, as CI runs."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the security suite runs as root in CI (it makes another local user)")
        pytest.skip("needs root: makes another local user")
    try:
        entry = pwd.getpwnam(OTHER_USER)
    except KeyError:
        assert shutil.which("useradd"), "useradd is missing"
        subprocess.run(["useradd", "-m", OTHER_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(OTHER_USER)
    return User(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


HOST_SECRET = "host secret"


@pytest.fixture
def outside():
    """A host folder outside every project, with a marker file: the prize of an attack
    (it must never show up in a sandbox)."""
    folder = Path(tempfile.mkdtemp(prefix="pstest-outside-"))
    (folder / "marker").write_text(HOST_SECRET + "\n")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)

"""Integration fixtures: a real Podman, an image built here from the host's busybox,
and cleanup of exactly what the tests made (by label and name), nothing else.

Each test gets its own XDG folders (never the user's ~/.config or ~/.cache)
and its own project folders under a session root; every container the tool
makes carries the project path as a label, so cleanup finds them by it.
"""

from __future__ import annotations

import pytest
from podman_fixtures import image, podman_ready, sandbox, session_root  # noqa: F401 - fixtures


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)

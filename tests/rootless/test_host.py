"""engine/host.py on the real user the rootless suite runs as: the prerequisites doctor
checks (the pure helpers are tested in tests/unit/test_host_facts.py)."""

from __future__ import annotations

import os

from podman_sandbox.engine import host


def test_the_suites_user_has_the_rootless_prerequisites(rootless_podman):
    """What doctor checks, on the real user the rootless suite runs as."""
    assert host.is_rootless()
    assert host.subid_problem() is None, host.subid_problem()
    assert host.idmap_tools_problem() is None
    assert host.runtime_dir_problem() is None, host.runtime_dir_problem()
    driver = host.storage_driver_from_info(rootless_podman)
    assert driver in ("vfs", "overlay", "btrfs", "zfs")
    assert (host.storage_driver_note(driver) is not None) == (driver == "vfs")
    assert host.tun_usable() == os.access(host.TUN_DEVICE, os.R_OK | os.W_OK)
    assert (host.tun_problem() is None) == host.tun_usable()

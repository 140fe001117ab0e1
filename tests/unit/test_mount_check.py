"""engine/mountcheck.py without Podman: the check at create, and the comparison of a
started container's /proc/PID/mountinfo with what was checked."""

from __future__ import annotations

import os

import pytest

from podman_sandbox.engine import mountcheck
from podman_sandbox.engine.desired import Desired
from podman_sandbox.errors import RefusedError
from podman_sandbox.schema.spec import build_spec

HOST = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:40 /sub /srv/with\\040space rw - tmpfs tmpfs rw
"""


def test_expected_source_from_the_host_mount_table():
    e = mountcheck._expect("/data", "/home/u/p/data", HOST)
    assert (e.device, e.fs_path) == ("254:0", "/home/u/p/data")
    e = mountcheck._expect("/x", "/srv/with space/a", HOST)
    assert (e.device, e.fs_path) == ("0:40", "/sub/a")


def test_a_different_folder_at_the_target_is_a_mismatch():
    want = [mountcheck._expect("/data", "/home/u/p/data", HOST)]
    good = "300 299 254:0 /home/u/p/data /data ro - ext4 /dev/vda rw\n"
    swapped = "300 299 254:0 / /data ro - ext4 /dev/vda rw\n"  # ./data became a link to /
    assert mountcheck.mismatches(want, good) == []
    assert "different folder" in mountcheck.mismatches(want, swapped)[0]
    assert "no mount found" in mountcheck.mismatches(want, "")[0]
    # A later mount over the same point is what the sandbox sees.
    assert mountcheck.mismatches(want, good + swapped)


def _desired(tmp_path, **doc):
    spec = build_spec({"image": "img", **doc}, project_dir=str(tmp_path),
                      source=str(tmp_path / "sandbox.yaml"), mode="project")
    return Desired.from_spec(spec)


def test_a_source_in_the_project_that_now_points_outside_is_refused(tmp_path):
    outside = tmp_path.parent / (tmp_path.name + "-outside")
    outside.mkdir()
    (tmp_path / "data").mkdir()
    want = _desired(tmp_path, mounts=[{"source": "./data", "target": "/data"}])
    assert [e.target for e in mountcheck.check(want.spec, want.container)] == ["/workspace", "/data"]
    (tmp_path / "data").rmdir()
    (tmp_path / "data").symlink_to(outside)
    with pytest.raises(RefusedError) as refused:
        mountcheck.check(want.spec, want.container)
    assert "mounts[0]" in refused.value.message and str(outside) in refused.value.message


def test_a_source_that_now_points_to_the_host_root_is_refused_even_outside_the_project(tmp_path):
    link = tmp_path.parent / (tmp_path.name + "-link")
    os.symlink(tmp_path, link)
    want = _desired(tmp_path, mounts=[{"source": str(link), "target": "/data"}])
    link.unlink()
    os.symlink("/", link)
    again = Desired.from_spec(want.spec)
    with pytest.raises(RefusedError, match="the whole host"):
        mountcheck.check(again.spec, again.container)


def test_a_source_changed_since_the_plan_is_refused(tmp_path):
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
    (tmp_path / "data").symlink_to("one")
    want = _desired(tmp_path, mounts=[{"source": "./data", "target": "/data"}])
    assert want.container["mounts"][0]["source"] == str(tmp_path / "one")  # the real path
    (tmp_path / "data").unlink()
    (tmp_path / "data").symlink_to("two")
    with pytest.raises(RefusedError, match="changed while the sandbox was being made"):
        mountcheck.check(want.spec, want.container)

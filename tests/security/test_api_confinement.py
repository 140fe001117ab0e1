"""The API's and MCP server's files under /workspace, attacked from inside the sandbox.

/workspace is the project folder on the host, and the API reads and writes it
as the user. Code inside swaps a folder and a file for symlinks to the host's
files as fast as it can while the API reads and writes the same paths: no
read may return the host's file, no write may land outside the project.
"""

from __future__ import annotations

import time
import uuid

import pytest

from podman_sandbox import Sandbox
from podman_sandbox.errors import SandboxError

ROUNDS = 400


@pytest.fixture
def api(sandbox, monkeypatch):
    for var, _ in sandbox.XDG:
        monkeypatch.setenv(var, sandbox.env[var])
    monkeypatch.delenv("PODMAN_SANDBOX_FILE", raising=False)
    sandbox.write_spec(f"image: {sandbox.image}\nname: pstest-conf-{uuid.uuid4().hex[:10]}\n")
    return Sandbox(sandbox.project)


def _race(api, script: str, attempt) -> list:
    """Run script in the sandbox (in the background, until it is stopped) and call attempt()
    ROUNDS times meanwhile; what each attempt returned (errors as None)."""
    racer = api.stream(script, timeout=120)
    chunks = iter(racer)
    assert next(chunks) == ("stdout", b"racing\n")  # the swapping has begun
    seen = []
    try:
        for _ in range(ROUNDS):
            try:
                seen.append(attempt())
            except SandboxError:
                seen.append(None)
    finally:
        racer.close()
    return seen


def test_a_folder_swapped_for_a_symlink_never_leads_out(api, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"host secret")
    # Inside, d is a real folder one moment and a symlink to the host's folder the next.
    script = (f"mkdir -p real; echo inside > real/secret; echo racing; "
              f"while :; do rm -rf d; mkdir d; echo inside > d/secret; rm -rf d; "
              f"ln -s {outside} d; done")
    reads = _race(api, script, lambda: api.read_file("d/secret"))
    assert b"host secret" not in reads
    writes = _race(api, script, lambda: api.write_file(f"d/w-{time.monotonic_ns()}", b"x"))
    assert sorted(p.name for p in outside.iterdir()) == ["secret"], "a write landed outside"
    assert None in reads and any(w is not None for w in writes), "the race did not run both ways"
    assert (outside / "secret").read_bytes() == b"host secret"


def test_a_file_swapped_for_a_symlink_is_never_read_or_written_through(api, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret"
    secret.write_bytes(b"host secret")
    script = (f"echo racing; while :; do rm -f f; echo inside > f; rm -f f; ln -s {secret} f; done")
    reads = _race(api, script, lambda: api.read_file("f"))
    assert b"host secret" not in reads
    assert None in reads, "the swapped-in symlink was never met"
    _race(api, script, lambda: api.write_file("f", b"pwned"))
    assert secret.read_bytes() == b"host secret"
    assert [p.name for p in outside.iterdir()] == ["secret"]


def test_a_device_node_made_inside_is_not_read(sandbox, api):
    """A sandbox holds no MKNOD by default (capabilities are pinned), but one the user
    approved (cap_add: [MKNOD]) could make a device node in /workspace: on the host side
    that is the host's device."""
    sandbox.write_spec(f"image: {sandbox.image}\nname: pstest-mknod-{uuid.uuid4().hex[:10]}\n")
    assert api.run("mknod plain-dev c 1 3").exit_code != 0  # the default: no MKNOD
    sandbox.write_spec(f"image: {sandbox.image}\nname: pstest-mknod-{uuid.uuid4().hex[:10]}\n"
                       "cap_add: [MKNOD]\n")
    api.apply(allow=True)
    made = api.run("mknod null-dev c 1 3 && echo made")
    assert made.stdout == b"made\n", made.stderr
    with pytest.raises(SandboxError, match="not a regular file"):
        api.read_file("null-dev")
    with pytest.raises(SandboxError, match="not a regular file"):
        api.write_file("null-dev", b"x")

"""A spec file the host must not read in full, or at all: sandbox.yaml is in /workspace,
which the sandboxed code writes. A huge sparse file, a FIFO or a device named with -f
gives one line and exit 121, quickly, and nothing is started or changed (real Podman).

The CLI runs with its address space capped (RLIMIT_AS): a read of the whole file
fails there at once instead of exhausting the host, so the cap also shows that the
file is never read in full.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

EXIT_SPEC = 121
GUARD = 60  # a guard against a read that never ends, not a speed check
ADDRESS_SPACE = 1 << 30  # far above what the CLI needs, far below a 2 GiB file


def _capped():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def cli(sandbox, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "podman_sandbox", *args], cwd=sandbox.project,
                          env=sandbox.env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=GUARD, preexec_fn=_capped)


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["execute", "true"], ["apply"]])
def test_a_huge_sparse_sandbox_yaml_is_refused_without_reading_it(sandbox, command):
    spec = sandbox.write_spec(f"image: {sandbox.image}\n")
    sandbox.ok("apply")
    [before] = sandbox.containers()
    # What code inside could do to /workspace/sandbox.yaml: 2 GiB, no disk used.
    os.truncate(spec, 2 << 30)
    result = cli(sandbox, *command)
    assert result.returncode == EXIT_SPEC, result
    assert one_line(result) == "podman-sandbox: error: sandbox.yaml: too large (a spec file may hold at most 1 MiB)"
    [after] = sandbox.containers()
    assert (after["Id"], after["State"]) == (before["Id"], "running")


def test_a_fifo_named_with_f_is_refused_without_waiting(sandbox):
    fifo = sandbox.project / "spec.fifo"
    os.mkfifo(fifo)
    result = cli(sandbox, "-f", str(fifo), "execute", "true")
    assert result.returncode == EXIT_SPEC, result
    assert "spec.fifo: not a regular file" in one_line(result)
    assert sandbox.containers() == []


def test_dev_zero_named_with_f_is_refused(sandbox):
    result = cli(sandbox, "-f", "/dev/zero", "execute", "true")
    assert result.returncode == EXIT_SPEC, result
    assert one_line(result) == "podman-sandbox: error: /dev/zero: not a regular file (a FIFO, a device, ...)"
    assert sandbox.containers() == []

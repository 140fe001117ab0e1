"""Attacks through what the setup and the build read from the workspace (issue 11).

Code in the sandbox writes /workspace, which is the project folder on the host: it
can replace a setup input or a file of the build context with a symlink to a host
file, or a FIFO, and it can rewrite the Containerfile. None of it may make the host
side read outside the project, hang, or give a build more than a setup step gets.
"""

from __future__ import annotations

import json

from harness import podman, remove_images

REFUSED = 123


def _spec(sandbox, steps, extra=""):
    lines = [f"image: {sandbox.image}", "setup:"] + [f"  - {json.dumps(s)}" for s in steps]
    sandbox.write_spec("\n".join(lines) + "\n" + extra)


def test_an_input_swapped_for_a_symlink_to_a_host_file_is_refused(sandbox):
    (sandbox.project / "requirements.txt").write_text("attrs\n")
    _spec(sandbox, ("cat /workspace/requirements.txt > /root/reqs",), "inputs:\n  - requirements.txt\n")
    sandbox.ok("execute", "true")
    sandbox.ok("execute", "true")  # served by the fast path from now on
    # Inside the sandbox the link means nothing; on the host it names the host's file.
    sandbox.ok("execute", "rm /workspace/requirements.txt && ln -s /etc/shadow /workspace/requirements.txt")
    refused = sandbox.run("execute", "true")
    assert refused.returncode == REFUSED, refused
    assert "requirements.txt is a symlink to /etc/shadow, outside the project folder" in refused.stderr
    assert "Traceback" not in refused.stderr
    # It never locks you out of your sandbox: status and stop still work.
    assert "Sandbox:" in sandbox.ok("status").stdout
    sandbox.ok("stop")
    assert sandbox.containers() == []


def test_a_folder_input_with_a_planted_link_out_is_refused(sandbox):
    (sandbox.project / "deps").mkdir()
    (sandbox.project / "deps" / "a.txt").write_text("a\n")
    _spec(sandbox, ("true",), "inputs:\n  - deps/\n")
    sandbox.ok("execute", "true")
    sandbox.ok("execute", "ln -s / /workspace/deps/host")
    refused = sandbox.run("execute", "true")
    assert refused.returncode == REFUSED, refused
    assert "deps/host is a symlink to /" in refused.stderr


def test_a_planted_fifo_is_never_opened(sandbox):
    (sandbox.project / "deps").mkdir()
    _spec(sandbox, ("echo built > /root/built",), "inputs:\n  - deps/\n")
    sandbox.ok("execute", "true")
    sandbox.ok("execute", "mkfifo /workspace/deps/pipe")
    # Opening the FIFO would block forever; it is noted as a FIFO and the setup re-runs.
    assert sandbox.ok("execute", "cat /root/built", timeout=90).stdout == "built\n"


def test_a_containerfile_rewritten_from_inside_cannot_ask_for_a_shared_cache(sandbox):
    (sandbox.project / "Containerfile").write_text(f"FROM {sandbox.image}\nRUN echo ok > /ok\n")
    sandbox.write_spec("build: Containerfile\n")
    try:
        assert sandbox.ok("execute", "cat /ok").stdout == "ok\n"
        sandbox.ok("execute", "printf 'FROM %s\\nRUN --mount=type=cache,target=/c,id=pip "
                              "echo planted > /c/wheel\\n' \"$(head -1 /workspace/Containerfile "
                              "| cut -d' ' -f2)\" > /workspace/Containerfile")
        refused = sandbox.run("execute", "true")
        assert refused.returncode == REFUSED, refused
        assert "--mount=type=cache" in refused.stderr
        # A link out of the build context is refused the same way.
        (sandbox.project / "Containerfile").write_text(f"FROM {sandbox.image}\nCOPY . /src\n")
        sandbox.ok("execute", "ln -s /root /workspace/hostroot")
        refused = sandbox.run("execute", "true")
        assert refused.returncode == REFUSED, refused
        assert "hostroot is a symlink to /root" in refused.stderr
    finally:
        sandbox.cleanup()
        out = podman("images", "--format", "json", "--filter",
                     f"label=io.podman-sandbox.project={sandbox.project}", check=False).stdout
        remove_images([img["Id"] for img in json.loads(out or "[]") or []])

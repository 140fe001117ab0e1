"""Red team: the sandbox deletes its own sandbox.yaml.

With no sandbox.yaml above the current folder, podman-sandbox runs in classic
mode: your own config.json governs (no approval needed: you wrote it) and the
current folder is mounted. So code in a project's sandbox removed
/workspace/sandbox.yaml, and your next ordinary `execute` in the project ran
in your classic sandbox, with your config.json's env (a token), its mounts and
its saved state, with the project's code at /workspace. A folder whose
sandbox or saved state is still there (their labels name its sandbox.yaml) is
a project that lost its spec: refused (123), nothing created.
"""

from __future__ import annotations

import json
import uuid

from harness import podman

REFUSED = 123


def test_deleting_sandbox_yaml_from_inside_does_not_fall_back_to_classic(sandbox):
    classic = f"pstest-rtl-{uuid.uuid4().hex[:8]}"
    config = sandbox.root / "config" / "podman-sandbox"
    config.mkdir(mode=0o700)
    (config / "config.json").write_text(json.dumps(
        {"image": sandbox.image, "name": classic, "env": {"CLASSIC_TOKEN": "users-own-secret"}}))
    (config / "config.json").chmod(0o600)
    sandbox.write_spec(f"image: {sandbox.image}\n")
    sandbox.ok("execute", "rm /workspace/sandbox.yaml")  # code in the project's sandbox
    try:
        result = sandbox.run("execute", "echo token=$CLASSIC_TOKEN")
        assert "users-own-secret" not in result.stdout, "the project's code ran in the classic sandbox"
        assert result.returncode == REFUSED, (result.returncode, result.stdout, result.stderr)
        assert "sandbox.yaml is gone" in result.stderr, result.stderr
        assert podman("container", "exists", classic, check=False).returncode != 0
        # Restored, the project's own sandbox serves again.
        sandbox.write_spec(f"image: {sandbox.image}\n")
        assert sandbox.ok("execute", "echo token=$CLASSIC_TOKEN").stdout.strip() == "token="
    finally:
        podman("rm", "--force", "--time", "0", classic, check=False)


def test_classic_mode_in_an_ordinary_folder_still_works(sandbox):
    classic = f"pstest-rtl-{uuid.uuid4().hex[:8]}"
    config = sandbox.root / "config" / "podman-sandbox"
    config.mkdir(mode=0o700)
    (config / "config.json").write_text(json.dumps({"image": sandbox.image, "name": classic}))
    folder = sandbox.root / "plain"
    folder.mkdir()
    try:
        assert sandbox.ok("execute", "pwd", cwd=folder).stdout.strip() == "/workspace"
    finally:
        podman("rm", "--force", "--time", "0", classic, check=False)

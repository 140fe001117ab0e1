"""Red team: `image:` naming another project's saved state or setup result.

`image:` is no grant: any spec may choose its base image. But the images
podman-sandbox makes (saved states, setup results) are a project's own
(engine/ownership.py): another project's sandbox must not start from them,
or it reads what that project saved (a token in /root). Their tags are no
secret: `<owner hash>-<key>`, where the owner hash is a hash of the project's
path and the key a hash of the base image's id (in /run/.containerenv of any
sandbox on that base), the setup steps and the owner. So code in project B
writes `image: localhost/podman-sandbox-state-a:<A's tag>` into B's
sandbox.yaml, and B's next ordinary `execute` must refuse it.
"""

from __future__ import annotations

import json
import uuid

from harness import podman

REFUSED = 123


def _tags(prefix: str) -> list[str]:
    out = podman("images", "--format", "json", check=False).stdout
    return [t for img in json.loads(out or "[]") or [] for t in img.get("Names") or ()
            if t.startswith(prefix)]


def test_spec_image_cannot_name_another_projects_saved_state(sandbox):
    name_a = f"pstest-rti-{uuid.uuid4().hex[:8]}"
    sandbox.write_spec(f"image: {sandbox.image}\nname: {name_a}\nsetup:\n  - 'true'\n")
    sandbox.ok("execute", "echo A-secret > /root/token")
    sandbox.ok("commit")
    states = [t for t in _tags(f"localhost/podman-sandbox-state-{name_a}:") if not t.endswith("-prev")]
    setups = _tags("localhost/podman-sandbox-setup:")
    assert states

    b = sandbox.root / "project-b"
    b.mkdir()
    for stolen in (states[0], *[t for t in setups if podman(
            "image", "inspect", "--format", "{{index .Labels \"io.podman-sandbox.project\"}}", t,
            check=False).stdout.strip() == str(sandbox.project)]):
        sandbox.write_spec(f"image: {stolen}\nname: {name_a}-b\n", folder=b)  # written by code in B
        result = sandbox.run("execute", "cat /root/token 2>/dev/null || echo none", cwd=b)
        assert "A-secret" not in result.stdout, f"B started from A's {stolen}"
        assert result.returncode == REFUSED, (stolen, result.returncode, result.stdout, result.stderr)
        assert str(sandbox.project) in result.stderr, result.stderr
    # A itself still starts from its own state.
    assert sandbox.ok("execute", "cat /root/token").stdout.strip() == "A-secret"

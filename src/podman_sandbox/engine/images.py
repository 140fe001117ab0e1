"""Names of the images podman-sandbox makes.

Layers: base image -> setup image (cached by base image id + setup steps +
owner) -> committed state image (what `commit` saves, one per sandbox and base).
State is keyed by the same key as the setup image, so a state saved on one
base is never started on another; switching back finds it again.

The key starts with the owner's hash (engine/ownership.py): a setup result is
never shared between projects (one project's `sh install.sh` must not stand in
for another's), and one project's tags never name another's saved state. That
holds with `inputs:` too: the steps may read files they do not declare, and the
mounts they get are not hashed, so no key can prove that it covers everything
a step read. The content digest of `inputs:` joins the key when there is one.
"""

from __future__ import annotations

import json

from podman_sandbox.lite import sha256

SETUP_REPO = "localhost/podman-sandbox-setup"
BUILD_REPO = "localhost/podman-sandbox-build"  # images made from a project's Containerfile
STATE_REPO_PREFIX = "localhost/podman-sandbox-state-"
PREVIOUS_SUFFIX = "-prev"


def setup_key(base_image_id: str, steps, owner: str, inputs: str | None = None) -> str:
    """"<owner hash>-<16 hex of base, steps, owner and inputs digest>"; owner:
    ownership.owner_hash; inputs: inputdigest's digest (None: no inputs, the key of old)."""
    fields = {"base": base_image_id, "setup": list(steps), "owner": owner}
    if inputs:
        fields["inputs"] = inputs
    blob = json.dumps(fields, sort_keys=True)
    return f"{owner}-{sha256(blob.encode()).hexdigest()[:16]}"


def key_owner(key: str) -> str:
    """The owner hash a key starts with ("" for a key of the old format)."""
    head, sep, _ = key.partition("-")
    return head if sep and len(head) == 10 else ""


def setup_tag(key: str) -> str:
    return f"{SETUP_REPO}:{key}"


def state_repo(name: str) -> str:
    return STATE_REPO_PREFIX + name.lower()


def state_tag(name: str, key: str) -> str:
    return f"{state_repo(name)}:{key}"


def previous_state_tag(name: str, key: str) -> str:
    return f"{state_repo(name)}:{key}{PREVIOUS_SUFFIX}"

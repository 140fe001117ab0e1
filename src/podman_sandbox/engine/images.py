"""Names of the images podman-sandbox makes.

Layers: base image -> setup image (cached by base image id + setup steps)
-> committed state image (what `commit` saves, one per sandbox and base).
State is keyed by the same key as the setup image, so a state saved on one
base is never started on another; switching back finds it again.
"""

from __future__ import annotations

import hashlib
import json

SETUP_REPO = "localhost/podman-sandbox-setup"
STATE_REPO_PREFIX = "localhost/podman-sandbox-state-"
PREVIOUS_SUFFIX = "-prev"


def setup_key(base_image_id: str, steps) -> str:
    blob = json.dumps({"base": base_image_id, "setup": list(steps)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def setup_tag(key: str) -> str:
    return f"{SETUP_REPO}:{key}"


def state_repo(name: str) -> str:
    return STATE_REPO_PREFIX + name.lower()


def state_tag(name: str, key: str) -> str:
    return f"{state_repo(name)}:{key}"


def previous_state_tag(name: str, key: str) -> str:
    return f"{state_repo(name)}:{key}{PREVIOUS_SUFFIX}"

"""The labels podman-sandbox puts on its containers and images: how it knows its own.

Standard library free (the fast path reads them).
"""

LABEL_MANAGED = "io.podman-sandbox.managed"  # "true" on everything podman-sandbox made
LABEL_PROJECT = "io.podman-sandbox.project"  # the project folder mounted at /workspace
LABEL_SPEC = "io.podman-sandbox.spec"  # the canonical desired state, JSON
LABEL_HASH = "io.podman-sandbox.hash"  # sha256 of SPEC
LABEL_BASE_ID = "io.podman-sandbox.base-id"  # id of the base image it was made from
LABEL_SOURCE = "io.podman-sandbox.source"  # the sandbox.yaml / config.json that governs it
LABEL_ROLE = "io.podman-sandbox.role"  # "sandbox" or "setup" (a setup step's container)
LABEL_SANDBOX = "io.podman-sandbox.sandbox"  # on committed state images: whose state
LABEL_INSTANCE = "io.podman-sandbox.instance"  # an instance's name ("" or none: the project's own)
LABEL_ROOTFS = "io.podman-sandbox.rootfs"  # on `local-image`'s image: what it was made from

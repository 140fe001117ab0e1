"""Make a small image from the host's static busybox, for machines with no registry.

The quick start and the test suite both use it: `podman-sandbox local-image`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile

from podman_sandbox.engine.labels import LABEL_ROOTFS
from podman_sandbox.engine.runner import Runner
from podman_sandbox.errors import SandboxError
from podman_sandbox.lite import sha256

DEFAULT_TAG = "localhost/podman-sandbox/busybox:latest"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/lib/busybox/busybox", "/sbin/busybox")


def find_static_busybox() -> str:
    for path in BUSYBOX_CANDIDATES:
        if os.path.isfile(path) and os.access(path, os.X_OK) and _is_static(path):
            return path
    raise SandboxError("no static busybox found on this host",
                       hint="install it: apt-get install busybox-static (Fedora: dnf install busybox)")


def _is_static(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    # A dynamic ELF names its interpreter (ld-linux / ld-musl) in PT_INTERP.
    return head[:4] == b"\x7fELF" and b"/ld-linux" not in head and b"ld-musl" not in head


def _applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
    return sorted({a for a in out.split() if a and a != "busybox" and "/" not in a})


def build_rootfs_tar(busybox: str, tar_path: str) -> None:
    with tempfile.TemporaryDirectory(prefix="podman-sandbox-rootfs-") as root:
        for folder in ("bin", "etc", "root", "tmp", "workspace", "proc", "sys", "dev", "run", "var/tmp"):
            os.makedirs(os.path.join(root, folder), exist_ok=True)
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
        for applet in _applets(busybox):
            os.symlink("busybox", os.path.join(root, "bin", applet))
        with open(os.path.join(root, "etc", "passwd"), "w") as fh:
            fh.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        with open(os.path.join(root, "etc", "group"), "w") as fh:
            fh.write("root:x:0:\nnobody:x:65534:\n")
        with tarfile.open(tar_path, "w") as tar:
            for entry in sorted(os.listdir(root)):
                tar.add(os.path.join(root, entry), arcname=entry, filter=_owned_by_root)


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """An image's files belong to root, whoever builds it (rootless: the user's own uid
    would show up inside, and needs subordinate ids to be imported at all)."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if not info.mode & 0o1000:  # under umask 000 /bin and /etc would be writable by anyone inside
        info.mode &= ~0o022
    return info


# What build_rootfs_tar lays out; a new layout must make a new image.
LAYOUT = "busybox rootfs 1"


def rootfs_digest(busybox: str) -> str:
    """What an image made from busybox holds, as a digest: the layout and the binary
    (its applets are the binary's). The tar itself differs at every build (times)."""
    digest = sha256(f"{LAYOUT}\0".encode())
    with open(busybox, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_busybox_image(runner: Runner, tag: str = DEFAULT_TAG, busybox: str | None = None) -> str:
    """Import a busybox rootfs as tag, labelled with rootfs_digest; returns the image id."""
    busybox = busybox or find_static_busybox()
    with tempfile.TemporaryDirectory(prefix="podman-sandbox-image-") as work:
        tar_path = os.path.join(work, "rootfs.tar")
        build_rootfs_tar(busybox, tar_path)
        result = runner.run(["podman", "import", "--change", "ENV PATH=/bin",
                             "--change", 'CMD ["/bin/sh"]',
                             "--change", f"LABEL {LABEL_ROOTFS}={rootfs_digest(busybox)}",
                             tar_path, tag],
                            what=f"import {tag}")
    out = result.stdout.strip().splitlines()
    # podman import prints "sha256:<id>"; labels and filters use the bare id.
    return out[-1].removeprefix("sha256:") if out else ""


def ensure_busybox_image(runner: Runner, tag: str = DEFAULT_TAG, *,
                         rebuild: bool = False) -> tuple[str, bool]:
    """(the image id, whether it was made now): the image tag names is kept when it was
    made from this host's busybox as it is now. An import makes a new image id every
    time, and a new base image id re-runs every sandbox's setup steps on it."""
    from podman_sandbox.engine import answers

    busybox = find_static_busybox()
    if not rebuild:
        found = answers.inspect_one(runner, tag)
        if answers.kind(found) == "image" and \
                answers.labels_of(found).get(LABEL_ROOTFS) == rootfs_digest(busybox):
            assert found is not None
            return str(found.get("Id", "")), False
    return build_busybox_image(runner, tag, busybox), True

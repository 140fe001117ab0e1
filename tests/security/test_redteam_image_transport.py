"""Red team: `image:` naming a file, not an image.

Podman's image references take transports: `docker-archive:PATH`,
`oci-archive:PATH`, `oci:DIR`, `dir:DIR`, ... `podman pull
docker-archive:FILE` loads the archive and tags the image with the names the
archive itself lists (manifest.json's RepoTags). So code in the sandbox writes
an archive into /workspace (it knows the host path from /proc/self/mountinfo),
listing a name it wants to own (the quick start's busybox, `python:3.12`, any
image another project or you use on the host), and sets `image:` to
`docker-archive:<that file>`: the next `execute` planted its image under that
name in your store. `image:` names an image (a registry's or a local one),
never a transport: refused as a broken spec (121), nothing pulled or tagged.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid

import pytest

from harness import podman

BAD_SPEC = 121


def _archive_naming(image: str, path, names: list[str]) -> None:
    """A docker-archive of image whose manifest lists names (bytes the sandbox can write)."""
    raw = path.with_suffix(".raw")
    podman("save", "--format", "docker-archive", "-o", str(raw), image)
    with tarfile.open(raw) as src, tarfile.open(path, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest[0]["RepoTags"] = names
                data = json.dumps(manifest).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    raw.unlink()


@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive", "oci", "dir"])
def test_image_transport_is_refused_and_plants_nothing(sandbox, transport):
    victim = f"localhost/pstest-rt-victim-{uuid.uuid4().hex[:8]}:latest"
    archive = sandbox.project / "evil.tar"
    _archive_naming(sandbox.image, archive, [victim])
    sandbox.write_spec(f"image: {transport}:{archive}\n")  # written by code in the sandbox
    try:
        for argv in (("execute", "true"), ("apply",), ("plan",)):
            result = sandbox.run(*argv)
            assert result.returncode == BAD_SPEC, (argv, result.returncode, result.stdout, result.stderr)
            assert "image" in result.stderr, result.stderr
        assert podman("image", "exists", victim, check=False).returncode != 0, \
            f"the sandbox's archive was tagged {victim} in the store"
    finally:
        podman("rmi", "--force", victim, check=False)

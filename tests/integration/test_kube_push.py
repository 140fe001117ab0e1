"""push: the setup image a cluster needs, by `podman push`, under the name the Pod pulls.

There is no registry here and none can be pulled. `push --registry oci:DIR` runs the
same code (engine/kube/push.py: the same setup image lookup, the same `podman push
IMAGE DESTINATION` argv), with Podman's oci: transport as the destination instead of
docker://REGISTRY/...; the layout it writes is then read to check that the pushed
image is the local setup image (the config digest is the image id) under the name
render gives the Pod.
"""

from __future__ import annotations

import json

import yaml
from harness import podman


def test_render_refuses_setup_until_pushed_then_names_the_pushed_image(sandbox, tmp_path):
    sandbox.write_spec(f"image: {sandbox.image}\npids_limit: 0\nsetup:\n  - echo ready > /etc/ready\n")
    refused = sandbox.run("render", "--target", "pod")
    assert refused.returncode == 123 and "registry" in refused.stderr and "push" in refused.stderr, refused
    assert len(refused.stderr.strip().splitlines()) <= 2  # one line, and its hint at most

    sandbox.ok("apply", "--allow")  # makes the setup image
    layout = tmp_path / "layout"
    pushed = sandbox.ok("push", "--registry", f"oci:{layout}").stdout.strip().splitlines()[-1]
    prefix = f"oci:{layout}:podman-sandbox-setup:"
    assert pushed.startswith(prefix), pushed
    key = pushed[len(prefix):]
    local = f"localhost/podman-sandbox-setup:{key}"
    image_id = podman("image", "inspect", "--format", "{{.Id}}", local).stdout.strip()

    index = json.loads((layout / "index.json").read_text())
    entry, = [m for m in index["manifests"]
              if m.get("annotations", {}).get("org.opencontainers.image.ref.name")
              == f"podman-sandbox-setup:{key}"]
    algo, digest = entry["digest"].split(":")
    manifest = json.loads((layout / "blobs" / algo / digest).read_text())
    assert manifest["config"]["digest"] == f"sha256:{image_id}"  # the very image apply made

    # The Pod pulls it under the same name from a registry: render names it so.
    rendered = sandbox.ok("render", "--target", "pod", "--registry", "registry.example.com/team").stdout
    container = next(yaml.safe_load_all(rendered))["spec"]["containers"][0]
    assert container["image"] == f"registry.example.com/team/podman-sandbox-setup:{key}"
    assert container["imagePullPolicy"] == "IfNotPresent"
    # A folder is no registry for a cluster.
    assert sandbox.run("render", "--target", "pod", "--registry", f"oci:{layout}").returncode == 123


def test_push_without_a_registry_is_a_usage_error(sandbox):
    sandbox.write_spec(f"image: {sandbox.image}\n")
    result = sandbox.run("push")
    assert result.returncode == 2 and "--registry" in result.stderr, result

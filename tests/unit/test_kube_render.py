"""render --target pod|sandbox: the translation table, pure (engine/kube/render.py).

Manifests are checked against Kubernetes' own schemas with kubernetes-validate
--strict and quantities with the official client's parse_quantity (the
`kube-test` extra); without them those two checks skip, the rest still runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from podman_sandbox.engine import steps
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.kube import render as kube
from podman_sandbox.engine.labels import LABEL_HASH, LABEL_MANAGED, LABEL_PROJECT, LABEL_SPEC
from podman_sandbox.schema.spec import build_spec

PROJECT = "/home/me/proj"


def desired(**doc) -> Desired:
    doc.setdefault("image", "localhost/podman-sandbox/busybox:latest")
    return Desired.from_spec(build_spec(doc, project_dir=PROJECT, source=f"{PROJECT}/sandbox.yaml",
                                        mode="project"))


def rows(found) -> dict:
    return {r.field: r for r in found.rows}


def container_of(found) -> dict:
    return found.objects[0]["spec"]["containers"][0]


@pytest.mark.parametrize("size, quantity", [
    ("512m", "512Mi"), ("1g", "1Gi"), ("1536m", "1536Mi"), ("64k", "64Ki"), ("4100k", "4100Ki"),
])
def test_memory_becomes_binary_units_never_millis(size, quantity):
    found = kube.translate(desired(memory=size, pids_limit=0))
    res = container_of(found)["resources"]
    assert res["limits"]["memory"] == quantity == res["requests"]["memory"]
    client = pytest.importorskip("kubernetes.utils.quantity")
    assert client.parse_quantity(quantity) == desired(memory=size).container["memory"]


@pytest.mark.parametrize("cpus, quantity", [(0.5, "500m"), (2, "2"), (1.25, "1250m")])
def test_cpus_become_millicores(cpus, quantity):
    res = container_of(kube.translate(desired(cpus=cpus, pids_limit=0)))["resources"]
    assert res["limits"]["cpu"] == quantity == res["requests"]["cpu"]


def test_a_default_spec_renders_the_secure_defaults_and_the_local_identity():
    d = desired(pids_limit=0, env={"B": "2", "A": "x y"})
    found = kube.translate(d)
    assert not found.refused
    pod = found.objects[0]
    spec, c = pod["spec"], container_of(found)
    assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False
    assert spec["shareProcessNamespace"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": sorted(kube.PODMAN_DEFAULTS)}
    assert c["env"] == [{"name": "A", "value": "x y"}, {"name": "B", "value": "2"}]  # as the label
    assert c["imagePullPolicy"] == "Never"  # a localhost/ image is never pulled
    # The same identity as a local container: labels and, where a label cannot hold
    # it, annotations with the very same values.
    local = steps.container_labels(d, "base-id")
    meta = pod["metadata"]
    assert meta["labels"][LABEL_MANAGED] == local[LABEL_MANAGED]
    for key in (LABEL_HASH, LABEL_PROJECT, LABEL_SPEC):
        assert meta["annotations"][key] == local[key]


def test_output_is_deterministic():
    one = kube.to_yaml(kube.translate(desired(memory="1g", network="none", pids_limit=0)).objects)
    two = kube.to_yaml(kube.translate(desired(memory="1g", network="none", pids_limit=0)).objects)
    assert one == two and one.count("---\n") == 1


def test_read_only_gets_emptydirs_for_tmp_var_tmp_and_run():
    found = kube.translate(desired(read_only=True, pids_limit=0))
    c = container_of(found)
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/workspace", "/tmp", "/var/tmp", "/run"}


@pytest.mark.parametrize("user, expected", [("1000", {"runAsUser": 1000}),
                                            ("1000:2000", {"runAsUser": 1000, "runAsGroup": 2000})])
def test_numeric_users_become_run_as(user, expected):
    sec = container_of(kube.translate(desired(user=user, pids_limit=0)))["securityContext"]
    assert {k: sec[k] for k in ("runAsUser", "runAsGroup") if k in sec} == expected


def test_capabilities_follow_cap_drop_and_cap_add():
    found = kube.translate(desired(cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE"], pids_limit=0))
    assert container_of(found)["securityContext"]["capabilities"]["add"] == ["NET_BIND_SERVICE"]
    found = kube.translate(desired(cap_drop=["CHOWN"], pids_limit=0))
    assert "CHOWN" not in container_of(found)["securityContext"]["capabilities"]["add"]


@pytest.mark.parametrize("doc, field", [
    ({"user": "nobody"}, "user"),
    ({"network": "host"}, "network"),
    ({"setup": ["echo hi"]}, "setup"),
    ({"setup": ["echo hi"], "kube": {"registry": "registry.example.com/team"}}, "setup"),  # not pushed
    ({"setup": ["echo hi"], "image": "docker.io/library/alpine:3"}, "setup"),  # a registry base
    ({"auto_commit": True}, "auto_commit"),
    ({"mounts": [{"source": "/srv/data", "target": "/data"}]}, "mounts"),
    ({"name": "Has_Upper"}, "name"),
])
def test_what_kubernetes_cannot_hold_is_refused(doc, field):
    found = kube.translate(desired(pids_limit=0, **doc))
    assert rows(found)[field].status == kube.REFUSED


def test_pids_limit_is_refused_unless_accepted_weaker():
    assert rows(kube.translate(desired()))["pids_limit"].status == kube.REFUSED
    accepted = kube.translate(desired(), accept_weaker=("pids_limit",))
    assert rows(accepted)["pids_limit"].status == kube.WEAKER and not accepted.refused


def test_network_none_is_a_deny_all_network_policy_marked_weaker():
    found = kube.translate(desired(network="none", pids_limit=0))
    assert rows(found)["network"].status == kube.WEAKER
    policy = found.objects[1]
    assert policy["kind"] == "NetworkPolicy" and policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= found.objects[0]["metadata"]["labels"].items()


def test_the_sandbox_target_wraps_the_same_pod_spec():
    pod = kube.translate(desired(pids_limit=0)).objects[0]
    sandbox = kube.translate(desired(pids_limit=0), "sandbox").objects[0]
    assert sandbox["apiVersion"] == "agents.x-k8s.io/v1alpha1" and sandbox["kind"] == "Sandbox"
    assert sandbox["spec"]["podTemplate"]["spec"] == pod["spec"]
    assert sandbox["spec"]["podTemplate"]["metadata"]["labels"] == pod["metadata"]["labels"]


@pytest.mark.parametrize("doc", [
    {"pids_limit": 0},
    {"memory": "512m", "cpus": 0.5, "read_only": True, "user": "1000:1000", "network": "none",
     "env": {"A": "1"}, "cap_drop": ["ALL"], "cap_add": ["CHOWN"], "disk": "2g", "pids_limit": 0},
    {"pids_limit": 0, "network": "none", "user": "1000:1000",
     "kube": {"workspace": "pvc", "size": "5g", "storage_class": "fast"}},
    {"pids_limit": 0, "kube": {"workspace": "emptydir", "size": "512m"}},
])
def test_rendered_pods_pass_kubernetes_validate_strict(doc, tmp_path):
    tool = shutil.which("kubernetes-validate") or shutil.which("kubernetes-validate", path=os.path.dirname(sys.executable))
    if tool is None:
        pytest.skip("kubernetes-validate is not installed (pip install -e '.[kube-test]')")
    path = tmp_path / "pod.yaml"
    path.write_text(kube.to_yaml(kube.translate(desired(**doc)).objects))
    result = subprocess.run([tool, "--strict", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(path.read_text())]
    assert kinds == ["Pod"] + (["PersistentVolumeClaim"] if "kube" in doc and doc["kube"]["workspace"] == "pvc"
                               else []) + (["NetworkPolicy"] if doc.get("network") == "none" else [])


def test_a_pushed_setup_image_is_pulled_from_the_registry_by_the_name_push_gives_it():
    from podman_sandbox.engine.kube.push import destination

    d = desired(setup=["echo hi"], pids_limit=0, kube={"registry": "registry.example.com/team"})
    local = "localhost/podman-sandbox-setup:0123456789-abcdef0123456789"
    found = kube.translate(d, pushed=local)
    assert not found.refused and rows(found)["setup"].status == kube.ENFORCED
    c = container_of(found)
    assert c["image"] == "registry.example.com/team/podman-sandbox-setup:0123456789-abcdef0123456789"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert destination(local, "registry.example.com/team") == "docker://" + c["image"]
    # --registry wins over kube.registry.
    other = kube.translate(d, pushed=local, registry="other.example:5000")
    assert container_of(other)["image"].startswith("other.example:5000/podman-sandbox-setup:")


def test_the_kube_settings_are_part_of_the_identity_without_touching_the_local_hash():
    one = kube.translate(desired(pids_limit=0)).objects[0]["metadata"]["annotations"]
    two = kube.translate(desired(pids_limit=0, kube={"workspace": "pvc"})).objects[0]["metadata"]["annotations"]
    assert one[LABEL_HASH] == two[LABEL_HASH]  # the local container is the same
    assert one[kube.LABEL_KUBE] != two[kube.LABEL_KUBE]  # the Pod is not


def test_the_workspace_row_says_how_files_come_back():
    for doc in ({}, {"kube": {"workspace": "pvc"}}):
        row = rows(kube.translate(desired(pids_limit=0, **doc)))["workspace"]
        assert row.status == kube.WEAKER and "podman-sandbox pull DIR" in row.how
    claim = kube.translate(desired(pids_limit=0, kube={"workspace": "pvc"})).objects[1]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"  # the default size


def test_a_registry_the_spec_names_is_a_grant_push_needs_approved(tmp_path, monkeypatch, capfd):
    """Code in the sandbox writes sandbox.yaml: a registry of its own choosing must not
    get the setup image out through the user's next `push`."""
    from podman_sandbox import trust
    from podman_sandbox.cli.main import run

    project = tmp_path / "proj"
    project.mkdir()
    (project / "sandbox.yaml").write_text("image: localhost/x:1\nsetup: [echo hi]\n"
                                          "kube:\n  registry: evil.example/loot\n")
    for var in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.chdir(project)
    spec = build_spec({"image": "x", "kube": {"registry": "evil.example/loot"}}, project_dir=str(project),
                      source=str(project / "sandbox.yaml"), mode="project")
    assert ("registry", "evil.example/loot") in {(g.kind, g.subject) for g in trust.grants(spec)}
    assert run(["push"]) == 123  # refused before any Podman call
    assert "evil.example/loot" in capfd.readouterr().err


def test_a_pvc_workspace_is_the_sandbox_groups_through_fs_group():
    found = kube.translate(desired(pids_limit=0, user="1000:2000", kube={"workspace": "pvc"}))
    assert found.objects[0]["spec"]["securityContext"]["fsGroup"] == 2000
    assert "fsGroup 2000" in rows(found)["workspace"].how
    alone = kube.translate(desired(pids_limit=0, user="1000", kube={"workspace": "pvc"}))
    assert "fsGroup" not in alone.objects[0]["spec"]["securityContext"]  # never a group it lacks
    assert "uid:gid" in rows(alone)["workspace"].how
    empty = kube.translate(desired(pids_limit=0, user="1000:2000"))
    assert "fsGroup" not in empty.objects[0]["spec"]["securityContext"]  # an emptyDir is writable

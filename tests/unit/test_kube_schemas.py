"""Rendered objects against the schemas of those who define them: agent-sandbox's own CRD
for the Sandbox, and (test_kube_render.py) Kubernetes' own for the Pod and the rest.

The Sandbox schema is the v1alpha1 openAPIV3Schema of kubernetes-sigs/agent-sandbox's
published CRD (tests/unit/fixtures/agent_sandbox_v1alpha1.json names the commit and
the file). The API server prunes a field its structural schema does not name (and with
fieldValidation=Strict refuses it); here that is additionalProperties: false wherever
the schema lists properties and does not preserve unknown fields, so a field the
controller would never see fails the test instead of vanishing.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.kube import render as kube
from podman_sandbox.schema.spec import build_spec

FIXTURE = Path(__file__).parent / "fixtures" / "agent_sandbox_v1alpha1.json"
PROJECT = "/home/me/proj"


def strict(schema):
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def sandbox_schema():
    data = json.loads(FIXTURE.read_text())
    assert data["source"]["commit"] and data["source"]["crd"] == "sandboxes.agents.x-k8s.io"
    return strict(data["openAPIV3Schema"])


def sandbox_of(**doc) -> dict:
    doc.setdefault("image", "localhost/podman-sandbox/busybox:latest")
    doc.setdefault("pids_limit", 0)
    spec = build_spec(doc, project_dir=PROJECT, source=f"{PROJECT}/sandbox.yaml", mode="project")
    found = kube.translate(Desired.from_spec(spec), "sandbox")
    assert not found.refused, found.refused
    return found.objects[0]


@pytest.mark.parametrize("doc", [
    {},
    {"memory": "512m", "cpus": 0.5, "read_only": True, "user": "1000:1000", "network": "none",
     "env": {"A": "1"}, "cap_drop": ["ALL"], "cap_add": ["CHOWN"], "disk": "2g"},
    {"kube": {"workspace": "pvc", "size": "5g", "storage_class": "fast"}},
    {"kube": {"workspace": "emptydir", "size": "512m"}},
])
def test_the_rendered_sandbox_is_valid_for_agent_sandboxs_crd(sandbox_schema, doc):
    obj = sandbox_of(**doc)
    assert obj["apiVersion"] == "agents.x-k8s.io/v1alpha1"
    jsonschema.validate(obj, sandbox_schema)


def test_a_pvc_workspace_is_a_volume_claim_template_the_controller_mounts():
    obj = sandbox_of(kube={"workspace": "pvc", "size": "5g"})
    template, = obj["spec"]["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "workspace"
    assert template["spec"]["resources"]["requests"]["storage"] == "5Gi"
    pod = obj["spec"]["podTemplate"]["spec"]
    # The controller adds the volume "workspace" for the claim workspace-NAME.
    assert all(v["name"] != "workspace" for v in pod["volumes"])
    assert {"name": "workspace", "mountPath": "/workspace"} in pod["containers"][0]["volumeMounts"]


@pytest.mark.parametrize("break_it", [
    lambda o: o["spec"]["podTemplate"]["spec"]["containers"][0].update(imagePullPolicy=7),
    lambda o: o["spec"].update(podTemplates=o["spec"].pop("podTemplate")),
    lambda o: o["spec"]["podTemplate"]["spec"]["containers"][0]["securityContext"].update(
        allowPrivilegeEscalaton=False),
])
def test_the_check_catches_a_wrong_field(sandbox_schema, break_it):
    obj = copy.deepcopy(sandbox_of())
    break_it(obj)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, sandbox_schema)

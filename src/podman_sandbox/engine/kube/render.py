"""The sandbox as Kubernetes objects: pure functions of Desired, no I/O.

translate() gives the objects and, per field of the spec, how the target holds
it: enforced (the same guarantee as local Podman), weaker (held, but less) or
refused (not expressible; render refuses while any is left). The objects carry
the local identity: the managed/role labels, and the spec hash, spec JSON,
project and source as annotations (a label value is at most 63 characters; the
hash is 64).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from podman_sandbox.capabilities import PODMAN_DEFAULTS, bare
from podman_sandbox.engine.labels import (LABEL_HASH, LABEL_MANAGED, LABEL_PROJECT, LABEL_ROLE,
                                          LABEL_SANDBOX, LABEL_SOURCE, LABEL_SPEC)

ENFORCED, WEAKER, REFUSED = "enforced", "weaker", "refused"
TARGETS = ("pod", "sandbox")
SANDBOX_API = "agents.x-k8s.io/v1alpha1"  # kubernetes-sigs/agent-sandbox
CONTAINER = "sandbox"
# Podman's --read-only-tmpfs: writable, empty folders on a read-only root.
TMPFS_DIRS = ("/tmp", "/var/tmp", "/run")
ACCEPTABLE = ("pids_limit",)  # refused unless the user accepts the weaker form
LABEL_KUBE = "io.podman-sandbox.kube"  # the kube: settings that shaped the objects
DEFAULT_CLAIM = 1 << 30  # a PVC's request when kube.size is not given
LIVE = ("; a change is made live through the Pod's resize subresource where the cluster has "
        "it (Kubernetes 1.33+), else the Pod is recreated")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_NUMERIC_USER = re.compile(r"^(\d+)(?::(\d+))?$")


@dataclass(frozen=True)
class Row:
    field: str
    status: str  # ENFORCED, WEAKER, REFUSED
    how: str


@dataclass
class Translation:
    objects: list[dict]
    rows: list[Row] = field(default_factory=list)

    @property
    def refused(self) -> list[Row]:
        return [r for r in self.rows if r.status == REFUSED]


def memory_quantity(nbytes: int) -> str:
    """Binary units, exact: 536870912 -> '512Mi' (in Kubernetes '512m' is half a byte)."""
    for suffix, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if nbytes % size == 0:
            return f"{nbytes // size}{suffix}"
    return str(nbytes)


def cpu_quantity(cpus: float) -> str:
    """Cores as millicores: 0.5 -> '500m', 2.0 -> '2'."""
    milli = round(cpus * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def capabilities(container: dict) -> list[str]:
    """The capabilities the local sandbox has: Podman's defaults, less cap_drop, plus cap_add."""
    drop = {bare(c) for c in container.get("cap_drop") or ()}
    keep = set() if "ALL" in drop else set(PODMAN_DEFAULTS) - drop
    return sorted(keep | {bare(c) for c in container.get("cap_add") or ()} - {"ALL"})


def claim_name(name: str) -> str:
    """The workspace PVC: agent-sandbox names a volumeClaimTemplate's claim TEMPLATE-SANDBOX."""
    return f"workspace-{name}"


def kube_settings(spec, image: str) -> str:
    """What besides the canonical spec shapes the objects (a change of it is a change)."""
    k = spec.kube
    return json.dumps({"workspace": k.workspace, "size": k.size, "storage_class": k.storage_class,
                       "image": image}, sort_keys=True, separators=(",", ":"))


def cluster_name(local: str, registry: str) -> str:
    """The name a cluster pulls a local image by: localhost/x:t -> REGISTRY/x:t."""
    rest = local[len("localhost/"):] if local.startswith("localhost/") else local
    return f"{registry.rstrip('/')}/{rest}"


def _identity(desired, image: str) -> tuple[dict, dict]:
    c = desired.container
    labels = {LABEL_MANAGED: "true", LABEL_ROLE: "sandbox", LABEL_SANDBOX: c["name"]}
    annotations = {LABEL_HASH: desired.hash, LABEL_PROJECT: desired.spec.project_dir,
                   LABEL_SOURCE: desired.spec.source,
                   LABEL_SPEC: json.dumps(c, sort_keys=True, separators=(",", ":")),
                   LABEL_KUBE: kube_settings(desired.spec, image)}
    return labels, annotations


def translate(desired, target: str = "pod", *, accept_weaker: tuple[str, ...] = (),
              pushed: str | None = None, registry: str | None = None) -> Translation:
    """The objects for target ("pod" or "sandbox") and a row per spec field.

    pushed: the local image `push` sends to the registry (engine/kube/push.py finds
    it: the setup image, else a localhost/ image); registry: --registry, else kube.registry."""
    c, spec = desired.container, desired.spec
    registry = registry or spec.kube.registry
    rows: list[Row] = []
    add = lambda f, s, how: rows.append(Row(f, s, how))  # noqa: E731

    name = c["name"]
    if _DNS_LABEL.match(name):
        add("name", ENFORCED, f"metadata.name {name}")
    else:
        add("name", REFUSED, f"{name!r} is not a Kubernetes name (lowercase letters, digits, '-'; "
                             "63 at most): set `name:`")
    image = c["image"]
    if registry and pushed:
        image = cluster_name(pushed, registry)
    pull = "Never" if image.startswith("localhost/") else "IfNotPresent"
    if c.get("setup") and not (registry and pushed):
        add("setup", REFUSED, "setup steps make a local image, and a cluster pulls from a "
                              "registry: set kube.registry (or --registry R), then run "
                              "`podman-sandbox apply` and `podman-sandbox push`")
    elif c.get("setup"):
        add("setup", ENFORCED, f"the setup image, pushed as {image} (`podman-sandbox push`)")
    if spec.build is not None:
        add("build", ENFORCED if registry and pushed else WEAKER,
            f"the image built here, {c['image']}: "
            + (f"pushed as {image}" if registry and pushed else
               "a node must hold it (set kube.registry and `podman-sandbox push` it)"))
    add("image", ENFORCED, f"image {image}, imagePullPolicy {pull}"
        + (" (the node must hold it: set kube.registry and `push` it)"
           if pull == "Never" else ""))
    if getattr(spec, "auto_commit", False):
        add("auto_commit", REFUSED, "Kubernetes has no commit of a running container")

    resources: dict = {}
    if c.get("memory"):
        resources["memory"] = memory_quantity(c["memory"])
        add("memory", ENFORCED, f"limits.memory = requests.memory = {resources['memory']}" + LIVE)
    if c.get("cpus"):
        resources["cpu"] = cpu_quantity(c["cpus"])
        add("cpus", ENFORCED, f"limits.cpu = requests.cpu = {resources['cpu']} (a CFS quota, "
                              "as locally)" + LIVE)
    if c.get("disk"):
        resources["ephemeral-storage"] = memory_quantity(c["disk"])
        add("disk", WEAKER, f"limits.ephemeral-storage {resources['ephemeral-storage']}: the pod is "
                            "evicted when over it (logs and emptyDirs count), no ENOSPC")
    if c.get("pids_limit"):
        if "pids_limit" in accept_weaker:
            add("pids_limit", WEAKER, f"{c['pids_limit']} not set: a Pod has no pids field; the "
                                      "node's podPidsLimit applies (accepted)")
        else:
            add("pids_limit", REFUSED, "a Pod has no per-pod pids limit (the node's podPidsLimit "
                                       "applies): accept it with --accept-weaker pids_limit, or "
                                       "set pids_limit: 0")

    security: dict = {"allowPrivilegeEscalation": False,
                      "capabilities": {"drop": ["ALL"], "add": capabilities(c)}}
    add("no-new-privileges", ENFORCED, "allowPrivilegeEscalation: false")
    add("capabilities", ENFORCED, "drop ALL, add " + (", ".join(capabilities(c)) or "none")
        + " (Podman's defaults, less cap_drop, plus cap_add)")
    security["readOnlyRootFilesystem"] = bool(c.get("read_only"))
    if c.get("read_only"):
        add("read_only", ENFORCED, "readOnlyRootFilesystem, emptyDirs at " + ", ".join(TMPFS_DIRS))
    user = c.get("user")
    if user:
        numeric = _NUMERIC_USER.match(user)
        if numeric:
            security["runAsUser"] = int(numeric.group(1))
            if numeric.group(2):
                security["runAsGroup"] = int(numeric.group(2))
            add("user", ENFORCED, f"runAsUser {numeric.group(1)}"
                + (f", runAsGroup {numeric.group(2)}" if numeric.group(2) else ""))
        else:
            add("user", REFUSED, f"{user!r} is a name; Kubernetes needs numbers (runAsUser): "
                                 "write uid[:gid]")
    for tool_side, what in (("inputs", "part of the setup image's key, so of its pushed tag"),
                            ("ignore_changes", "local drift only"),
                            ("workspace", "local instances only; kube.workspace is the Pod's")):
        if getattr(spec, tool_side):
            add(f"{tool_side} (tool-side)", ENFORCED, f"{what}: no part of the Pod")
    if c.get("selinux_label", "project") != "project":
        add("selinux_label", REFUSED, "label=disable has no Pod equivalent that podman-sandbox "
                                      "would render")

    network = c.get("network", "bridge")
    if network == "host":
        add("network", REFUSED, "hostNetwork shares the node's network: not rendered")
    elif network == "none":
        add("network", WEAKER, "a deny-all NetworkPolicy (needs a CNI that enforces it; the "
                               "interface stays)")
    else:
        add("network", ENFORCED, "the pod network")
    extra = [m for m in c["mounts"] if m["target"] != "/workspace"]
    if extra:
        add("mounts", REFUSED, "host folders ("
            + ", ".join(f"{m['source']} -> {m['target']}" for m in extra)
            + ") are the node's in a cluster: not rendered")
    size = memory_quantity(spec.kube.size) if spec.kube.size else None
    back = "; files come back with `podman-sandbox pull DIR`"
    if spec.kube.workspace == "pvc":
        size = size or memory_quantity(DEFAULT_CLAIM)
        add("workspace", WEAKER, f"a copy, not the folder: the PersistentVolumeClaim "
            f"{claim_name(name)} ({size}), filled from the project by `apply --target kube` "
            "when the claim is new (later local edits are not sent)"
            + (f", fsGroup {security['runAsGroup']}" if "runAsGroup" in security else
               "; a non-root user: write user: uid:gid, so that fsGroup makes the claim theirs"
               if security.get("runAsUser") else "") + back)
    else:
        add("workspace", WEAKER, "a copy, not the folder: an emptyDir"
            + (f" (sizeLimit {size})" if size else "") + ", filled from the project by "
            "`apply --target kube` each time the Pod is made, lost with it" + back)
    add("init", ENFORCED, "shareProcessNamespace: the pause process reaps orphans as "
                          "Podman's --init does")
    add("service account", ENFORCED, "automountServiceAccountToken: false, "
                                     "enableServiceLinks: false")

    env = [{"name": k, "value": v} for k, v in c.get("env", {}).items()]
    if env:
        add("env", ENFORCED, "env: " + ", ".join(e["name"] for e in env))
    mounts = [{"name": "workspace", "mountPath": "/workspace"}]
    pod_security: dict = {"seccompProfile": {"type": "RuntimeDefault"}}
    claim: dict | None = None
    if spec.kube.workspace == "pvc" and "runAsGroup" in security:
        # A claim's volume is root's: fsGroup makes it the sandbox group's, whose member
        # the process already is (no group it did not have locally).
        pod_security["fsGroup"] = security["runAsGroup"]
    if spec.kube.workspace == "pvc":
        claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
        if spec.kube.storage_class:
            claim["storageClassName"] = spec.kube.storage_class
        # For a Sandbox, its controller adds the claim's volume (volumeClaimTemplates).
        volumes = [] if target == "sandbox" else [
            {"name": "workspace", "persistentVolumeClaim": {"claimName": claim_name(name)}}]
    else:
        volumes = [{"name": "workspace", "emptyDir": {"sizeLimit": size} if size else {}}]
    if c.get("read_only"):
        for path in TMPFS_DIRS:
            vol = "tmpfs" + path.replace("/", "-")
            mounts.append({"name": vol, "mountPath": path})
            volumes.append({"name": vol, "emptyDir": {"medium": "Memory"}})
    container: dict = {"name": CONTAINER, "image": image, "imagePullPolicy": pull,
                       "command": ["sleep"], "args": ["infinity"], "workingDir": "/workspace"}
    if env:
        container["env"] = env
    if resources:
        container["resources"] = {"limits": dict(resources), "requests": dict(resources)}
    container["securityContext"] = security
    container["volumeMounts"] = mounts
    pod_spec = {"automountServiceAccountToken": False, "enableServiceLinks": False,
                "shareProcessNamespace": True, "restartPolicy": "Always",
                "securityContext": pod_security,
                "containers": [container], "volumes": volumes}
    labels, annotations = _identity(desired, image)
    objects = []
    if target == "sandbox":
        main: dict = {"apiVersion": SANDBOX_API, "kind": "Sandbox",
                      "metadata": {"name": name, "labels": dict(labels),
                                   "annotations": dict(annotations)},
                      "spec": {"podTemplate": {"metadata": {"labels": dict(labels),
                                                            "annotations": dict(annotations)},
                                               "spec": pod_spec}}}
        if claim:
            main["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "workspace"},
                                                     "spec": claim}]
    else:
        main = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": labels, "annotations": annotations},
                "spec": pod_spec}
        if claim:
            objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": {"name": claim_name(name), "labels": dict(labels)},
                            "spec": claim})
    objects.insert(0, main)
    if network == "none":
        objects.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": f"{name}-deny-all"[:63], "labels": dict(labels)},
                        "spec": {"podSelector": {"matchLabels": {LABEL_SANDBOX: name}},
                                 "policyTypes": ["Ingress", "Egress"]}})
    return Translation(objects, rows)


def to_yaml(objects: list[dict]) -> str:
    """The objects as one YAML stream, in a fixed order (the same spec, the same bytes)."""
    import yaml

    return "---\n".join(yaml.safe_dump(o, sort_keys=False, default_flow_style=False, width=1000)
                        for o in objects)

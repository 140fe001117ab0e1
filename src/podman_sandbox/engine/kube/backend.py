"""The kube target: the rendered Pod (render.py) on a cluster, through the official
`kubernetes` client (the optional extra `podman-sandbox[kube]`, imported here only).

- apply: server-side apply with field manager podman-sandbox: the workspace's
  PersistentVolumeClaim and the NetworkPolicy first (deny-all is in place before
  the Pod starts), then the Pod. An equal spec hash and kube settings, running,
  is left alone. A change of memory/cpus alone goes through the Pod's resize
  subresource where the cluster serves it (API discovery: pods/resize, beta in
  1.33); anything else, or a resize the API refuses, deletes the Pod and makes
  it again (the plan's "recreate": a Pod's spec cannot change in place).
- the workspace: a new emptyDir (a Pod made now) or a new claim is filled with
  the project, a tar stream (workspace.pack) on the stdin of `tar x` in the Pod;
  read_workspace() streams `tar c` of it back (`podman-sandbox pull`).
- execute: exec over the API's websocket (the client's stream module), stdin
  sent then closed (v5 protocol), the exit code from the status channel.
  The command runs tagged (PODMAN_SANDBOX_EXEC) so that --timeout ends it and
  what it started from inside the pod (the script of engine/stopping.py).
- status / stop: read and delete the Pod.

Tested against recorded API exchanges (tests/unit/test_kube_backend.py), never
against a live cluster here.
"""

from __future__ import annotations

import os
import sys
import time

from podman_sandbox.engine.kube.render import LABEL_KUBE
from podman_sandbox.engine.kube.workspace import FILL_ARGV, READ_ARGV
from podman_sandbox.engine.labels import LABEL_HASH, LABEL_SPEC
from podman_sandbox.errors import EXIT_NOT_STOPPED, EXIT_TIMEOUT, SandboxError

FIELD_MANAGER = "podman-sandbox"
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/strategic-merge-patch+json"
LIVE = ("memory", "cpus")  # what a resize changes in place (engine/desired.py's LIVE_FIELDS)
CONTAINER = "sandbox"
READY_SECONDS = 120.0


def _client():
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        from podman_sandbox.extras import install_hint

        raise SandboxError("--target kube needs the Kubernetes client",
                           hint=install_hint("kube")) from None
    from kubernetes import client, config
    return client, config


def connect(context: str | None = None, namespace: str | None = None, configuration=None) -> "Kube":
    """The cluster of the kubeconfig context (kubectl's current one by default) and its
    namespace (the context's, else "default"), unless namespace is given."""
    client, config = _client()
    if configuration is None:
        configuration = client.Configuration()
        try:
            # $KUBECONFIG as it is now (the client reads it once, at its import).
            path = os.environ.get("KUBECONFIG") or None
            config.load_kube_config(config_file=path, context=context,
                                    client_configuration=configuration)
            contexts, active = config.list_kube_config_contexts(config_file=path)
        except Exception as exc:  # the client raises several kinds for a missing/bad kubeconfig
            raise SandboxError(f"cannot read the Kubernetes configuration: {exc}",
                               hint="check ~/.kube/config or $KUBECONFIG, and --context") from None
        chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
        namespace = namespace or ((chosen or {}).get("context") or {}).get("namespace")
    return Kube(client.CoreV1Api(client.ApiClient(configuration)), namespace or "default")


class Kube:
    def __init__(self, api, namespace: str):
        self.api = api
        self.namespace = namespace

    def _not_found(self, exc) -> bool:
        return getattr(exc, "status", None) == 404

    def observe(self, name: str) -> dict | None:
        """{"phase", "hash", "kube", "spec"} of the Pod (spec: the canonical spec JSON
        it was made from); None when there is none."""
        from kubernetes.client.exceptions import ApiException
        try:
            pod = self.api.read_namespaced_pod(name, self.namespace)
        except ApiException as exc:
            if self._not_found(exc):
                return None
            raise SandboxError(f"reading pod {name} failed: {exc.status} {exc.reason}") from None
        annotations = (pod.metadata.annotations if pod.metadata else None) or {}
        return {"phase": pod.status.phase if pod.status else None, "hash": annotations.get(LABEL_HASH),
                "kube": annotations.get(LABEL_KUBE), "spec": annotations.get(LABEL_SPEC)}

    def apply(self, objects: list[dict], fill=None) -> str:
        """objects: render's, the Pod first. 'unchanged', 'resized', 'created' or
        'recreated'; waits until the Pod runs. fill: a function giving the project's
        tar stream (workspace.pack), sent when the workspace is new."""
        pod, others = objects[0], objects[1:]
        new_claim = has_claim = False
        for obj in others:
            if obj["kind"] == "PersistentVolumeClaim":
                has_claim = True
                new_claim = self._apply_claim(obj)
            elif obj["kind"] == "NetworkPolicy":
                self._server_side_apply(obj, self._networking().patch_namespaced_network_policy)
        name = pod["metadata"]["name"]
        found = self.observe(name)
        if in_sync(found, pod):
            outcome = "unchanged"
        elif found and found["phase"] == "Running" and self._resize(found, pod):
            outcome = "resized"
        else:
            outcome = "created"
            if found:
                self.stop(name)
                outcome = "recreated"
            self._server_side_apply(pod, self.api.patch_namespaced_pod)
            self._wait(name, lambda seen: seen is not None and seen["phase"] == "Running", "to run")
        if fill is not None and (new_claim or (not has_claim and outcome in ("created", "recreated"))):
            try:
                self.fill(name, fill())
            except SandboxError:
                # A half-filled workspace must not pass for the project at the next apply
                # (it would find the Pod in sync): the Pod, and a claim made now, go.
                self.stop(name)
                if new_claim:
                    self._delete_claim(claim_of(others))
                raise
        return outcome

    def _delete_claim(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException
        try:
            self.api.delete_namespaced_persistent_volume_claim(name, self.namespace)
        except ApiException as exc:
            if not self._not_found(exc):
                raise SandboxError(f"deleting claim {name} failed: {exc.status} {exc.reason}") from None

    def _networking(self):
        from kubernetes import client
        return client.NetworkingV1Api(self.api.api_client)

    def _server_side_apply(self, obj: dict, patch) -> None:
        from kubernetes.client.exceptions import ApiException

        what = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            patch(obj["metadata"]["name"], self.namespace, obj, field_manager=FIELD_MANAGER,
                  force=True, _content_type=APPLY_PATCH)
        except ApiException as exc:
            raise SandboxError(f"server-side apply of {what} failed: {exc.status} {exc.reason}") from None

    def _apply_claim(self, claim: dict) -> bool:
        """Apply the workspace's claim; True when it did not exist before (so it is empty)."""
        from kubernetes.client.exceptions import ApiException

        name = claim["metadata"]["name"]
        try:
            self.api.read_namespaced_persistent_volume_claim(name, self.namespace)
            existed = True
        except ApiException as exc:
            if not self._not_found(exc):
                raise SandboxError(f"reading claim {name} failed: {exc.status} {exc.reason}") from None
            existed = False
        self._server_side_apply(claim, self.api.patch_namespaced_persistent_volume_claim)
        return not existed

    def serves_resize(self) -> bool:
        """The cluster has the Pod resize subresource (API discovery of core/v1)."""
        try:
            found = self.api.get_api_resources()
        except Exception:  # an API that cannot say: take the safe way, a recreate
            return False
        return any(r.name == "pods/resize" for r in (found.resources or ()))

    def _resize(self, found: dict, pod: dict) -> bool:
        """Change memory/cpus in place when nothing else changed and the cluster can;
        False: the caller recreates the Pod."""
        from kubernetes.client.exceptions import ApiException

        if not resizable(found, pod) or not self.serves_resize():
            return False
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        body = {"spec": {"containers": [{"name": container["name"],
                                         "resources": container["resources"]}]}}
        try:
            self.api.patch_namespaced_pod_resize(name, self.namespace, body,
                                                 field_manager=FIELD_MANAGER,
                                                 _content_type=MERGE_PATCH)
        except ApiException as exc:
            if exc.status in (400, 403, 422):  # e.g. a memory decrease the kubelet refuses
                return False
            raise SandboxError(f"resizing pod {name} failed: {exc.status} {exc.reason}") from None
        keys = (LABEL_HASH, LABEL_SPEC, LABEL_KUBE)
        notes = {"metadata": {"annotations": {k: pod["metadata"]["annotations"][k] for k in keys}}}
        try:
            self.api.patch_namespaced_pod(name, self.namespace, notes, field_manager=FIELD_MANAGER,
                                          _content_type=MERGE_PATCH)
        except ApiException as exc:
            raise SandboxError(f"pod {name} was resized, but noting its new spec failed: "
                               f"{exc.status} {exc.reason}") from None
        return True

    def stop(self, name: str) -> bool:
        """Delete the Pod and wait until it is gone; False when there was none."""
        from kubernetes.client.exceptions import ApiException
        try:
            self.api.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if self._not_found(exc):
                return False
            raise SandboxError(f"deleting pod {name} failed: {exc.status} {exc.reason}") from None
        self._wait(name, lambda seen: seen is None, "to go")
        return True

    def _wait(self, name: str, done, what: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            seen = self.observe(name)
            if done(seen):
                return
            if seen and seen["phase"] in ("Failed", "Succeeded") and what == "to run":
                raise SandboxError(f"pod {name} ended ({seen['phase']}) instead of running")
            if time.monotonic() > deadline:
                raise SandboxError(f"pod {name} did not come {what} within {READY_SECONDS:g}s")
            time.sleep(0.5)

    def fill(self, name: str, chunks) -> None:
        """The tar stream chunks into `tar x` at /workspace in the Pod."""
        resp = self._exec(name, list(FILL_ARGV), True)
        for chunk in chunks:
            if chunk:
                resp.write_stdin(chunk)
        resp.close_channel(0)
        err = b""
        while resp.is_open():
            resp.update(timeout=1)
            piece = resp.read_stderr(timeout=0)
            err += piece if isinstance(piece, bytes) else (piece or "").encode()
            resp.read_stdout(timeout=0)
        if resp.returncode != 0:
            last = (err.decode("utf-8", "replace").strip().splitlines() or [f"exit {resp.returncode}"])[-1]
            raise SandboxError(f"copying the project into pod {name} failed: {last[:200]}",
                               hint="the image needs tar (GNU or busybox)")

    def read_workspace(self, name: str):
        """The tar stream of the Pod's /workspace (`tar c`), chunk by chunk."""
        resp = self._exec(name, list(READ_ARGV), False)
        err = b""
        while resp.is_open():
            resp.update(timeout=1)
            piece = resp.read_stderr(timeout=0)
            err += piece if isinstance(piece, bytes) else (piece or "").encode()
            data = resp.read_stdout(timeout=0)
            if data:
                yield data if isinstance(data, bytes) else data.encode()
        data = resp.read_stdout(timeout=0)
        if data:
            yield data if isinstance(data, bytes) else data.encode()
        if resp.returncode != 0:
            last = (err.decode("utf-8", "replace").strip().splitlines() or [f"exit {resp.returncode}"])[-1]
            raise SandboxError(f"reading /workspace of pod {name} failed: {last[:200]}")

    def _exec(self, name: str, argv: list[str], stdin: bool):
        from kubernetes.stream import stream
        return stream(self.api.connect_get_namespaced_pod_exec, name, self.namespace,
                      container=CONTAINER, command=argv, stdin=stdin, stdout=True, stderr=True,
                      tty=False, _preload_content=False, binary=True)

    def execute(self, name: str, command: str, *, stdin: bytes | None = None,
                timeout: float | None = None, workdir: str = "/workspace") -> int:
        """Run command with sh -c in the Pod; its exit code (124 on timeout)."""
        from podman_sandbox.engine.stopping import EXEC_TAG, _INSIDE_SCRIPT

        tag = os.urandom(16).hex()
        argv = ["env", f"{EXEC_TAG}={tag}", "sh", "-c", 'cd "$1" && shift && exec sh -c "$@"',
                "sh", workdir, command]
        started = time.monotonic()
        resp = self._exec(name, argv, stdin is not None)
        if stdin is not None:
            resp.write_stdin(stdin)
            resp.close_channel(0)
        timed_out = False
        while resp.is_open():
            resp.update(timeout=0.1)
            self._drain(resp)
            if timeout and time.monotonic() - started > timeout:
                timed_out = True
                break
        self._drain(resp)
        if timed_out:
            resp.close()
            ago = int((time.monotonic() - started) * os.sysconf("SC_CLK_TCK")) + 1
            stopper = self._exec(name, ["env", f"{EXEC_TAG}={os.urandom(16).hex()}", "sh", "-c",
                                        _INSIDE_SCRIPT, "sh", tag, f"-{ago}", "15"], False)
            stopper.run_forever(timeout=30)
            if stopper.returncode != 0:
                sys.stderr.write(f"podman-sandbox: error: timed out after {timeout:g}s, but "
                                 "processes it started could not be stopped\n")
                return EXIT_NOT_STOPPED
            sys.stderr.write(f"podman-sandbox: timed out after {timeout:g}s; "
                             "the command and everything it started were stopped\n")
            return EXIT_TIMEOUT
        return resp.returncode

    @staticmethod
    def _drain(resp) -> None:
        out, err = resp.read_stdout(timeout=0), resp.read_stderr(timeout=0)
        if out:
            sys.stdout.buffer.write(out if isinstance(out, bytes) else out.encode())
            sys.stdout.flush()
        if err:
            sys.stderr.buffer.write(err if isinstance(err, bytes) else err.encode())
            sys.stderr.flush()


def claim_of(objects: list[dict]) -> str:
    return next(o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim")


def in_sync(found: dict | None, pod: dict) -> bool:
    """The Pod runs and was made from this spec and these kube settings."""
    notes = pod["metadata"]["annotations"]
    return (found is not None and found["phase"] == "Running" and found["hash"] == notes[LABEL_HASH]
            and found["kube"] == notes[LABEL_KUBE])


def resizable(found: dict, pod: dict) -> bool:
    """Only memory/cpus differ, and each is limited before and after (removing or adding
    a limit changes the Pod's QoS class, which a resize cannot)."""
    import json

    if found.get("kube") != pod["metadata"]["annotations"][LABEL_KUBE]:
        return False
    try:
        old = json.loads(found.get("spec") or "")
    except ValueError:
        return False
    new = json.loads(pod["metadata"]["annotations"][LABEL_SPEC])
    if not isinstance(old, dict):
        return False
    if any((old.get(f) is None) != (new.get(f) is None) for f in LIVE):
        return False
    strip = lambda c: {k: v for k, v in c.items() if k not in LIVE}  # noqa: E731
    return strip(old) == strip(new)

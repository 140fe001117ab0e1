"""The kube target: the rendered Pod (render.py) on a cluster, through the official
`kubernetes` client (the optional extra `podman-sandbox[kube]`, imported here only).

- apply: server-side apply with field manager podman-sandbox. A Pod's spec cannot
  change in place, so a Pod whose spec hash differs is deleted and made again
  (the plan's "recreate"); an equal hash, running, is left alone.
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

from podman_sandbox.engine.labels import LABEL_HASH
from podman_sandbox.errors import EXIT_NOT_STOPPED, EXIT_TIMEOUT, SandboxError

FIELD_MANAGER = "podman-sandbox"
APPLY_PATCH = "application/apply-patch+yaml"
CONTAINER = "sandbox"
READY_SECONDS = 120.0


def _client():
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        raise SandboxError("--target kube needs the Kubernetes client",
                           hint="pip install 'podman-sandbox[kube]'") from None
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
        """{"phase", "hash"} of the Pod; None when there is none."""
        from kubernetes.client.exceptions import ApiException
        try:
            pod = self.api.read_namespaced_pod(name, self.namespace)
        except ApiException as exc:
            if self._not_found(exc):
                return None
            raise SandboxError(f"reading pod {name} failed: {exc.status} {exc.reason}") from None
        annotations = (pod.metadata.annotations if pod.metadata else None) or {}
        return {"phase": pod.status.phase if pod.status else None, "hash": annotations.get(LABEL_HASH)}

    def apply(self, pod: dict) -> str:
        """'unchanged', 'created' or 'recreated'; waits until the Pod runs."""
        from kubernetes.client.exceptions import ApiException

        name = pod["metadata"]["name"]
        want = pod["metadata"]["annotations"][LABEL_HASH]
        found = self.observe(name)
        if found and found["hash"] == want and found["phase"] == "Running":
            return "unchanged"
        outcome = "created"
        if found:
            self.stop(name)
            outcome = "recreated"
        try:
            self.api.patch_namespaced_pod(name, self.namespace, pod, field_manager=FIELD_MANAGER,
                                          force=True, _content_type=APPLY_PATCH)
        except ApiException as exc:
            raise SandboxError(f"server-side apply of pod {name} failed: {exc.status} {exc.reason}") from None
        self._wait(name, lambda seen: seen is not None and seen["phase"] == "Running", "to run")
        return outcome

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

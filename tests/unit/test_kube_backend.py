"""The kube backend (engine/kube/backend.py) against recorded API exchanges.

A local HTTP server answers as the Kubernetes API does (the shapes of the core/v1
Pod API: read, server-side apply PATCH, delete, the resize subresource, the
PersistentVolumeClaim read, core/v1 discovery; exec as a websocket with the
v5.channel.k8s.io subprotocol, output on channels 1/2, the status on channel 3),
and records what the official client sent. The client code under test is the real
one over a real socket. No cluster is involved: none was available.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

pytest.importorskip("kubernetes")

from podman_sandbox.engine.desired import Desired  # noqa: E402
from podman_sandbox.engine.kube import backend, workspace  # noqa: E402
from podman_sandbox.engine.kube.render import LABEL_KUBE, translate  # noqa: E402
from podman_sandbox.engine.labels import LABEL_HASH, LABEL_SPEC  # noqa: E402
from podman_sandbox.errors import SandboxError  # noqa: E402
from podman_sandbox.schema.spec import build_spec  # noqa: E402

NS = "agents"
NAME = "sandbox-proj-1234abcd"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def rendered(project="/home/me/proj", **doc) -> list[dict]:
    """render's objects for a spec (the Pod first), named NAME."""
    doc.setdefault("image", "localhost/x:1")
    doc.setdefault("pids_limit", 0)
    doc["name"] = NAME
    spec = build_spec(doc, project_dir=project, source=f"{project}/sandbox.yaml", mode="project")
    return translate(Desired.from_spec(spec)).objects


def seen_as(pod: dict, phase="Running") -> dict:
    """The API's answer for a Pod made from these objects."""
    notes = pod["metadata"]["annotations"]
    return pod_json(phase, notes[LABEL_HASH], {LABEL_KUBE: notes[LABEL_KUBE], LABEL_SPEC: notes[LABEL_SPEC]})


def pod_json(phase="Running", spec_hash="h1", more=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": NAME, "namespace": NS,
                         "annotations": {LABEL_HASH: spec_hash, **(more or {})},
                         "managedFields": [{"manager": "podman-sandbox", "operation": "Apply"}]},
            "spec": {"containers": [{"name": "sandbox", "image": "localhost/x:1"}]},
            "status": {"phase": phase}}


NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
             "message": f'pods "{NAME}" not found', "code": 404,
             "details": {"name": NAME, "kind": "pods"}}
CLAIM = f"workspace-{NAME}"
CLAIM_NOT_FOUND = {**NOT_FOUND, "message": f'persistentvolumeclaims "{CLAIM}" not found',
                   "details": {"name": CLAIM, "kind": "persistentvolumeclaims"}}


def discovery(resize: bool) -> dict:
    """GET /api/v1 as a 1.33 server answers (trimmed to the pod resources)."""
    names = ["pods", "pods/attach", "pods/binding", "pods/eviction", "pods/exec", "pods/log",
             "pods/status"] + (["pods/resize"] if resize else [])
    return {"kind": "APIResourceList", "groupVersion": "v1",
            "resources": [{"name": n, "singularName": "" if "/" in n else "pod", "namespaced": True,
                           "kind": "Pod", "verbs": ["get", "patch"] if "/" in n else
                           ["create", "delete", "get", "list", "patch", "update", "watch"]}
                          for n in names]}


def claim_json() -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": CLAIM, "namespace": NS},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Bound"}}


def status_frame(code: int) -> bytes:
    if code == 0:
        status = {"metadata": {}, "status": "Success"}
    else:
        status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                  "message": f"command terminated with non-zero exit code: exit status {code}",
                  "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
    return b"\x03" + json.dumps(status).encode()


class Api:
    """What the fake API server answers (queues per route) and what it was sent."""

    def __init__(self):
        self.reads: list = []  # (status, body) for each GET of the pod, in order
        self.claims: list = []  # (status, body) for each GET of the claim, in order
        self.discovery = (200, discovery(resize=False))
        self.resize = (200, pod_json("Running"))  # the answer to a PATCH of pods/NAME/resize
        self.execs: list = []  # a function(handler, query) per exec, in order
        self.sent: list = []  # (method, path, query, headers, body)

    def paths(self, method: str) -> list[str]:
        return [s[1] for s in self.sent if s[0] == method]


def ws_send(wfile, payload: bytes, opcode: int = 2) -> None:
    head = bytes([0x80 | opcode])
    n = len(payload)
    head += bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n)
    wfile.write(head + payload)
    wfile.flush()


def ws_recv(rfile) -> tuple[int, bytes] | None:
    first = rfile.read(2)
    if len(first) < 2:
        return None
    opcode, n = first[0] & 0x0F, first[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", rfile.read(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", rfile.read(8))[0]
    mask = rfile.read(4) if first[1] & 0x80 else b"\0\0\0\0"
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(rfile.read(n)))
    return opcode, data


def receive_stdin(handler) -> tuple[bytes, int | None]:
    """What the client sent on stdin until it closed the channel (v5: 0xff, channel)."""
    data = b""
    while True:
        frame = ws_recv(handler.rfile)
        if frame is None:
            return data, None
        _, payload = frame
        if payload[:1] == b"\xff":
            return data, payload[1]
        data += payload[1:]


def tar_sink(got: dict, code: int = 0, stderr: bytes = b""):
    """An exec of `tar x`: keeps its command and stdin in got, answers code."""
    def session(handler, query):
        got["command"] = query["command"]
        got["stdin"], got["closed"] = receive_stdin(handler)
        if stderr:
            ws_send(handler.wfile, b"\x02" + stderr)
        ws_send(handler.wfile, status_frame(code))
        ws_send(handler.wfile, b"", opcode=8)
    return session


def members(data: bytes) -> dict:
    """name -> (type, content or link target) of a tar stream."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            found[m.name] = (m.type, tar.extractfile(m).read() if m.isreg() else m.linkname, m.mode)
    return found


def make_handler(api: Api):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _note(self) -> tuple[str, dict, bytes]:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            api.sent.append((self.command, url.path, parse_qs(url.query), dict(self.headers), body))
            return url.path, parse_qs(url.query), body

        def do_GET(self):
            path, query, _ = self._note()
            if path.endswith("/exec"):
                key = self.headers["Sec-WebSocket-Key"]
                accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.send_header("Sec-WebSocket-Protocol", "v5.channel.k8s.io")
                self.end_headers()
                self.wfile.flush()
                self.connection.settimeout(10)  # a client that never sends: fail, not hang
                try:
                    api.execs.pop(0)(self, query)
                finally:
                    self.close_connection = True
                return
            if path.rstrip("/") == "/api/v1":
                self._reply(*api.discovery)
            elif "/persistentvolumeclaims/" in path:
                self._reply(*api.claims.pop(0))
            else:
                status, body = api.reads.pop(0)
                self._reply(status, body)

        def do_PATCH(self):
            path, _, body = self._note()
            if path.endswith("/resize"):
                self._reply(*api.resize)
            else:
                self._reply(201, json.loads(body))

        def do_DELETE(self):
            self._note()
            self._reply(200, pod_json("Running"))

    return Handler


@pytest.fixture
def cluster(monkeypatch):
    from kubernetes import client

    api = Api()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(api))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(backend, "READY_SECONDS", 10.0)
    monkeypatch.setattr(backend.time, "sleep", lambda s: None)  # the server answers at once
    config = client.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    yield api, backend.connect(namespace=NS, configuration=config)
    server.shutdown()


def test_apply_is_a_server_side_apply_by_podman_sandbox_then_waits_for_running(cluster):
    api, kube = cluster
    api.reads = [(404, NOT_FOUND), (200, pod_json("Pending")), (200, pod_json("Running"))]
    pod = rendered()[0]
    assert kube.apply([pod]) == "created"
    patch = [s for s in api.sent if s[0] == "PATCH"]
    assert len(patch) == 1
    method, path, query, headers, body = patch[0]
    assert path == f"/api/v1/namespaces/{NS}/pods/{NAME}"
    assert query["fieldManager"] == ["podman-sandbox"] and query["force"] == ["true"]
    assert headers["Content-Type"] == "application/apply-patch+yaml"
    assert json.loads(body) == pod


def test_apply_leaves_an_equal_running_pod_and_recreates_a_changed_one(cluster):
    api, kube = cluster
    pod = rendered()[0]
    api.reads = [(200, seen_as(pod))]
    assert kube.apply([pod]) == "unchanged"
    assert [s[0] for s in api.sent] == ["GET"]
    api.sent.clear()
    api.reads = [(200, pod_json("Running", "old")), (404, NOT_FOUND), (200, seen_as(pod))]
    assert kube.apply([pod]) == "recreated"
    assert [s[0] for s in api.sent] == ["GET", "DELETE", "GET", "PATCH", "GET"]
    assert api.sent[1][2]["gracePeriodSeconds"] == ["0"]


def test_execute_sends_stdin_closes_it_and_returns_the_exit_code_of_the_status_channel(cluster, capfd):
    api, kube = cluster
    got = {}

    def session(handler, query):
        got["query"] = query
        stdin = b""
        while True:
            frame = ws_recv(handler.rfile)
            assert frame is not None, "the client hung up before closing stdin"
            _, data = frame
            if data[:1] == b"\xff":  # v5: close channel data[1]
                got["closed"] = data[1]
                break
            stdin += data[1:]
        got["stdin"] = stdin
        ws_send(handler.wfile, b"\x01" + stdin.upper())
        ws_send(handler.wfile, b"\x02warning\n")
        ws_send(handler.wfile, status_frame(3))
        ws_send(handler.wfile, b"", opcode=8)

    api.execs = [session]
    code = kube.execute(NAME, "tr a-z A-Z; exit 3", stdin=b"piped in\n")
    assert code == 3
    out, err = capfd.readouterr()
    assert out == "PIPED IN\n" and "warning" in err
    assert got["stdin"] == b"piped in\n" and got["closed"] == 0
    q = got["query"]
    assert q["container"] == ["sandbox"] and q["stdin"] == ["true"] and q["tty"] == ["false"]
    command = q["command"]
    assert command[0] == "env" and command[1].startswith("PODMAN_SANDBOX_EXEC=")
    assert command[-2:] == ["/workspace", "tr a-z A-Z; exit 3"]  # one value, one argument


def test_execute_success_is_zero(cluster):
    api, kube = cluster

    def session(handler, query):
        ws_send(handler.wfile, b"\x01ok\n")
        ws_send(handler.wfile, status_frame(0))
        ws_send(handler.wfile, b"", opcode=8)

    api.execs = [session]
    assert kube.execute(NAME, "echo ok") == 0


def test_a_timeout_ends_the_command_from_inside_the_pod(cluster):
    api, kube = cluster
    seen = {}

    def endless(handler, query):
        seen["tag"] = query["command"][1]
        while True:  # until the client closes
            frame = ws_recv(handler.rfile)
            if frame is None or frame[0] == 8:
                break
        ws_send(handler.wfile, b"", opcode=8)

    def stopper(handler, query):
        seen["stopper"] = query["command"]
        ws_send(handler.wfile, status_frame(0))
        ws_send(handler.wfile, b"", opcode=8)

    api.execs = [endless, stopper]
    assert kube.execute(NAME, "sleep 600", timeout=0.3) == 124
    args = seen["stopper"]
    tag = seen["tag"].split("=", 1)[1]
    # The stopping script of engine/stopping.py, given the command's tag and "since"
    # in the pod's own clock ticks (-N: N ticks before the script starts).
    assert args[-3] == tag and args[-2].startswith("-") and args[-1] == "15"
    assert "PODMAN_SANDBOX_EXEC" in args[4]


def test_stop_deletes_and_waits_and_status_reads_the_pod(cluster):
    api, kube = cluster
    api.reads = [(404, NOT_FOUND)]
    assert kube.stop(NAME) is True
    assert api.sent[0][0] == "DELETE"
    api.reads = [(200, pod_json("Running", "h9", {LABEL_KUBE: "k"}))]
    assert kube.observe(NAME) == {"phase": "Running", "hash": "h9", "kube": "k", "spec": None}
    api.reads = [(404, NOT_FOUND)]
    assert kube.observe(NAME) is None


def _kubeconfig_project(kube, tmp_path, monkeypatch):
    """A kubeconfig whose context points at the recorded cluster, in KUBECONFIG, and an
    empty project folder (kubectl's own configuration picks cluster and namespace)."""
    port = urlparse(kube.api.api_client.configuration.host).port
    (tmp_path / "kubeconfig").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "me", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "me", "namespace": NS}}]}))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    project = tmp_path / "proj"
    project.mkdir()
    return project


def test_execute_target_kube_through_the_cli_and_a_kubeconfig(cluster, tmp_path, monkeypatch, capfd):
    """kubectl's own configuration picks the cluster and the namespace."""
    api, kube = cluster
    project = _kubeconfig_project(kube, tmp_path, monkeypatch)
    (project / "sandbox.yaml").write_text("image: localhost/x:1\n")
    for var in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.chdir(project)
    api.reads = [(404, NOT_FOUND), (200, pod_json("Running"))]

    def session(handler, query):
        ws_send(handler.wfile, b"\x01from the pod\n")
        ws_send(handler.wfile, status_frame(5))
        ws_send(handler.wfile, b"", opcode=8)

    filled: dict = {}
    api.execs = [tar_sink(filled), session]
    from podman_sandbox.cli.main import run
    assert run(["execute", "--target", "kube", "--accept-weaker", "pids_limit",
                "echo from the pod; exit 5"]) == 5
    assert capfd.readouterr().out == "from the pod\n"
    # The new Pod's emptyDir got the project first.
    assert filled["command"] == list(workspace.FILL_ARGV)
    assert members(filled["stdin"])["sandbox.yaml"][1] == b"image: localhost/x:1\n"
    paths = {s[1] for s in api.sent}
    assert all(p.startswith(f"/api/v1/namespaces/{NS}/pods/") for p in paths)
    assert api.sent[0][3].get("authorization") == "Bearer t0ken"


# --- the workspace --------------------------------------------------------------------

def project_with_files(tmp_path):
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("print('hi')\n")
    (project / "run.sh").write_text("#!/bin/sh\n")
    (project / "run.sh").chmod(0o4755)  # setuid: never sent
    (project / "link").symlink_to("/etc/passwd")  # a link, sent as a link, never followed
    (project / ".gitignore").write_text("build/\n")
    (project / "build").mkdir()
    (project / "build" / "out.o").write_text("ignored")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("[core]\n")
    return project


def test_a_new_pod_gets_the_project_on_the_stdin_of_tar_x_with_the_projects_excludes(cluster, tmp_path):
    api, kube = cluster
    project = project_with_files(tmp_path)
    objects = rendered(str(project))
    api.reads = [(404, NOT_FOUND), (200, seen_as(objects[0]))]
    got: dict = {}
    api.execs = [tar_sink(got)]
    assert kube.apply(objects, fill=lambda: workspace.pack(str(project))) == "created"
    assert got["command"] == ["tar", "-x", "-o", "-f", "-", "-C", "/workspace"] and got["closed"] == 0
    sent = members(got["stdin"])
    assert set(sent) == {".gitignore", "link", "run.sh", "src/main.py"}  # no .git/, no build/
    assert sent["src/main.py"][1] == b"print('hi')\n"
    assert sent["link"][:2] == (tarfile.SYMTYPE, "/etc/passwd")
    assert sent["run.sh"][2] == 0o755  # the setuid bit stays here


def test_an_unchanged_pod_is_not_filled_again(cluster, tmp_path):
    api, kube = cluster
    objects = rendered()
    api.reads = [(200, seen_as(objects[0]))]
    assert kube.apply(objects, fill=lambda: pytest.fail("filled an unchanged pod")) == "unchanged"
    assert api.paths("GET") == [f"/api/v1/namespaces/{NS}/pods/{NAME}"]


def test_a_pvc_workspace_is_applied_first_and_filled_only_when_the_claim_is_new(cluster, tmp_path):
    api, kube = cluster
    project = project_with_files(tmp_path)
    objects = rendered(str(project), kube={"workspace": "pvc", "size": "2g"})
    assert [o["kind"] for o in objects] == ["Pod", "PersistentVolumeClaim"]
    claim_path = f"/api/v1/namespaces/{NS}/persistentvolumeclaims/{CLAIM}"
    api.claims = [(404, CLAIM_NOT_FOUND)]
    api.reads = [(404, NOT_FOUND), (200, seen_as(objects[0]))]
    got: dict = {}
    api.execs = [tar_sink(got)]
    assert kube.apply(objects, fill=lambda: workspace.pack(str(project))) == "created"
    assert api.paths("PATCH") == [claim_path, f"/api/v1/namespaces/{NS}/pods/{NAME}"]
    claim = json.loads([s for s in api.sent if s[0] == "PATCH"][0][4])
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert "src/main.py" in members(got["stdin"])
    # The claim outlives the Pod: a Pod made again on it is not filled over the sandbox's files.
    api.sent.clear()
    changed = rendered(str(project), kube={"workspace": "pvc", "size": "2g"}, env={"A": "1"})
    api.claims = [(200, claim_json())]
    api.reads = [(200, seen_as(objects[0])), (404, NOT_FOUND), (200, seen_as(changed[0]))]
    assert kube.apply(changed, fill=lambda: pytest.fail("filled a claim that was there")) == "recreated"


def test_network_none_applies_the_deny_all_policy_before_the_pod(cluster):
    api, kube = cluster
    objects = rendered(network="none")
    api.reads = [(404, NOT_FOUND), (200, seen_as(objects[0]))]
    api.execs = [tar_sink({})]
    kube.apply(objects, fill=lambda: iter([b""]))
    assert api.paths("PATCH") == [
        f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/{NAME}-deny-all",
        f"/api/v1/namespaces/{NS}/pods/{NAME}"]


def test_a_failed_tar_x_is_an_error_naming_it(cluster, tmp_path):
    api, kube = cluster
    api.execs = [tar_sink({}, code=127, stderr=b"sh: tar: not found\n")]
    with pytest.raises(SandboxError) as caught:
        kube.fill(NAME, iter([b"x" * 512]))
    assert "tar: not found" in str(caught.value) and caught.value.hint


def tar_of(entries) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o6755
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def tar_source(data: bytes):
    """An exec of `tar c`: answers data on stdout, in pieces, then success."""
    def session(handler, query):
        assert query["command"] == list(workspace.READ_ARGV)
        for i in range(0, len(data), 4096):
            ws_send(handler.wfile, b"\x01" + data[i:i + 4096])
        ws_send(handler.wfile, status_frame(0))
        ws_send(handler.wfile, b"", opcode=8)
    return session


def test_pull_writes_only_folders_and_regular_files_into_a_new_folder(cluster, tmp_path, monkeypatch):
    """What the Pod sends is the sandbox's: a link, a '..' name, an absolute name never
    lead a write outside the folder."""
    api, kube = cluster
    outside = tmp_path / "outside"
    outside.mkdir()
    data = tar_of([(".", "dir", None), ("./src", "dir", None), ("./src/app.py", "file", b"x = 1\n"),
                   ("./big.bin", "file", bytes(range(256)) * 400),
                   ("./out", "link", str(outside)), ("./out/planted", "file", b"no"),
                   ("../escaped", "file", b"no"), ("/abs", "file", b"no")])
    api.execs = [tar_source(data)]
    dest = tmp_path / "back"
    made = workspace.unpack(kube.read_workspace(NAME), str(dest))
    assert (dest / "src" / "app.py").read_bytes() == b"x = 1\n"
    assert (dest / "big.bin").read_bytes() == bytes(range(256)) * 400
    assert not (dest / "out").is_symlink() and list(outside.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not (dest / "abs").exists()
    assert (dest / "src" / "app.py").stat().st_mode & 0o7777 == 0o755  # no setuid/setgid
    assert made["files"] == 3 and set(made["skipped"]) == {"./out", "../escaped", "/abs"}


def test_pull_leaves_out_names_that_clash_instead_of_failing(tmp_path):
    data = tar_of([("./a", "file", b"1"), ("./a/b", "file", b"2"), ("./a", "file", b"3"),
                   ("./d", "dir", None), ("./d", "file", b"4")])
    made = workspace.unpack(io.BytesIO(data), str(tmp_path / "back"))
    assert (tmp_path / "back" / "a").read_bytes() == b"1"  # the first one stays
    assert made["skipped"] == ["./a/b", "./a", "./d"]
    with pytest.raises(SandboxError, match="broke off"):  # a stream cut short: a message
        workspace.unpack(io.BytesIO(data[:1000]), str(tmp_path / "cut"))


def test_pull_through_the_cli_refuses_an_existing_folder(tmp_path, monkeypatch):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "sandbox.yaml").write_text("image: localhost/x:1\n")
    (tmp_path / "there").mkdir()
    monkeypatch.chdir(project)
    from podman_sandbox.cli.main import run
    assert run(["pull", str(tmp_path / "there")]) == 123


# --- live memory/cpus: the resize subresource, else a recreate --------------------------

def resize_case(api, old_doc: dict, new_doc: dict, *, served: bool):
    old, new = rendered(**old_doc), rendered(**new_doc)
    api.discovery = (200, discovery(resize=served))
    api.reads = [(200, seen_as(old[0])), (404, NOT_FOUND), (200, seen_as(new[0]))]
    return new


def test_memory_and_cpus_change_through_the_resize_subresource_where_it_is_served(cluster):
    api, kube = cluster
    new = resize_case(api, {"memory": "512m", "cpus": 1}, {"memory": "1g", "cpus": 2}, served=True)
    assert kube.apply(new, fill=lambda: pytest.fail("a resized pod keeps its workspace")) == "resized"
    assert "DELETE" not in [s[0] for s in api.sent]
    (resize, notes) = [s for s in api.sent if s[0] == "PATCH"]
    assert resize[1] == f"/api/v1/namespaces/{NS}/pods/{NAME}/resize"
    assert resize[3]["Content-Type"] == "application/strategic-merge-patch+json"
    assert json.loads(resize[4]) == {"spec": {"containers": [{"name": "sandbox", "resources": {
        "limits": {"memory": "1Gi", "cpu": "2"}, "requests": {"memory": "1Gi", "cpu": "2"}}}]}}
    assert resize[2]["fieldManager"] == ["podman-sandbox"]
    # Then the Pod says which spec it now holds, so the next apply finds it in sync.
    assert notes[1] == f"/api/v1/namespaces/{NS}/pods/{NAME}"
    assert json.loads(notes[4])["metadata"]["annotations"][LABEL_HASH] == \
        new[0]["metadata"]["annotations"][LABEL_HASH]


def test_without_the_resize_subresource_a_limit_change_recreates_the_pod(cluster):
    api, kube = cluster
    new = resize_case(api, {"memory": "512m"}, {"memory": "1g"}, served=False)
    api.execs = [tar_sink({})]
    assert kube.apply(new, fill=lambda: iter([b""])) == "recreated"
    assert [s[0] for s in api.sent if s[0] != "GET"] == ["DELETE", "PATCH"]
    assert not any(p.endswith("/resize") for p in api.paths("PATCH"))


def test_a_resize_the_api_refuses_becomes_a_recreate(cluster):
    api, kube = cluster
    new = resize_case(api, {"memory": "1g"}, {"memory": "512m"}, served=True)
    api.resize = (422, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422,
                        "reason": "Invalid", "message": "memory limits cannot be decreased"})
    api.execs = [tar_sink({})]
    assert kube.apply(new, fill=lambda: iter([b""])) == "recreated"
    assert [s[0] for s in api.sent if s[0] != "GET"] == ["PATCH", "DELETE", "PATCH"]


@pytest.mark.parametrize("old_doc, new_doc", [
    ({"memory": "512m"}, {"memory": "1g", "env": {"A": "1"}}),  # more than a limit changed
    ({"memory": "512m"}, {}),  # a limit removed: another QoS class
    ({"memory": "512m"}, {"memory": "1g", "kube": {"size": "2g"}}),  # the kube settings changed
])
def test_a_change_beyond_memory_and_cpus_recreates_even_where_resize_is_served(cluster, old_doc, new_doc):
    api, kube = cluster
    new = resize_case(api, old_doc, new_doc, served=True)
    api.execs = [tar_sink({})]
    assert kube.apply(new, fill=lambda: iter([b""])) == "recreated"
    assert not any(p.endswith("/resize") for p in api.paths("PATCH"))


@pytest.mark.parametrize("pvc", [False, True])
def test_a_failed_fill_removes_the_pod_and_a_new_claim_so_the_next_apply_starts_again(cluster, pvc):
    """Else the next apply would find the Pod in sync, its workspace half the project."""
    api, kube = cluster
    objects = rendered(**({"kube": {"workspace": "pvc"}} if pvc else {}))
    api.claims = [(404, CLAIM_NOT_FOUND)]
    api.reads = [(404, NOT_FOUND), (200, seen_as(objects[0])), (404, NOT_FOUND)]
    api.execs = [tar_sink({}, code=2, stderr=b"tar: write error: No space left on device\n")]
    with pytest.raises(SandboxError, match="No space left"):
        kube.apply(objects, fill=lambda: iter([b"x" * 512]))
    deleted = api.paths("DELETE")
    assert deleted[0] == f"/api/v1/namespaces/{NS}/pods/{NAME}"
    assert deleted[1:] == ([f"/api/v1/namespaces/{NS}/persistentvolumeclaims/{CLAIM}"] if pvc else [])


def test_pull_through_the_cli_and_a_kubeconfig(cluster, tmp_path, monkeypatch, capfd):
    api, kube = cluster
    project = _kubeconfig_project(kube, tmp_path, monkeypatch)
    (project / "sandbox.yaml").write_text(f"image: localhost/x:1\nname: {NAME}\n")
    for var in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.chdir(project)
    api.reads = [(200, pod_json("Running"))]
    api.execs = [tar_source(tar_of([("./results.txt", "file", b"done\n"), ("./x", "link", "/")]))]
    from podman_sandbox.cli.main import run
    assert run(["pull", str(tmp_path / "back")]) == 0
    assert (tmp_path / "back" / "results.txt").read_bytes() == b"done\n"
    err = capfd.readouterr().err
    assert "1 files" in err and "./x" in err  # what was left out is named

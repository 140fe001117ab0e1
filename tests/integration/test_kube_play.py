"""Every rendered Pod, run for real with `podman kube play` (offline: imagePullPolicy
Never, a localhost/ image), read back from inside, and compared with the local
sandbox of the same spec where Podman is the judge of "the same"; then
`podman kube down`.

Where Podman is not a kubelet (it is the only runtime here), it is said here:
- Podman 4.3 refuses annotation values over 63 characters (it applies the label
  rule; Kubernetes allows 256 KiB of annotations in all): the long identity
  annotations (spec hash, spec JSON, long paths) are dropped before playing.
- NetworkPolicy: Podman plays the Pod and ignores the policy, so `network: none`
  is not checked here (the policy is checked by kubernetes-validate, unit tests).
- emptyDir medium Memory: Podman makes a volume, not a tmpfs; only "writable" is checked.
- The pod's infra (pause) process is PID 1 with shareProcessNamespace, as on a kubelet.
- Capabilities: the Pod adds exactly the rendered set (Podman's documented defaults,
  less cap_drop, plus cap_add). The local sandbox can have more: the tests' own
  CONTAINERS_CONF (the host fix) replaces the distribution's containers.conf, and
  Podman 4.3's compiled-in defaults add AUDIT_WRITE, MKNOD and NET_RAW.
- A non-root `runAsUser`: Podman's kube play gives the added capabilities as ambient
  ones, so the process has them in effect; a kubelet (and the local sandbox, with
  --user) leaves a non-root process none in effect.
- No node podPidsLimit: the pids cgroup is unlimited ("max"), as `--accept-weaker
  pids_limit` says it may be.
- The workspace: Podman makes a named volume for an emptyDir or a claim (the PVC
  object in the stream makes the volume; no storage class or size is enforced).
  It is filled with the backend's tar stream (engine/kube/workspace.pack) on the
  stdin of `podman exec -i POD-sandbox tar x ...`, where the backend uses the
  API's exec websocket; `pull` is `tar c` read back by the same unpack().
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from harness import podman

from podman_sandbox.engine.kube import workspace

MIB = 1 << 20
# include/uapi/linux/capability.h: the bit of each capability in CapEff.
CAP_BITS = {name: bit for bit, name in enumerate((
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP"))}
PODMAN_COMPILED_EXTRA = {"AUDIT_WRITE", "MKNOD", "NET_RAW"}

SPECS = {
    "plain": "pids_limit: 0\n",
    "limited": ("memory: 96m\ncpus: 0.5\nread_only: true\nuser: \"1000:1000\"\n"
                "cap_drop: [NET_BIND_SERVICE, CHOWN]\nenv:\n  GREETING: hello there\n"
                "  QUOTE: \"it's $(not) run\"\n"),
    "no-caps": "cap_drop: [ALL]\ncap_add: [KILL]\nmemory: 1g\npids_limit: 0\n",
}

PROBE = ("grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; id -u; id -g; "
         "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
         "if touch /probe-root 2>/dev/null; then echo root-rw; else echo root-ro; fi; "
         "if touch /tmp/probe 2>/dev/null; then echo tmp-rw; else echo tmp-ro; fi; "
         "echo \"GREETING=$GREETING\"; echo \"QUOTE=$QUOTE\"; cat /proc/1/cmdline | tr '\\0' ' '; echo")


def playable(text: str) -> str:
    """The rendered stream, less what Podman 4.3 refuses and a kubelet takes (see above)."""
    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        meta = doc["metadata"]
        meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if len(v) <= 63}
    return yaml.safe_dump_all(docs, sort_keys=False)


def probe(container: str) -> dict:
    out = podman("exec", container, "sh", "-c", PROBE).stdout.splitlines()
    caps = dict(line.split(":\t") for line in out[:2])
    return {"CapEff": caps["CapEff"], "NoNewPrivs": caps["NoNewPrivs"], "uid": out[2], "gid": out[3],
            "memory": out[4], "root": out[5], "tmp": out[6], "env": out[7:9], "pid1": out[9]}


@pytest.fixture
def played(tmp_path):
    files: list[Path] = []
    yield files
    for path in files:
        podman("kube", "down", str(path), check=False)


@pytest.mark.parametrize("which", list(SPECS))
def test_a_rendered_pod_runs_under_podman_as_the_local_sandbox_does(sandbox, played, tmp_path, which):
    sandbox.write_spec(f"image: {sandbox.image}\n{SPECS[which]}")
    rendered = sandbox.ok("render", "--target", "pod", "--accept-weaker", "pids_limit").stdout
    pod = yaml.safe_load_all(rendered).__next__()
    name = pod["metadata"]["name"]
    path = tmp_path / "pod.yaml"
    path.write_text(playable(rendered))
    played.append(path)
    result = podman("kube", "play", str(path), check=False)
    assert result.returncode == 0, result.stderr
    in_pod = probe(f"{name}-sandbox")
    # The identity a kube play keeps: the labels (the long annotations were dropped).
    info = json.loads(podman("pod", "inspect", name).stdout)
    labels = (info[0] if isinstance(info, list) else info).get("Labels") or {}
    down = podman("kube", "down", str(path), check=False)
    assert down.returncode == 0, down.stderr
    played.remove(path)
    assert subprocess.run(["podman", "pod", "exists", name]).returncode == 1

    # The local sandbox of the same spec (after the pod: `podman inspect NAME` would
    # find the pod of that name first).
    sandbox.ok("apply", "--allow")
    local = probe(name)

    # The guarantees, as the kernel sees them, are the local sandbox's.
    for key in ("NoNewPrivs", "uid", "gid", "memory", "root", "tmp", "env"):
        assert in_pod[key] == local[key], (key, in_pod[key], local[key])
    assert in_pod["NoNewPrivs"] == "1"
    spec = pod["spec"]["containers"][0]
    rendered_caps = spec["securityContext"]["capabilities"]["add"]
    assert int(in_pod["CapEff"], 16) == sum(1 << CAP_BITS[c] for c in rendered_caps)
    extra = int(local["CapEff"], 16) & ~int(in_pod["CapEff"], 16)
    if in_pod["uid"] == "0":
        assert int(in_pod["CapEff"], 16) & ~int(local["CapEff"], 16) == 0  # never more than locally
        assert extra & ~sum(1 << CAP_BITS[c] for c in PODMAN_COMPILED_EXTRA) == 0
    else:
        assert int(local["CapEff"], 16) == 0  # Podman's ambient capabilities: see above
    if which == "limited":
        assert int(in_pod["memory"]) == 96 * MIB and spec["resources"]["limits"]["memory"] == "96Mi"
        assert in_pod["root"] == "root-ro" and in_pod["tmp"] == "tmp-rw"
        assert (in_pod["uid"], in_pod["gid"]) == ("1000", "1000")
        assert in_pod["env"] == ["GREETING=hello there", "QUOTE=it's $(not) run"]
    if which == "no-caps":
        assert int(in_pod["CapEff"], 16) == 1 << 5  # CAP_KILL alone
    # shareProcessNamespace: the pod's infra process is PID 1, not our sleep.
    assert "sleep" not in in_pod["pid1"]
    assert labels.get("io.podman-sandbox.managed") == "true"
    assert labels.get("io.podman-sandbox.sandbox") == name


def test_render_refuses_what_a_pod_cannot_hold(sandbox):
    sandbox.write_spec(f"image: {sandbox.image}\nnetwork: host\npids_limit: 0\n")
    result = sandbox.run("render", "--target", "pod")
    assert result.returncode == 123 and "network" in result.stderr, result
    plan = json.loads(sandbox.run("plan", "--target", "sandbox", "--json").stdout)
    assert {f["field"]: f["status"] for f in plan["fields"]}["network"] == "refused"
    assert plan["renders"] is False


@pytest.mark.parametrize("kind", ["emptydir", "pvc"])
def test_the_workspace_goes_in_by_the_tar_stream_and_comes_back_by_pull(sandbox, played, tmp_path, kind):
    project = sandbox.project
    sandbox.write_spec(f"image: {sandbox.image}\npids_limit: 0\nread_only: true\n"
                       f"kube:\n  workspace: {kind}\n  size: 64m\n")
    (project / "src").mkdir()
    (project / "src" / "main.py").write_text("print('from the project')\n")
    (project / "data.bin").write_bytes(os.urandom(300_000))
    (project / ".gitignore").write_text("build/\n")
    (project / "build").mkdir()
    (project / "build" / "artifact").write_text("not sent")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("[core]\n")
    (project / "to-etc").symlink_to("/etc")
    rendered = sandbox.ok("render", "--target", "pod").stdout
    docs = list(yaml.safe_load_all(rendered))
    name = docs[0]["metadata"]["name"]
    assert [d["kind"] for d in docs] == (["Pod", "PersistentVolumeClaim"] if kind == "pvc" else ["Pod"])
    path = tmp_path / "pod.yaml"
    path.write_text(playable(rendered))
    played.append(path)
    result = podman("kube", "play", str(path), check=False)
    if kind == "pvc":
        claim = f"workspace-{name}"
        played_volume = podman("volume", "exists", claim, check=False).returncode == 0
    assert result.returncode == 0, result.stderr
    try:
        pod = f"{name}-sandbox"
        # In: the backend's own bytes, on the stdin of its own `tar x` argv.
        fill = subprocess.run(["podman", "exec", "-i", pod, *workspace.FILL_ARGV],
                              input=b"".join(workspace.pack(str(project))), capture_output=True)
        assert fill.returncode == 0, fill.stderr
        inside = podman("exec", pod, "sh", "-c",
                        "cat /workspace/src/main.py; wc -c < /workspace/data.bin; "
                        "readlink /workspace/to-etc; ls -A /workspace; "
                        "echo made in the pod > /workspace/out.txt; ln -s /etc /workspace/out-link; "
                        "mkdir /workspace/results; echo 42 > /workspace/results/answer").stdout
        lines = inside.splitlines()
        assert lines[0] == "print('from the project')" and lines[1].strip() == "300000"
        assert lines[2] == "/etc"  # a link stays a link
        assert set(lines[3:]) == {".gitignore", "data.bin", "sandbox.yaml", "src", "to-etc"}  # no .git, build
        # Back: `tar c` of /workspace, unpacked into a new folder.
        back = subprocess.run(["podman", "exec", pod, *workspace.READ_ARGV], capture_output=True)
        assert back.returncode == 0, back.stderr
        dest = tmp_path / "back"
        made = workspace.unpack(io.BytesIO(back.stdout), str(dest))
        assert (dest / "out.txt").read_text() == "made in the pod\n"
        assert (dest / "results" / "answer").read_text() == "42\n"
        assert (dest / "data.bin").read_bytes() == (project / "data.bin").read_bytes()
        assert (dest / "src" / "main.py").read_text() == "print('from the project')\n"
        assert not os.path.lexists(dest / "out-link") and not os.path.lexists(dest / "to-etc")
        assert {"./out-link", "./to-etc"} <= set(made["skipped"])
    finally:
        down = podman("kube", "down", str(path), check=False)
        played.remove(path)
        if kind == "pvc":
            podman("volume", "rm", "-f", claim, check=False)
    assert down.returncode == 0, down.stderr
    if kind == "pvc":
        assert played_volume, "kube play made no volume for the claim"

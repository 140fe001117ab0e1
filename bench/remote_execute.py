"""`execute true` through a remote Podman service against the local engine, alternating.

Starts `podman system service --time=0 unix://TMP/podman.sock` with its own store,
makes a sandbox on each engine from the same spec, then times N rounds of
`podman-sandbox execute true` on each, alternating (local first, then remote),
and prints the medians. Stops the service by its PID. Not a test: numbers.

    .venv/bin/python bench/remote_execute.py [ROUNDS]
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST_FIX = ('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
            '[engine]\nruntime = "runc"\n')
IMAGE = "localhost/podman-sandbox-bench/remote:1"


def cli(env, *args, cwd):
    return subprocess.run([sys.executable, "-m", "podman_sandbox", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True)


def main(rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="psbench-remote-"))
    conf = root / "containers.conf"
    conf.write_text(HOST_FIX)
    sock = root / "podman.sock"
    base = {**os.environ, "CONTAINERS_CONF": str(conf)}
    for var in ("CONTAINER_HOST", "CONTAINER_CONNECTION"):
        base.pop(var, None)
    # Its own store, run and tmp folders (the default tmpdir holds the local engine's state).
    proc = subprocess.Popen(["podman", "--root", str(root / "store"), "--runroot", str(root / "run"),
                             "--tmpdir", str(root / "tmp"), "system", "service", "--time=0", f"unix://{sock}"], env=base,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    project = root / "project"
    project.mkdir()
    (project / "sandbox.yaml").write_text(f"image: {IMAGE}\n")
    envs = {}
    for name, extra in (("local", {}), ("remote", {"CONTAINER_HOST": f"unix://{sock}",
                                                   "PODMAN_SANDBOX_REMOTE_WORKSPACE": str(project)})):
        env = {**base, **extra}
        for var in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"):
            folder = root / name / var
            folder.mkdir(parents=True, mode=0o700)
            env[var] = str(folder)
        envs[name] = env
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for name, env in envs.items():
            cli(env, "local-image", "--tag", IMAGE, cwd=project)
            cli(env, "apply", "--allow", cwd=project)
            cli(env, "execute", "true", cwd=project)  # warm
        times = {name: [] for name in envs}
        for _ in range(rounds):
            for name, env in envs.items():
                start = time.perf_counter()
                cli(env, "execute", "true", cwd=project)
                times[name].append(time.perf_counter() - start)
        for name, values in times.items():
            print(f"{name:7} execute true: median {statistics.median(values) * 1000:.0f} ms "
                  f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={rounds})")
    finally:
        for name, env in envs.items():
            subprocess.run([sys.executable, "-m", "podman_sandbox", "stop"], env=env, cwd=project,
                           capture_output=True)
        out = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=io.podman-sandbox.project={project}"],
                             env=base, capture_output=True, text=True).stdout
        for cid in out.split():
            subprocess.run(["podman", "rm", "-f", "-t", "0", cid], env=base, capture_output=True)
        subprocess.run(["podman", "rmi", "-f", IMAGE], env=base, capture_output=True)
        remote = {**base, "CONTAINER_HOST": f"unix://{sock}"}
        for cid in subprocess.run(["podman", "ps", "-aq"], env=remote, capture_output=True,
                                  text=True).stdout.split():
            subprocess.run(["podman", "rm", "-f", "-t", "0", cid], env=remote, capture_output=True)
        subprocess.run(["podman", "rmi", "-a", "-f"], env=remote, capture_output=True)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        # Never `system reset`: it would remove the default (shared) tmpdir too.
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            ours = [line.split()[1] for line in fh if line.split()[1].startswith(str(root) + "/")]
        for point in reversed(ours):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

"""`execute true` through remote Podman services against the local engine, alternating.

Starts the services of tests/remote_service.py: `podman system service --time=0` with its
own store on a unix socket, and (as root) on tcp:// in a network namespace of its own,
reached through a veth pair; makes a sandbox on each engine from the same spec, then
times N rounds of `podman-sandbox execute true`, one per engine in turn (local, unix,
tcp), and prints the medians. Everything it made is removed at the end, the services
stopped by their PIDs. Not a test: numbers.

    .venv/bin/python bench/remote_execute.py [ROUNDS]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import HOST_FIX_CONF  # noqa: E402
from remote_service import serve  # noqa: E402

IMAGE = "localhost/podman-sandbox-bench/remote:1"


def cli(env, *args, cwd):
    return subprocess.run([sys.executable, "-m", "podman_sandbox", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True)


def engine_env(base: dict, folder: Path, extra: dict) -> dict:
    env = {**base, **extra}
    for var in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"):
        (folder / var).mkdir(parents=True, mode=0o700)
        env[var] = str(folder / var)
    return env


def main(rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="psbench-remote-"))
    project = root / "project"
    project.mkdir()
    (project / "sandbox.yaml").write_text(f"image: {IMAGE}\n")
    conf = root / "containers.conf"
    conf.write_text(HOST_FIX_CONF)
    base = {**os.environ, "CONTAINERS_CONF": str(conf)}
    for var in ("CONTAINER_HOST", "CONTAINER_CONNECTION"):
        base.pop(var, None)
    transports = ["unix"] + (["tcp"] if os.geteuid() == 0 and shutil.which("ip") else [])
    envs = {"local": engine_env(base, root / "local", {})}
    try:
        with ExitStack() as stack:
            for transport in transports:
                service = stack.enter_context(serve(transport, HOST_FIX_CONF))
                envs[transport] = engine_env(base, root / transport, {
                    "CONTAINER_HOST": service.url, "CONTAINERS_CONF": service.conf,
                    "PODMAN_SANDBOX_REMOTE_WORKSPACE": str(project)})
            try:
                for env in envs.values():
                    cli(env, "local-image", "--tag", IMAGE, cwd=project)
                    cli(env, "apply", "--allow", cwd=project)
                    cli(env, "execute", "true", cwd=project)  # warm
                times: dict[str, list[float]] = {name: [] for name in envs}
                for _ in range(rounds):
                    for name, env in envs.items():
                        start = time.perf_counter()
                        cli(env, "execute", "true", cwd=project)
                        times[name].append(time.perf_counter() - start)
                for name, values in times.items():
                    print(f"{name:6} execute true: median {statistics.median(values) * 1000:.0f} ms "
                          f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={rounds})")
            finally:
                # The local engine's sandbox and image; a service's go with its store.
                local = envs["local"]
                subprocess.run([sys.executable, "-m", "podman_sandbox", "stop"], env=local,
                               cwd=project, capture_output=True)
                out = subprocess.run(["podman", "ps", "-aq", "--filter",
                                      f"label=io.podman-sandbox.project={project}"],
                                     env=local, capture_output=True, text=True).stdout
                for cid in out.split():
                    subprocess.run(["podman", "rm", "-f", "-t", "0", cid], env=local, capture_output=True)
                subprocess.run(["podman", "rmi", "-f", IMAGE], env=local, capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

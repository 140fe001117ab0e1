"""What the kube path costs here: `render --target pod`, `podman kube play` of it, the
workspace fill (the backend's tar stream through `podman exec -i ... tar x`), and
`podman kube down`, each timed over N rounds; prints the medians. Not a test: numbers.

    .venv/bin/python bench/kube_play.py [ROUNDS] [FILES]

The project holds FILES files of 4 KiB (default 200). The image is made with
`podman-sandbox local-image` and removed at the end, with the project folder.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from podman_sandbox.engine.kube import workspace

HOST_FIX = ('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
            '[engine]\nruntime = "runc"\n')
IMAGE = "localhost/podman-sandbox-bench/kube:1"


def timed(argv, env, cwd=None, stdin=None) -> tuple[float, bytes]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, input=stdin, capture_output=True, check=True)
    return time.perf_counter() - start, done.stdout


def main(rounds: int, files: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="psbench-kube-"))
    conf = root / "containers.conf"
    conf.write_text(HOST_FIX)
    env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(conf))}
    project = root / "project"
    (project / "src").mkdir(parents=True)
    for i in range(files):
        (project / "src" / f"f{i}.txt").write_bytes(os.urandom(4096))
    (project / "sandbox.yaml").write_text(f"image: {IMAGE}\npids_limit: 0\nmemory: 256m\n")
    cli = [sys.executable, "-m", "podman_sandbox"]
    times: dict[str, list[float]] = {"render": [], "kube play": [], "fill": [], "kube down": []}
    try:
        subprocess.run([*cli, "local-image", "--tag", IMAGE], env=env, cwd=project,
                       capture_output=True, check=True)
        for _ in range(rounds):
            took, out = timed([*cli, "render", "--target", "pod"], env, cwd=project)
            times["render"].append(took)
            docs = list(yaml.safe_load_all(out))
            for doc in docs:  # Podman 4.3 refuses annotation values over 63 characters
                doc["metadata"]["annotations"] = {k: v for k, v in
                                                  (doc["metadata"].get("annotations") or {}).items()
                                                  if len(v) <= 63}
            path = root / "pod.yaml"
            path.write_text(yaml.safe_dump_all(docs))
            times["kube play"].append(timed(["podman", "kube", "play", str(path)], env)[0])
            tar = b"".join(workspace.pack(str(project)))
            name = docs[0]["metadata"]["name"]
            times["fill"].append(timed(["podman", "exec", "-i", f"{name}-sandbox",
                                        *workspace.FILL_ARGV], env, stdin=tar)[0])
            times["kube down"].append(timed(["podman", "kube", "down", str(path)], env)[0])
    finally:
        subprocess.run(["podman", "rmi", "-f", IMAGE], env=env, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    for what, values in times.items():
        print(f"{what:10} median {statistics.median(values):.3f} s  (min {min(values):.3f}, "
              f"max {max(values):.3f}, {len(values)} rounds)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10, int(sys.argv[2]) if len(sys.argv) > 2 else 200)

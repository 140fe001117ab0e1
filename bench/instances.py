#!/usr/bin/env python3
"""Time creating N instances of one project at once, against raw Podman and git.

    python3 bench/instances.py --podman-sandbox /tmp/bench-venv/bin/podman-sandbox
    python3 bench/instances.py --count 8 --rounds 5

A git project with one setup step. Each round, both ways, in alternating order:

  cold  no setup image yet. Ours: N `execute --instance iK true` started at once
        (one setup build under the project's setup lock, N worktrees, N
        containers, N commands).  Raw: `podman run` the setup step, `podman
        commit`, `podman rm`, then N at once: `git worktree add -b` (one at a
        time, as git needs), `podman run --detach` with the same options our
        sandboxes get, `podman exec CTR true`.
  warm  the setup image exists; the instances do not (their containers and
        worktrees were removed). The same, without the setup build.

Only the creation is timed; what a round made is removed after it (ours with
`discard --instance iK --force`). Prints medians, 10th/90th percentiles and
the ratio of the medians. Everything it makes is named psbench-<session>-*
and removed at the end. Standard library only; uses bench.py's helpers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (IMAGE, PREFIX, Bench, BenchError, Report, Sample, alternate, cleanup,  # noqa: E402
                   describe_tool, ensure_podman_runs, find_tool, machine_lines, prepare_env)

SETUP_STEP = "echo built > /etc/built"
GIT_ID = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def parallel(argvs: list[list[str]], b: Bench, cwd: Path) -> None:
    """Start every argv at once; an error if any fails."""
    procs = [subprocess.Popen(a, cwd=cwd, env=b.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for a in argvs]
    failed = [(a, p.communicate()[1]) for a, p in zip(argvs, procs)]
    failed = [(a, err) for (a, err), p in zip(failed, procs) if p.returncode != 0]
    if failed:
        raise BenchError(f"{' '.join(failed[0][0])} failed: {failed[0][1].decode(errors='replace')[-500:]}")


class World:
    def __init__(self, b: Bench, count: int):
        self.b = b
        self.count = count
        self.project = b.root / "project"
        self.project.mkdir()
        (self.project / "sandbox.yaml").write_text(
            f"image: {IMAGE}\nname: {PREFIX}-p\nsetup:\n  - {SETUP_STEP}\n")
        (self.project / "main.py").write_text("print('hello')\n")
        self.git("init", "-q")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "start")
        self.raw_setup = f"localhost/{PREFIX}-raw-setup:1"
        self.git_lock = threading.Lock()

    def git(self, *args: str) -> str:
        return self.b.run(["git", *GIT_ID, *args], cwd=self.project).stdout

    # --- ours ---
    def ours(self) -> Sample:
        start = time.perf_counter()
        parallel([[self.b.tool, "execute", "--instance", f"i{k}", "true"] for k in range(self.count)],
                 self.b, self.project)
        wall = time.perf_counter() - start
        names = {n for c in self._containers() for n in c.get("Names") or ()}
        made = {f"{PREFIX}-p--i{k}" for k in range(self.count)}
        if not made <= names:
            raise BenchError(f"expected containers {sorted(made - names)}")
        for k in range(self.count):
            # Under heavy load `podman rm` now and then fails to unmount at once: once more.
            if self.b.ours("discard", "--instance", f"i{k}", "--force", cwd=self.project,
                           check=False).returncode != 0:
                time.sleep(1)
                self.b.ours("discard", "--instance", f"i{k}", "--force", cwd=self.project)
        return Sample(wall, 0.0)

    def drop_our_setup(self) -> None:
        out = self.b.podman_cmd("images", "--format", "json", "--filter",
                                "reference=localhost/podman-sandbox-setup", check=False).stdout
        for img in json.loads(out or "[]") or []:
            if (img.get("Labels") or {}).get("io.podman-sandbox.project") == str(self.project):
                self.b.podman_cmd("rmi", "--force", img["Id"], check=False)

    def _containers(self) -> list[dict]:
        out = self.b.podman_cmd("ps", "--all", "--format", "json", "--filter",
                                f"label=io.podman-sandbox.project={self.project}", check=False).stdout
        return json.loads(out or "[]") or []

    # --- raw podman + git ---
    def raw(self, cold: bool) -> Sample:
        p = self.b.podman
        start = time.perf_counter()
        image = self.raw_setup
        if cold:
            tmp = f"{PREFIX}-raw-setup"
            self.b.run([p, "run", "--name", tmp, "-v", f"{self.project}:/workspace:rw", "-w", "/workspace",
                        IMAGE, "sh", "-c", SETUP_STEP])
            self.b.run([p, "commit", "-q", tmp, image])
            self.b.run([p, "rm", tmp])

        def one(k: int) -> None:
            wt = self.b.root / "raw" / f"i{k}"
            with self.git_lock:
                self.git("worktree", "add", "-q", "-b", f"raw/i{k}", str(wt), "HEAD")
            name = f"{PREFIX}-raw-i{k}"
            self.b.run([p, "run", "--detach", "--name", name, "--init", "--security-opt",
                        "no-new-privileges", "--pids-limit", "2048", "--volume", f"{wt}:/workspace:rw",
                        "--workdir", "/workspace", "--entrypoint", "sleep", image, "infinity"])
            self.b.run([p, "exec", name, "true"])

        with ThreadPoolExecutor(self.count) as pool:
            list(pool.map(one, range(self.count)))
        wall = time.perf_counter() - start
        self.b.run([p, "rm", "--force", "--time", "0", *[f"{PREFIX}-raw-i{k}" for k in range(self.count)]])
        for k in range(self.count):
            self.git("worktree", "remove", "--force", str(self.b.root / "raw" / f"i{k}"))
            self.git("branch", "-D", f"raw/i{k}")
        if cold:
            self.b.run([p, "rmi", image])
        return Sample(wall, 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--podman-sandbox", dest="tool", metavar="PATH")
    parser.add_argument("--count", type=int, default=8, help="instances at once (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per scenario (default 5)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    env = prepare_env(root)
    (root / "state").mkdir(mode=0o700)
    env["XDG_STATE_HOME"] = str(root / "state")
    env.pop("PODMAN_SANDBOX_INSTANCE", None)
    b = Bench(find_tool(args.tool), root, env)
    try:
        b.run([b.tool, "local-image", "--tag", IMAGE])
        ensure_podman_runs(b)
        for line in machine_lines(b) + describe_tool(b.tool, env):
            print(line)
        print(f"command: {' '.join(sys.argv)}")
        w = World(b, args.count)
        rep = Report()

        def ours_cold() -> Sample:
            w.drop_our_setup()
            return w.ours()

        print(f"\ncold: {args.count} instances at once, no setup image yet")
        a, r = alternate(args.rounds, args.warmup, ours_cold, lambda: w.raw(cold=True))
        rep.pair("cold", f"podman-sandbox: {args.count} x execute --instance", a,
                 f"raw: setup run+commit, {args.count} x (worktree, run -d, exec)", r, None)
        print(f"\nwarm: {args.count} instances at once, the setup image cached")
        w.ours()  # builds our setup image once more
        b.run([b.podman, "run", "--name", f"{PREFIX}-raw-setup", IMAGE, "sh", "-c", SETUP_STEP])
        b.run([b.podman, "commit", "-q", f"{PREFIX}-raw-setup", w.raw_setup])
        b.run([b.podman, "rm", f"{PREFIX}-raw-setup"])
        a, r = alternate(args.rounds, args.warmup, w.ours, lambda: w.raw(cold=False))
        rep.pair("warm", f"podman-sandbox: {args.count} x execute --instance", a,
                 f"raw: {args.count} x (worktree, run -d, exec)", r, None)
        if args.json:
            Path(args.json).write_text(json.dumps(rep.rows, indent=2))
        return 0
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        b.podman_cmd("rm", "--force", "--time", "0",
                     *[f"{PREFIX}-raw-i{k}" for k in range(args.count)], check=False)
        b.podman_cmd("rmi", "--force", f"localhost/{PREFIX}-raw-setup:1", check=False)
        try:
            w.drop_our_setup()
        except NameError:
            pass
        cleanup(b)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

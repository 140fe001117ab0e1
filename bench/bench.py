#!/usr/bin/env python3
"""Time podman-sandbox against raw Podman, side by side, on this machine.

    python3 bench/bench.py                         # every scenario, 20 rounds each
    python3 bench/bench.py --only execute,apply    # some of them
    python3 bench/bench.py --podman-sandbox /tmp/bench-venv/bin/podman-sandbox

Each scenario warms up first, then runs our command and the raw Podman
command it stands for in alternating order (ABAB..., BABA... every other
round) in the same run, and prints medians, 10th/90th percentiles and the
ratio of the medians, next to its target (issue 6's; issue 13's for `execute`,
`first` and the REST rows). Exit status 0 when every target is met, 1 otherwise.

Scenarios:
  execute     `execute true` on a running, in-sync sandbox  vs  `podman exec CTR true`
  inputs      `execute true` on an in-sync sandbox whose setup declares `inputs:`
              (requirements.txt and a folder of --input-files files, stat-checked
              by the fast path)  vs  `podman exec CTR true`, and vs the same
              execute without inputs (what inputs add)
  apply       `apply` with nothing to change: time, and how many podman calls
              (counted with a logging `podman` shim on PATH in a separate run)
  stopped     `execute true` on a stopped sandbox (the container exists, e.g.
              after a reboot or `podman stop`)  vs  `podman start CTR` + `podman exec CTR true`
  removed     `execute true` after `podman-sandbox stop`, which removes the
              container (information, no target)  vs  `podman run -d` + `podman exec`
  first       the first `execute true` in a fresh project folder (nothing made yet,
              no setup steps; a new folder and sandbox name every round)  vs
              `podman run -d` + `podman exec` of a new container; and the Podman
              calls that first execute makes (a logging `podman` shim, a separate run)
  configure   `configure --memory` on a running sandbox: applied live? (same
              container, same init process, an uncommitted file kept, the
              cgroup's limit) and its time  vs  `podman update --memory`
  list        `status` and `list` with N sandboxes (default 50) made by `apply`
  runc        the floor under Podman (information): `runc exec CTR_ID true` on a
              running sandbox (runc's state root of this host)  vs  `podman exec CTR true`
  api         the Python API's `Sandbox.run("true")` from one long-lived process,
              through `podman exec`, then through Podman's REST API with a
              `podman system service` the bench starts (and stops by PID)
              vs  `podman exec CTR true`, timed in that same process; and the
              CLI's `execute true` through that service  vs  `podman exec CTR true`

The script needs Podman and makes everything it uses: its own XDG folders in a
temporary folder, a busybox image (`podman-sandbox local-image`, tagged
localhost/podman-sandbox-bench/busybox:<session>) and sandboxes named
psbench-<session>-*. At the end it removes exactly those containers and that
image (--keep leaves them). When Podman cannot run a container here and
CONTAINERS_CONF is unset, it applies the same host fix as the test suite
(runc, explicit ulimits) through a temporary containers.conf.

Measure what users run: the installed console script, with its bytecode
compiled. An editable install with PYTHONDONTWRITEBYTECODE=1 recompiles every
module of the package at each start; the script says so when it sees it:

    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install .
    python3 bench/bench.py --podman-sandbox /tmp/bench-venv/bin/podman-sandbox

Standard library only, Python 3.9+.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SESSION = uuid.uuid4().hex[:8]
PREFIX = f"psbench-{SESSION}"
IMAGE = f"localhost/podman-sandbox-bench/busybox:{SESSION}"
HOST_FIX_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""
LABEL_PROJECT = "io.podman-sandbox.project"
SCENARIOS = ("execute", "inputs", "apply", "stopped", "removed", "first", "configure", "list",
             "api", "runc")
MIB = 1024 * 1024


class BenchError(Exception):
    pass


class Sample:
    """One timed run: wall seconds and CPU seconds. Samples add up (start + exec)."""

    def __init__(self, wall: float, cpu: float):
        self.wall = wall
        self.cpu = cpu

    def __add__(self, other: "Sample") -> "Sample":
        return Sample(self.wall + other.wall, self.cpu + other.cpu)


# --- running things -----------------------------------------------------------------

class Bench:
    def __init__(self, tool: str, root: Path, env: dict):
        self.tool = tool
        self.root = root
        self.env = env
        self.podman = shutil.which("podman", path=env.get("PATH")) or "podman"

    def run(self, argv: list[str], cwd: Path | None = None, check: bool = True,
            env: dict | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(argv, cwd=cwd or self.root, env=env or self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise BenchError(f"{' '.join(argv)} -> exit {proc.returncode}\n{proc.stderr.strip()}")
        return proc

    def podman_cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run([self.podman, *args], check=check)

    def ours(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        return self.run([self.tool, *args], cwd=cwd, check=check)

    def timed(self, argv: list[str], cwd: Path | None = None, env: dict | None = None) -> Sample:
        """Wall time of argv, output discarded; an error if it fails.

        Also the CPU time of the process and of the children it waited for
        (not Podman's conmon and OCI runtime, which it does not wait for).
        """
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd or self.root, env=env or self.env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(argv)} -> exit {proc.returncode}\n"
                             f"{proc.stderr.decode(errors='replace').strip()}")
        return Sample(elapsed, cpu)

    def project(self, name: str, spec: str) -> Path:
        folder = self.root / "projects" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sandbox.yaml").write_text(spec)
        return folder

    def sandbox_spec(self, name: str, extra: str = "") -> str:
        return f"image: {IMAGE}\nname: {name}\n{extra}"


def alternate(rounds: int, warmup: int, a, b) -> tuple[list[Sample], list[Sample]]:
    """Time a() and b() in alternating order after warm-up; round i of each list pairs up."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for i in range(rounds):
        if i % 2 == 0:
            ta.append(a())
            tb.append(b())
        else:
            tb.append(b())
            ta.append(a())
    return ta, tb


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def describe(samples: list[Sample]) -> str:
    walls = [s.wall for s in samples]
    return (f"median {statistics.median(walls) * 1000:6.1f} ms  "
            f"p10 {pct(walls, 0.1) * 1000:6.1f}  p90 {pct(walls, 0.9) * 1000:6.1f}  "
            f"cpu {statistics.median(s.cpu for s in samples) * 1000:5.1f}")


def median_wall(samples: list[Sample]) -> float:
    return statistics.median(s.wall for s in samples)


class Report:
    def __init__(self):
        self.rows: list[dict] = []

    def pair(self, scenario: str, ours_label: str, ours: list[Sample], raw_label: str,
             raw: list[Sample], target: float | None) -> None:
        ratio = median_wall(ours) / median_wall(raw)
        extra = statistics.median(o.wall - r.wall for o, r in zip(ours, raw))
        ok = None if target is None else ratio <= target
        print(f"  {ours_label:46} {describe(ours)}")
        print(f"  {raw_label:46} {describe(raw)}")
        verdict = "" if target is None else (f"   target <= {target:.2f}x: " + ("met" if ok else "NOT MET"))
        print(f"  {'ratio of medians':46} {ratio:.2f}x{verdict}   "
              f"(median difference in a round: {extra * 1000:+.1f} ms)")
        self.rows.append({"scenario": scenario, "ours": ours_label, "raw": raw_label,
                          "ours_median_s": median_wall(ours), "raw_median_s": median_wall(raw),
                          "ours_cpu_median_s": statistics.median(s.cpu for s in ours),
                          "raw_cpu_median_s": statistics.median(s.cpu for s in raw),
                          "median_round_difference_s": extra,
                          "ratio": ratio, "target_ratio": target, "met": ok})

    def check(self, scenario: str, what: str, ok: bool, detail: str = "") -> None:
        print(f"  {what:46} {'met' if ok else 'NOT MET'}{'  (' + detail + ')' if detail else ''}")
        self.rows.append({"scenario": scenario, "check": what, "met": ok, "detail": detail})

    @property
    def all_met(self) -> bool:
        return all(r["met"] is not False for r in self.rows)


# --- scenarios ----------------------------------------------------------------------

def bench_execute(b: Bench, rep: Report, rounds: int, warmup: int) -> None:
    name = f"{PREFIX}-exec"
    proj = b.project("exec", b.sandbox_spec(name))
    b.ours("apply", cwd=proj)
    ours, raw = alternate(rounds, warmup,
                          lambda: b.timed([b.tool, "execute", "true"], cwd=proj),
                          lambda: b.timed([b.podman, "exec", name, "true"], cwd=proj))
    rep.pair("execute", "podman-sandbox execute true", ours, "podman exec CTR true", raw, 1.15)
    # For information: the very podman exec we issue (sh -c, env tag, workdir, -i).
    ours2, same = alternate(rounds, 0,
                            lambda: b.timed([b.tool, "execute", "true"], cwd=proj),
                            lambda: b.timed([b.podman, "exec", "--interactive", "--env",
                                             "PODMAN_SANDBOX_EXEC=x", "--workdir", "/workspace",
                                             name, "sh", "-c", "--", "true"], cwd=proj))
    rep.pair("execute", "podman-sandbox execute true", ours2,
             "podman exec -i --env --workdir CTR sh -c true", same, None)


def bench_inputs(b: Bench, rep: Report, rounds: int, warmup: int, files: int = 50) -> None:
    setup = "setup:\n  - \"true\"\n"
    with_name, without_name = f"{PREFIX}-inputs", f"{PREFIX}-noinputs"
    proj = b.project("inputs", b.sandbox_spec(with_name, setup + "inputs:\n  - requirements.txt\n"
                                                          "  - deps/\n"))
    (proj / "requirements.txt").write_text("attrs\npytest\n")
    (proj / "deps").mkdir(exist_ok=True)
    for i in range(max(files - 1, 0)):
        (proj / "deps" / f"pkg{i:03d}.txt").write_text(f"pkg{i}\n")
    (proj / ".gitignore").write_text("__pycache__/\n")
    plain = b.project("noinputs", b.sandbox_spec(without_name, setup))
    b.ours("apply", cwd=proj)
    b.ours("apply", cwd=plain)
    ours, raw = alternate(rounds, warmup,
                          lambda: b.timed([b.tool, "execute", "true"], cwd=proj),
                          lambda: b.timed([b.podman, "exec", with_name, "true"], cwd=proj))
    rep.pair("inputs", f"execute true ({files} input files)", ours, "podman exec CTR true", raw, 1.2)
    ours2, base = alternate(rounds, 0,
                            lambda: b.timed([b.tool, "execute", "true"], cwd=proj),
                            lambda: b.timed([b.tool, "execute", "true"], cwd=plain))
    rep.pair("inputs", f"execute true ({files} input files)", ours2, "execute true (no inputs)", base, None)


def _podman_shim(b: Bench) -> tuple[dict, Path]:
    """An environment whose `podman` logs every call to a file, then runs the real one."""
    shim_dir = b.root / "shim"
    shim_dir.mkdir(exist_ok=True)
    log = b.root / "podman-calls.log"
    real = shutil.which("podman", path=b.env.get("PATH")) or "podman"
    shim = shim_dir / "podman"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    env = dict(b.env, PATH=f"{shim_dir}{os.pathsep}{b.env.get('PATH', '')}")
    return env, log


def bench_apply(b: Bench, rep: Report, rounds: int, warmup: int) -> None:
    name = f"{PREFIX}-apply"
    proj = b.project("apply", b.sandbox_spec(name, "memory: 64m\n"))
    b.ours("apply", cwd=proj)
    ours, raw = alternate(rounds, warmup,
                          lambda: b.timed([b.tool, "apply"], cwd=proj),
                          lambda: b.timed([b.podman, "inspect", name, IMAGE], cwd=proj))
    rep.pair("apply", "podman-sandbox apply (nothing to change)", ours,
             "podman inspect CTR IMAGE", raw, None)
    median = median_wall(ours)
    rep.check("apply", "apply with nothing to change < 0.25 s", median < 0.25, f"median {median * 1000:.0f} ms")
    env, log = _podman_shim(b)
    log.write_text("")
    proc = b.run([b.tool, "apply"], cwd=proj, env=env)
    calls = [ln for ln in log.read_text().splitlines() if ln.strip()]
    rep.check("apply", "apply with nothing to change: 1 podman call", len(calls) == 1,
              "; ".join(f"podman {c}" for c in calls))
    if "nothing changed" not in proc.stderr:
        rep.check("apply", "apply said nothing changed", False, proc.stderr.strip())


def bench_stopped(b: Bench, rep: Report, rounds: int, warmup: int) -> None:
    name = f"{PREFIX}-stopped"
    proj = b.project("stopped", b.sandbox_spec(name))
    b.ours("apply", cwd=proj)

    def ours() -> Sample:
        b.podman_cmd("stop", "--time", "0", name)
        return b.timed([b.tool, "execute", "true"], cwd=proj)

    def raw() -> Sample:
        b.podman_cmd("stop", "--time", "0", name)
        return b.timed([b.podman, "start", name]) + b.timed([b.podman, "exec", name, "true"])

    t_ours, t_raw = alternate(rounds, warmup, ours, raw)
    rep.pair("stopped", "podman-sandbox execute true (stopped)", t_ours,
             "podman start CTR + podman exec CTR true", t_raw, 1.3)


def bench_removed(b: Bench, rep: Report, rounds: int, warmup: int) -> None:
    name = f"{PREFIX}-removed"
    raw_name = f"{PREFIX}-removed-raw"
    proj = b.project("removed", b.sandbox_spec(name))
    b.ours("apply", cwd=proj)

    def ours() -> Sample:
        b.ours("stop", cwd=proj)
        return b.timed([b.tool, "execute", "true"], cwd=proj)

    def raw() -> Sample:
        b.podman_cmd("rm", "--force", "--time", "0", "--ignore", raw_name)
        return (b.timed([b.podman, "run", "-d", "--name", raw_name, "--label",
                         f"{LABEL_PROJECT}={b.root}/raw", "--init", "-v", f"{proj}:/workspace",
                         IMAGE, "sleep", "infinity"])
                + b.timed([b.podman, "exec", raw_name, "true"]))

    t_ours, t_raw = alternate(rounds, warmup, ours, raw)
    rep.pair("removed", "podman-sandbox execute true (after stop)", t_ours,
             "podman run -d IMG sleep + podman exec CTR true", t_raw, None)


def bench_first(b: Bench, rep: Report, rounds: int, warmup: int) -> None:
    """Both sides make a new container every round; removing it is outside the timing."""
    counter = iter(range(1_000_000))

    def ours() -> Sample:
        i = next(counter)
        name = f"{PREFIX}-first-{i}"
        proj = b.project(f"first-{i}", b.sandbox_spec(name))
        t = b.timed([b.tool, "execute", "true"], cwd=proj)
        b.podman_cmd("rm", "--force", "--time", "0", name)
        return t

    def raw() -> Sample:
        i = next(counter)
        name = f"{PREFIX}-first-raw-{i}"
        proj = b.root / "projects" / f"first-raw-{i}"
        proj.mkdir(parents=True)
        t = (b.timed([b.podman, "run", "-d", "--name", name, "--label",
                      f"{LABEL_PROJECT}={b.root}/raw", "--init", "-v", f"{proj}:/workspace",
                      IMAGE, "sleep", "infinity"])
             + b.timed([b.podman, "exec", name, "true"]))
        b.podman_cmd("rm", "--force", "--time", "0", name)
        return t

    t_ours, t_raw = alternate(rounds, warmup, ours, raw)
    rep.pair("first", "first execute true in a fresh project", t_ours,
             "podman run -d IMG sleep + podman exec CTR true", t_raw, 1.5)
    env, log = _podman_shim(b)
    log.write_text("")
    name = f"{PREFIX}-first-count"
    proj = b.project("first-count", b.sandbox_spec(name))
    b.run([b.tool, "execute", "true"], cwd=proj, env=env)
    calls = [ln.split(" --")[0] if ln.startswith("run ") else ln
             for ln in log.read_text().splitlines() if ln.strip()]
    print(f"  podman calls of a first execute ({len(calls)}): "
          + "; ".join(f"podman {c[:60]}" for c in calls))
    b.podman_cmd("rm", "--force", "--time", "0", name, check=False)


def _host_memory_limit(pid: int) -> int | None:
    """The limit the kernel enforces for pid's cgroup (v1 or v2), read on the host."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            f = Path("/sys/fs/cgroup", controllers, path.lstrip("/"), "memory.limit_in_bytes")
            return int(f.read_text())
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            text = Path("/sys/fs/cgroup", line[3:].lstrip("/"), "memory.max").read_text().strip()
            return None if text == "max" else int(text)
    return None


def bench_configure(b: Bench, rep: Report, rounds: int, warmup: int) -> None:
    name = f"{PREFIX}-conf"
    proj = b.project("conf", b.sandbox_spec(name, "memory: 64m\n"))
    b.ours("apply", cwd=proj)
    b.ours("execute", "echo kept > /root/uncommitted", cwd=proj)

    def state() -> tuple[str, int]:
        info = json.loads(b.podman_cmd("inspect", name).stdout)[0]
        return info["Id"], info["State"]["Pid"]

    before = state()
    sizes = [96, 64]
    ours_times: list[Sample] = []
    problems: list[str] = []
    for i in range(warmup + rounds):
        mib = sizes[i % 2]
        t = b.timed([b.tool, "configure", "--memory", f"{mib}m"], cwd=proj)
        if i >= warmup:
            ours_times.append(t)
        now = state()
        limit = _host_memory_limit(now[1])
        inside = b.ours("execute", "cat /root/uncommitted", cwd=proj, check=False).stdout.strip()
        if now != before:
            problems.append(f"round {i}: container or init process changed {before} -> {now}")
        if limit != mib * MIB:
            problems.append(f"round {i}: cgroup limit {limit}, wanted {mib * MIB}")
        if inside != "kept":
            problems.append(f"round {i}: the uncommitted file is gone")
    rep.check("configure", "configure --memory applied live", not problems,
              "; ".join(problems[:3]) or f"{warmup + rounds} changes: same container and init "
              "process, cgroup limit as requested, uncommitted file kept")
    raw_times = []
    for i in range(warmup + rounds):
        t = b.timed([b.podman, "update", "--memory", f"{sizes[i % 2]}m", name])
        if i >= warmup:
            raw_times.append(t)
    b.ours("configure", "--memory", "64m", cwd=proj)  # back in line with sandbox.yaml
    rep.pair("configure", "podman-sandbox configure --memory", ours_times,
             "podman update --memory CTR", raw_times, None)


def bench_list(b: Bench, rep: Report, rounds: int, warmup: int, count: int) -> None:
    projects = []
    print(f"  making {count} sandboxes with `podman-sandbox apply` ...", flush=True)
    for i in range(count):
        proj = b.project(f"many-{i:03d}", b.sandbox_spec(f"{PREFIX}-many-{i:03d}"))
        b.ours("apply", cwd=proj)
        projects.append(proj)
    here = projects[0]
    ours, raw = alternate(rounds, warmup,
                          lambda: b.timed([b.tool, "list"], cwd=here),
                          lambda: b.timed([b.podman, "ps", "--all"], cwd=here))
    rep.pair("list", f"podman-sandbox list ({count} sandboxes)", ours, "podman ps --all", raw, None)
    rep.check("list", "list < 1 s", median_wall(ours) < 1.0, f"median {median_wall(ours) * 1000:.0f} ms")
    ours, raw = alternate(rounds, warmup,
                          lambda: b.timed([b.tool, "status"], cwd=here),
                          lambda: b.timed([b.podman, "inspect", f"{PREFIX}-many-000"], cwd=here))
    rep.pair("list", f"podman-sandbox status ({count} sandboxes)", ours, "podman inspect CTR", raw, None)
    rep.check("list", "status < 1 s", median_wall(ours) < 1.0, f"median {median_wall(ours) * 1000:.0f} ms")


# --- environment, set-up and clean-up ---------------------------------------------------

def find_tool(given: str | None) -> str:
    tool = given or shutil.which("podman-sandbox")
    if not tool:
        here = Path(sys.executable).parent / "podman-sandbox"
        tool = str(here) if here.exists() else None
    if not tool or not os.access(tool, os.X_OK):
        raise BenchError("podman-sandbox not found: install it (see --help) or pass --podman-sandbox PATH")
    return os.path.abspath(tool)


def describe_tool(tool: str, env: dict) -> list[str]:
    """Where the tool's package lives, and whether its bytecode is compiled."""
    with open(tool, "rb") as fh:
        first = fh.readline().decode(errors="replace").strip()
    interp = first[2:].strip().split()[0] if first.startswith("#!") else sys.executable
    probe = ("import importlib.util, os, sys, podman_sandbox.fastpath as m;"
             "print(sys.version.split()[0]); print(os.path.dirname(m.__file__));"
             "print(os.path.exists(importlib.util.cache_from_source(m.__file__)))")
    out = subprocess.run([interp, "-c", probe], env=env, capture_output=True, text=True).stdout.split("\n")
    if len(out) < 3:
        return [f"tool: {tool} (could not inspect its interpreter {interp})"]
    version, package, compiled = out[0], out[1], out[2] == "True"
    lines = [f"tool: {tool}", f"  python {version} ({interp}), package {package}",
             f"  bytecode compiled: {'yes' if compiled else 'NO'}"]
    if not compiled:
        lines.append("  WARNING: no .pyc files: every start compiles the package from source "
                     "(editable install with PYTHONDONTWRITEBYTECODE=1?). Measure a regular install: "
                     "see --help.")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        lines.append("  PYTHONDONTWRITEBYTECODE is set (existing .pyc files are still used)")
    return lines


def machine_lines(b: Bench) -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = json.loads(b.podman_cmd("info", "--format", "json").stdout)
    host = info.get("host", {})
    runtime = (host.get("ociRuntime") or {}).get("name", "?")
    try:
        distro = next(ln.split("=", 1)[1].strip('"') for ln in Path("/etc/os-release").read_text().splitlines()
                      if ln.startswith("PRETTY_NAME="))
    except (OSError, StopIteration):
        distro = platform.system()
    return [f"machine: {distro}, kernel {platform.release()}, {os.cpu_count()} CPU ({cpu})",
            f"podman {info.get('version', {}).get('Version', '?')}, runtime {runtime}, "
            f"cgroup {host.get('cgroupVersion', '?')}, {'rootless' if os.geteuid() else 'root'}",
            f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]


# Run by the tool's own Python: API run("true") and `podman exec CTR true`, alternating,
# in one long-lived process; prints [[api wall, api cpu], ...], [[raw ...]] as JSON.
API_PROBE = """\
import json, os, resource, subprocess, sys, time
from podman_sandbox import Sandbox
proj, name, rounds, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sb = Sandbox(proj)
local = dict(os.environ)  # the baseline: the podman client, local
def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
via = set()
def api():
    c, t = cpu(), time.perf_counter()
    result = sb.run("true")
    elapsed = time.perf_counter() - t
    assert result.exit_code == 0
    via.add(result.via)
    return [elapsed, cpu() - c]
def raw():
    c, t = cpu(), time.perf_counter()
    subprocess.run(["podman", "exec", name, "true"], check=True, stdin=subprocess.DEVNULL, env=local)
    return [time.perf_counter() - t, cpu() - c]
for _ in range(warmup):
    api(); raw()
a, b = [], []
for i in range(rounds):
    if i % 2 == 0:
        a.append(api()); b.append(raw())
    else:
        b.append(raw()); a.append(api())
print(json.dumps({"api": a, "raw": b, "rest": via == {"rest"}}))
"""


def _api_round(b: Bench, proj: Path, name: str, rounds: int, warmup: int, env: dict):
    python = Path(b.tool).parent / "python"
    if not python.exists():
        python = Path(sys.executable)
    proc = subprocess.run([str(python), "-c", API_PROBE, str(proj), name, str(rounds), str(warmup)],
                          cwd=proj, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"the API probe failed:\n{proc.stderr.strip()}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return ([Sample(*x) for x in data["api"]], [Sample(*x) for x in data["raw"]], data["rest"])


def bench_api(b: Bench, rep: Report, rounds: int, warmup: int) -> None:
    name = f"{PREFIX}-api"
    proj = b.project("api", b.sandbox_spec(name))
    b.ours("apply", cwd=proj)
    plain = dict(b.env, PODMAN_SANDBOX_REST="0")
    ours, raw, _ = _api_round(b, proj, name, rounds, warmup, plain)
    rep.pair("api", 'API run("true"), podman exec path', ours, "podman exec CTR true", raw, None)
    sock = b.root / "podman.sock"
    service = subprocess.Popen([b.podman, "system", "service", "--time=0", f"unix://{sock}"],
                               env=b.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline and service.poll() is None:
            time.sleep(0.05)
        ours, raw, used = _api_round(b, proj, name, rounds, warmup,
                                     dict(b.env, PODMAN_SANDBOX_REST_SOCKET=str(sock)))
        rep.check("api", "REST exec path used (every round)", used)
        rep.pair("api", 'API run("true"), REST exec path', ours, "podman exec CTR true", raw, 0.6)
        rest = dict(b.env, PODMAN_SANDBOX_REST_SOCKET=str(sock))
        b.run([b.tool, "execute", "true"], cwd=proj, env=rest)
        ours, raw = alternate(rounds, warmup,
                              lambda: b.timed([b.tool, "execute", "true"], cwd=proj, env=rest),
                              lambda: b.timed([b.podman, "exec", name, "true"], cwd=proj))
        rep.pair("api", "execute true, REST exec path", ours, "podman exec CTR true", raw, 0.85)
    finally:
        service.terminate()
        service.wait()


def bench_runc(b: Bench, rep: Report, rounds: int, warmup: int) -> None:
    """What is left under Podman: runc's own exec of the sandbox's container (runc is
    this host's runtime; as root its state is in /run/runc)."""
    runc = shutil.which("runc", path=b.env.get("PATH"))
    state = "/run/runc" if os.geteuid() == 0 else os.path.join(os.environ.get("XDG_RUNTIME_DIR", ""), "runc")
    name = f"{PREFIX}-runc"
    proj = b.project("runc", b.sandbox_spec(name))
    b.ours("apply", cwd=proj)
    cid = json.loads(b.podman_cmd("inspect", name).stdout)[0]["Id"]
    if runc is None or not os.path.isdir(os.path.join(state, cid)):
        print(f"  runc's state of {name} is not in {state} (another runtime?): skipped")
        return
    ours, raw = alternate(rounds, warmup,
                          lambda: b.timed([runc, "--root", state, "exec", cid, "true"], cwd=proj),
                          lambda: b.timed([b.podman, "exec", name, "true"], cwd=proj))
    rep.pair("runc", "runc exec CTR_ID true", ours, "podman exec CTR true", raw, None)


def prepare_env(root: Path) -> dict:
    env = dict(os.environ)
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"),
                     ("XDG_RUNTIME_DIR", "run")):
        (root / sub).mkdir(mode=0o700)
        env[var] = str(root / sub)
    env.pop("PODMAN_SANDBOX_FILE", None)
    return env


def ensure_podman_runs(b: Bench) -> None:
    probe = b.podman_cmd("run", "--rm", IMAGE, "true", check=False)
    if probe.returncode != 0 and "CONTAINERS_CONF" not in b.env:
        conf = b.root / "containers.conf"
        conf.write_text(HOST_FIX_CONF)
        b.env["CONTAINERS_CONF"] = str(conf)
        print(f"note: podman needed the host fix here; using CONTAINERS_CONF={conf}")
        probe = b.podman_cmd("run", "--rm", IMAGE, "true", check=False)
    if probe.returncode != 0:
        raise BenchError(f"podman cannot run a container here: {probe.stderr.strip()}")


def cleanup(b: Bench) -> None:
    out = b.podman_cmd("ps", "--all", "--format", "json", "--filter", f"label={LABEL_PROJECT}",
                       check=False).stdout
    ours = [c for c in json.loads(out or "[]") or []
            if (c.get("Labels") or {}).get(LABEL_PROJECT, "").startswith(str(b.root))]
    ids = [c["Id"] for c in ours]
    if ids:
        b.podman_cmd("rm", "--force", "--time", "0", *ids, check=False)
    names = [n for c in ours for n in c.get("Names") or ()]
    for name in names:
        repo = f"localhost/podman-sandbox-state-{name.lower()}"
        imgs = b.podman_cmd("images", "--format", "json", "--filter", f"reference={repo}", check=False).stdout
        for img in json.loads(imgs or "[]") or []:
            b.podman_cmd("rmi", "--force", img["Id"], check=False)
    # Setup images of our projects (the inputs scenario), then the image itself.
    imgs = b.podman_cmd("images", "--format", "json", "--filter", "label=io.podman-sandbox.managed=true",
                        check=False).stdout
    for img in json.loads(imgs or "[]") or []:
        if (img.get("Labels") or {}).get(LABEL_PROJECT, "").startswith(str(b.root)):
            b.podman_cmd("rmi", "--force", img["Id"], check=False)
    b.podman_cmd("rmi", "--force", IMAGE, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--runs", type=int, default=20, help="timed rounds per scenario (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios (default: all: {','.join(SCENARIOS)})")
    parser.add_argument("--sandboxes", type=int, default=50, help="sandboxes for `list` (default 50)")
    parser.add_argument("--input-files", type=int, default=50,
                        help="files the `inputs` scenario declares (default 50)")
    parser.add_argument("--podman-sandbox", dest="tool", help="the podman-sandbox to measure "
                        "(default: the one on PATH, else next to this Python)")
    parser.add_argument("--json", dest="json_out", help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="leave the image and sandboxes behind")
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if shutil.which("podman") is None:
        print("podman is not installed", file=sys.stderr)
        return 2

    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    b = Bench(find_tool(args.tool), root, prepare_env(root))
    rep = Report()
    try:
        b.run([b.tool, "local-image", "--tag", IMAGE])
        ensure_podman_runs(b)
        for line in machine_lines(b) + describe_tool(b.tool, b.env):
            print(line)
        print(f"rounds: {args.runs} timed after {args.warmup} warm-up, alternating order; session {SESSION}")
        for scenario in only:
            print(f"\n[{scenario}]", flush=True)
            if scenario == "list":
                bench_list(b, rep, args.runs, args.warmup, args.sandboxes)
            elif scenario == "inputs":
                bench_inputs(b, rep, args.runs, args.warmup, args.input_files)
            else:
                globals()[f"bench_{scenario}"](b, rep, args.runs, args.warmup)
        print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except BenchError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"kept: image {IMAGE}, sandboxes {PREFIX}-*, folder {root}")
        else:
            cleanup(b)
            shutil.rmtree(root, ignore_errors=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"session": SESSION, "results": rep.rows}, indent=2) + "\n")
    print("\nall targets met" if rep.all_met else "\nsome targets NOT met")
    return 0 if rep.all_met else 1


if __name__ == "__main__":
    sys.exit(main())

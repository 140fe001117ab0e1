#!/usr/bin/env python3
"""How usable the host stays while a fork bomb runs in a container (issue 10). Information only.

    python3 bench/fork_bomb_host.py                          # --pids-limit 2048, Podman's defaults
    python3 bench/fork_bomb_host.py --pids-limit 2048 --cpu-shares 2
    python3 bench/fork_bomb_host.py --pids-limit 2048 --cpus 1

Builds a static C bomb (`for (;;) fork();`, which, unlike a shell bomb, does
not give up when fork fails) with gcc, runs it in a container of a busybox
image (`podman-sandbox local-image`) with the given `podman run` options, and
prints, without and with the bomb: the share of one CPU a busy loop on the host
gets, the bomb's own CPU (its cgroup's cpuacct.usage; cgroup v1) and the median
time of `python3 -c pass` on the host. It removes the container and the image
it made. Compare runs on a quiet machine: other load moves every number.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

TAG = f"localhost/podman-sandbox-bench/bomb:{uuid.uuid4().hex[:8]}"


def host_loop_share(seconds: float = 3.0) -> float:
    wall, cpu = time.monotonic(), time.process_time()
    while time.monotonic() - wall < seconds:
        pass
    return (time.process_time() - cpu) / (time.monotonic() - wall)


def python_startup_ms(rounds: int = 10) -> float:
    times = []
    for _ in range(rounds):
        start = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.monotonic() - start)
    return statistics.median(times) * 1000


def cpu_seconds(pid: int) -> float | None:
    with open(f"/proc/{pid}/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.strip().split(":", 2)
            if "cpuacct" in controllers.split(","):
                with open(f"/sys/fs/cgroup/{controllers}{path}/cpuacct.usage") as usage:
                    return int(usage.read()) / 1e9
    return None


def main(options: list[str]) -> int:
    options = options or ["--pids-limit", "2048"]
    work = Path(tempfile.mkdtemp(prefix="psbench-bomb-"))
    (work / "bomb.c").write_text("#include <unistd.h>\nint main(void) { for (;;) fork(); }\n")
    subprocess.run(["gcc", "-static", "-O2", "-o", str(work / "bomb"), str(work / "bomb.c")], check=True)
    subprocess.run([sys.executable, "-m", "podman_sandbox", "local-image", "--tag", TAG], check=True,
                   capture_output=True)
    name = f"psbench-bomb-{uuid.uuid4().hex[:8]}"
    print(f"podman run options: {' '.join(options)}")
    print(f"  no bomb:   host loop {host_loop_share():.2f} CPU, python3 -c pass {python_startup_ms():.0f} ms")
    try:
        subprocess.run(["podman", "run", "-d", "--name", name, "--init", *options,
                        "-v", f"{work / 'bomb'}:/bomb:ro", TAG, "/bomb"], check=True, capture_output=True)
        pid = int(subprocess.run(["podman", "inspect", "-f", "{{.State.Pid}}", name], check=True,
                                 capture_output=True, text=True).stdout)
        time.sleep(3)  # let it fill its pids limit
        before, start = cpu_seconds(pid), time.monotonic()
        share = host_loop_share()
        after = cpu_seconds(pid)
        bomb = (after - before) / (time.monotonic() - start) if before is not None and after else None
        startup = python_startup_ms()
        with open("/proc/loadavg") as fh:
            load = fh.read().split()[0]
        print(f"  with bomb: host loop {share:.2f} CPU, bomb "
              f"{'?' if bomb is None else f'{bomb:.2f}'} CPU, python3 -c pass {startup:.0f} ms, load {load}")
    finally:
        while subprocess.run(["podman", "container", "exists", name]).returncode == 0:
            subprocess.run(["podman", "rm", "--force", "--time", "0", name], capture_output=True)
        subprocess.run(["podman", "rmi", "--force", TAG], capture_output=True)
        for entry in work.iterdir():
            entry.unlink()
        work.rmdir()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main(sys.argv[1:]))

"""A forged conmon from inside another sandbox does not get its process taken for the
new container's init (engine/made.py).

A rootful sandbox's processes are root on the host, as the conmon of a new container
is, so "a conmon of our own user" holds for them. Code in sandbox A waits, as a process
named conmon that started before the new container B (so /proc lists it first), then
re-execs itself with B's id as its first `-c` and a `-p` pid file on the host naming its
own child: the strongest forgery (the test itself writes the host pid there, which the
sandbox could not even know). Every link but the cgroup holds; the cgroup (libpod-ID,
which only Podman puts processes into) does not, so B's real init is found.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
from harness import podman, wait_for
from podman_sandbox.engine import made

WAIT = 'while [ ! -s /workspace/id ]; do sleep 0.05; done\n' \
       'exec sh /workspace/forged.sh -c "$(cat /workspace/id)" -p "$(cat /workspace/hostpid)"\n'
FORGED = 'echo conmon > /proc/$$/comm\nsleep 300 &\nwait\n'


def _procs() -> dict[int, tuple[str, bytes, int]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = open(f"/proc/{entry}/comm").read().strip()
                args = open(f"/proc/{entry}/cmdline", "rb").read()
                ppid = int(open(f"/proc/{entry}/stat").read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            found[int(entry)] = (comm, args, ppid)
    return found


def test_a_conmon_forged_in_another_sandbox_is_not_believed(sandbox):
    if os.geteuid() != 0:
        pytest.skip("rootless: another sandbox's processes are not ours on the host (the uid "
                    "check, tests/unit/test_made.py)")
    project = sandbox.project
    (project / "wait.sh").write_text(WAIT)
    (project / "forged.sh").write_text(FORGED)
    pidfile = project / "pidfile"
    (project / "hostpid").write_text(str(pidfile))
    name_a = f"pstest-fcm-{uuid.uuid4().hex[:8]}"
    sandbox.write_spec(f"image: {sandbox.image}\nname: {name_a}\n")
    sandbox.ok("start")
    podman("exec", "-d", name_a, "sh", "/workspace/wait.sh")
    name_b = f"pstest-fcm-b-{uuid.uuid4().hex[:8]}"
    try:
        cid = podman("run", "-d", "--init", "--name", name_b, sandbox.image,
                     "sleep", "300").stdout.strip()
        (project / "id").write_text(cid)

        def forged():
            procs = _procs()
            for pid, (comm, args, _) in procs.items():
                if comm == "conmon" and b"forged.sh" in args:
                    child = [p for p, (c, _, pp) in procs.items() if pp == pid and c == "sleep"]
                    if child:
                        return pid, child[0]
            return None
        found = wait_for(forged)
        assert found, "the forged conmon never started"
        fake, child = found
        pidfile.write_text(f"{child}\n")
        pidfile.chmod(0o644)
        info = json.loads(podman("inspect", name_b).stdout)[0]
        real = [p for p, (c, a, _) in _procs().items() if c == "conmon" and cid.encode() in a
                and b"forged.sh" not in a]
        assert real and fake < min(real), "the forgery must be the first conmon /proc lists"
        # Every link but the cgroup holds for the forgery:
        args = open(f"/proc/{fake}/cmdline", "rb").read().split(b"\0")
        assert made._options(args)[b"-c"] == cid.encode()
        assert made._read_pid(str(pidfile).encode()) == child and made._parent(child, "/proc") == fake
        assert made.find(cid) == (info["State"]["Pid"], info["PidFile"])
    finally:
        podman("rm", "-f", "-t", "0", name_b, check=False)

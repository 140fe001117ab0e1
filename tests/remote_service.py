"""A Podman service to serve as a remote engine (tests/integration/test_remote.py and
bench/remote_execute.py): `podman system service --time=0` with its own storage, run
and tmp folders, listening on

- "unix": a socket in a temp folder of this machine;
- "tcp": tcp://ADDR:PORT inside a network namespace of its own (`ip netns`), reached
  through a veth pair at an address of its own: a second host as far as the client can
  tell (Podman's TCP transport, no shared socket file). Needs root.

Its own store means nothing made through it is visible to the local engine. On the way
out, even after a failure: its containers and images (its store holds nothing else),
the service (by its PID), its mounts, the netns and the veth pair.

tcp:// is Podman's unauthenticated transport; here it is reachable only from this
machine, through the veth pair.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import wait_for

TRANSPORTS = ("unix", "tcp")
PORT = 8790  # inside the namespace of its own: always free there


@dataclass
class Service:
    url: str  # what CONTAINER_HOST says to reach it
    conf: str  # the containers.conf its clients use (`system connection add` may write it)
    root: Path  # its temp folder: store, run, tmp


def store_options(root: Path) -> list[str]:
    # The default tmpdir (/run/libpod) holds the local engine's "alive" mark; sharing
    # it would make either engine think the host rebooted.
    return ["--root", str(root / "store"), "--runroot", str(root / "run"),
            "--tmpdir", str(root / "tmp")]


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@contextmanager
def _second_host() -> Iterator[tuple[str, str]]:
    """(netns name, its address): a network namespace with a veth pair to this host."""
    tag = secrets.token_hex(3)
    netns, here, there = f"pstest-host-{tag}", f"psh{tag}a", f"psh{tag}b"
    # A /30 of 10.241.0.0/16 chosen at random: other runs on this machine pick their own.
    block = secrets.randbelow(1 << 14) * 4
    prefix = f"10.241.{block >> 8}."
    host_addr, server_addr = f"{prefix}{(block & 0xff) + 1}", f"{prefix}{(block & 0xff) + 2}"
    try:
        _ip("netns", "add", netns)
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", netns)
        _ip("addr", "add", f"{host_addr}/30", "dev", here)
        _ip("link", "set", here, "up")
        _ip("-n", netns, "addr", "add", f"{server_addr}/30", "dev", there)
        _ip("-n", netns, "link", "set", there, "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        yield netns, server_addr
    finally:
        # Deleting one end of a veth pair deletes both; the netns goes with its name.
        subprocess.run(["ip", "link", "del", here], capture_output=True)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def _stop(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _remove_contents(url: str, env: dict) -> None:
    """Everything in the service's store: only ever ours, the store is its own."""
    remote = ["podman", "--url", url]
    out = subprocess.run([*remote, "ps", "-aq"], env=env, capture_output=True, text=True).stdout
    for cid in out.split():
        subprocess.run([*remote, "rm", "-f", "-t", "0", cid], env=env, capture_output=True)
    subprocess.run([*remote, "rmi", "-a", "-f"], env=env, capture_output=True)


def _end_exec_monitors(root: Path) -> None:
    """The conmon of each exec session of a service waits exit_command_delay (300 s) before
    its exit command, `podman ... --tmpdir ROOT/tmp container cleanup`, which would make
    our folders again after we removed them. End them: by PID, found by our folder in
    their command line (only this service's processes name it)."""
    mark = f"{root}/".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if mark in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in found), timeout=10)


def _unmount_under(root: Path) -> None:
    # Never `system reset` here: it would remove the shared default folders too.
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        ours = [line.split()[1] for line in fh if line.split()[1].startswith(str(root) + "/")]
    for point in reversed(ours):
        subprocess.run(["umount", "-l", point], capture_output=True)


@contextmanager
def serve(transport: str, conf_text: str) -> Iterator[Service]:
    """Run a service on transport ("unix" or "tcp") with conf_text as its containers.conf."""
    assert transport in TRANSPORTS, transport
    root = Path(tempfile.mkdtemp(prefix=f"pstest-remote-{transport}-"))
    conf = root / "containers.conf"
    conf.write_text(conf_text)
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    for var in ("CONTAINER_HOST", "CONTAINER_CONNECTION"):
        env.pop(var, None)
    try:
        with ExitStack() as stack:
            if transport == "unix":
                url, prefix = f"unix://{root / 'podman.sock'}", []
            else:
                netns, address = stack.enter_context(_second_host())
                url, prefix = f"tcp://{address}:{PORT}", ["nsenter", f"--net=/run/netns/{netns}"]
            # nsenter enters the namespace and execs podman: the PID is the service's.
            proc = subprocess.Popen([*prefix, "podman", *store_options(root), "system", "service",
                                     "--time=0", url], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                answered = wait_for(lambda: proc.poll() is None and subprocess.run(
                    ["podman", "--url", url, "info"], env=env, capture_output=True).returncode == 0,
                    timeout=30, interval=0.1)
                assert answered, f"the podman service on {url} did not answer"
                yield Service(url, str(conf), root)
            finally:
                try:
                    if proc.poll() is None:
                        _remove_contents(url, env)
                finally:
                    if proc.poll() is None:
                        _stop(proc)
    finally:
        _end_exec_monitors(root)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)

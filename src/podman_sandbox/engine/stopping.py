"""End what one `execute` started in the sandbox, all of it, and check that it is gone.

Which processes are the command's ("ours"). The candidates are the processes
in the sandbox's cgroup (cgroup.procs of the container's cgroup and those
below it, v1 or v2) that live in the container's pid namespace (rootless on
cgroup v1 the container has no cgroup of its own: the namespace check keeps
the host's processes out). Of those, never the container's init. A process
is ours when:

- its environment carries our tag (PODMAN_SANDBOX_EXEC=<ours>);
- else its nearest ancestor in the sandbox that carries a live tag carries
  ours (a child that ran `env -u PODMAN_SANDBOX_EXEC ...` or `env -i ...`);
- else, with no ancestor carrying a live tag (a double fork reparented it to
  the init; `setsid`; the exec'd process itself after `exec env -i`), when
  the oldest process of its chain in the sandbox (itself, for an orphan)
  started after our exec did. Processes of the sandbox that were there
  before, and what they start, are never ours; one tagged by another running
  `execute`, or descending from one, is never ours. Never the init, nor the
  container's idle process (the init's oldest child, which it started with
  the container: everything else the init holds came to it later, as an
  orphan): a first `execute` begins so soon after the create that both can
  fall in the clock tick (10 ms) of our exec's start, and ending the idle
  process would end the sandbox.

A tag is *live* when it is ours or a `podman exec` client of this user on the
host runs with it (`--env PODMAN_SANDBOX_EXEC=<tag>` in its argv, which the
sandbox cannot write). The command chooses its children's environment: a tag
it made up (`env PODMAN_SANDBOX_EXEC=x sleep 1000 &`) is no tag at all, so
it cannot shield a process from its own timeout. One it copied from another
running command's environment still shields a process while that command runs.

What that decides for another command in the same sandbox: its processes
and their descendants are safe, and so is everything started before ours.
What no tag and no ancestry can tell apart: an untagged process with no
tagged ancestor in the sandbox *started while our command ran* by something
else: another command's orphan that cleared its environment, its root
process after `exec env -i ...`, the short `runc init` phase of another
exec starting, or what a `podman exec` that is not ours starts meanwhile. Safety first: such a process is taken
for ours and ended with it, because leaving one of ours running is the
failure this module exists to prevent.

How: the first signal (SIGTERM for a timeout, else the one we got) to each
of ours, a grace for them to exit, then freeze-then-kill: SIGSTOP to every
process of ours a scan finds, again and again until a scan finds nothing
new (a stopped process cannot fork, so a fork bomb cannot outrun it), then
SIGKILL to all of them, and scans until none is left. What is still there
after that is reported, never hidden.

Rootless, the host may not be allowed to read the container's processes:
then the same is done from inside the sandbox, with a `podman exec` of our
own (see _from_inside).

Standard library only; imported only when something must be stopped.
"""

from __future__ import annotations

import os
import signal
import time

from podman_sandbox.engine import cgroup, connection
from podman_sandbox.engine.execute import EXEC_TAG
from podman_sandbox.engine.procstat import GONE, stat

GRACE_SECONDS = 2.0
SETTLE_SECONDS = 5.0  # for SIGKILLed processes to leave (uninterruptible sleep ends)


def _tag_of(pid: int) -> bytes | None:
    """The PODMAN_SANDBOX_EXEC value in pid's environment; None without one (or unreadable)."""
    prefix = EXEC_TAG.encode() + b"="
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            env = fh.read()
    except OSError:
        return None
    for entry in env.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix):]
    return None


# Tags of the commands this process runs with no `podman exec` client on the host (the
# REST exec path, engine/restexec.py): /proc shows no client for them.
IN_PROCESS_TAGS: set[bytes] = set()


def live_tags() -> set[bytes]:
    """The tags of the commands running now: this user's `podman exec` clients on the host,
    and this process's REST exec sessions."""
    prefix = EXEC_TAG.encode() + b"="
    found = set(IN_PROCESS_TAGS)
    uid = os.geteuid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 3 and os.path.basename(argv[0]) == b"podman" and b"exec" in argv:
            found.update(argv[i + 1][len(prefix):] for i, a in enumerate(argv[:-1])
                         if a == b"--env" and argv[i + 1].startswith(prefix))
    return found


def _readable_environ(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb"):
            return True
    except OSError:
        return False


def _pid_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


class Scope:
    """The processes of one `execute` (see the module's notes), found again at every scan."""

    def __init__(self, tag: str, init_pid: int | None, since: int | None):
        self.tag = tag.encode()
        self.init_pid = init_pid
        self.since = since  # start time of our podman client: our exec began after it
        # Attribution needs the init's namespace and environment (rootless, the host
        # may be refused both: then tags only, and the sandbox is asked as well).
        self.ns = _pid_ns(init_pid) if init_pid and _readable_environ(init_pid) else None
        # pid -> (start time, ours?): decided once per process, so a freeze cannot
        # change its mind when a parent dies and the child is reparented.
        self._decided: dict[int, tuple[int, bool]] = {}
        self._idle: tuple[int, int] | None = None  # (pid, start time): the init's oldest child
        self._live_tags: set[bytes] = set()
        self._dead_tags: set[bytes] = set()  # seen, and no client runs with them

    @property
    def exact(self) -> bool:
        """The host sees the sandbox's processes and can attribute them (else: tags only)."""
        return self.ns is not None and self.since is not None

    def _candidates(self) -> set[int]:
        pids = cgroup.member_pids(self.init_pid) if self.exact and self.init_pid else None
        if pids is None:  # no cgroup to read: every process on the host
            pids = {int(e) for e in os.listdir("/proc") if e.isdigit()}
        pids.discard(os.getpid())
        if self.init_pid:
            pids.discard(self.init_pid)
        return pids

    def scan(self) -> set[int]:
        """Our processes that are alive now (stopped ones included, zombies not)."""
        stats = {}
        for pid in self._candidates():
            st = stat(pid)
            if st is not None and st[0] not in GONE:
                stats[pid] = st
        tags: dict[int, bytes | None] = {}
        ours = set()
        if self._idle is None and self.init_pid:
            children = [(st[2], pid) for pid, st in stats.items() if st[1] == self.init_pid]
            if children:
                started, pid = min(children)
                self._idle = (pid, started)
        if self._idle is not None and stats.get(self._idle[0], (0, 0, -1))[2] == self._idle[1]:
            del stats[self._idle[0]]  # the container's own, whatever its start time
        for pid, (_state, _ppid, started) in stats.items():
            known = self._decided.get(pid)
            if known is not None and known[0] == started:
                if known[1]:
                    ours.add(pid)
                continue
            mine = self._is_ours(pid, stats, tags)
            self._decided[pid] = (started, mine)
            if mine:
                ours.add(pid)
        return ours

    def _live(self, tag: bytes) -> bool:
        """tag is ours or a running `podman exec` client's (see the module's notes)."""
        if tag == self.tag or tag in self._live_tags:
            return True
        if tag not in self._dead_tags:
            self._live_tags = live_tags()  # a command started since the last look?
            if tag in self._live_tags:
                return True
            self._dead_tags.add(tag)
        return False

    def _is_ours(self, pid: int, stats: dict, tags: dict) -> bool:
        if self.exact and _pid_ns(pid) != self.ns:
            return False  # not in the sandbox (rootless cgroup v1: the user's own cgroup)
        node, top, seen = pid, pid, set()
        while node in stats and node not in seen and node != self.init_pid:
            if node != pid and self.exact and _pid_ns(node) != self.ns:
                break  # the chain leaves the sandbox (conmon: rootless on cgroup v1 shares its cgroup)
            seen.add(node)
            top = node
            if node not in tags:
                tags[node] = _tag_of(node)
            if tags[node] is not None and self._live(tags[node]):
                return tags[node] == self.tag
            node = stats[node][1]
        # No live tag above it in the sandbox: ours when its chain began after our exec did.
        return self.exact and stats[top][2] >= self.since


def _signal(pids, signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:  # gone meanwhile; or not ours to signal (then a later scan says so)
            pass


def _freeze_and_kill(scope: Scope, deadline: float) -> set[int]:
    """SIGSTOP until a scan finds nothing new, SIGKILL all, scan until none is left.
    What is left at the deadline."""
    while True:
        frozen: set[int] = set()
        while True:
            new = scope.scan() - frozen
            if not new or time.monotonic() > deadline:
                break
            _signal(new, signal.SIGSTOP)
            frozen |= new
        _signal(frozen | scope.scan(), signal.SIGKILL)
        while True:
            left = scope.scan()
            if not left or time.monotonic() > deadline:
                return left
            if left - frozen:
                break  # something we had not frozen: freeze and kill again
            time.sleep(0.02)


def stop(scope: Scope, first_signal: int, grace: float = GRACE_SECONDS) -> tuple[bool, set[int]]:
    """End our processes: first_signal, a grace, then freeze-then-kill.
    (whether any process of ours was found, the pids still alive at the end)."""
    signalled: set[int] = set()
    deadline = time.monotonic() + grace
    while True:
        ours = scope.scan()
        _signal(ours - signalled, first_signal)  # late arrivals get the polite signal too
        signalled |= ours
        if not ours or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    found = bool(signalled)
    if ours:
        return True, _freeze_and_kill(scope, time.monotonic() + SETTLE_SECONDS)
    return found, set()


def kill_now(scope: Scope) -> tuple[bool, set[int]]:
    """Freeze-then-kill with no polite signal (what turns up after the first round)."""
    if not scope.scan():
        return False, set()
    return True, _freeze_and_kill(scope, time.monotonic() + SETTLE_SECONDS)


# Run in the sandbox as `sh -c SCRIPT sh TAG SINCE SIGNAL LIVE...` (busybox sh is enough).
# The same rules with what the inside sees: ours when tagged ours, or without a live tag
# (LIVE: the other running commands') and started after our exec began (no ancestry);
# this script and its children carry a live tag of their own, so they never match.
# Exit 0: none left; 3: some are left.
_INSIDE_SCRIPT = r"""
tag="PODMAN_SANDBOX_EXEC=$1" since=$2 first=$3
shift 3
live="$*"
case $since in -*)
    read -r line < /proc/$$/stat; set -- ${line##*) }; since=$((${20} - ${since#-}))
    # This script's own exec started a while after "N ticks ago" was measured, so that
    # mark is late by as much: the command's oldest tagged process, when one is left,
    # began after the command did and is the earlier mark (a process of the sandbox's
    # that forges the tag only gets more of the sandbox's own processes stopped).
    for d in /proc/[0-9]*; do
        grep -q "$tag" "$d/environ" 2>/dev/null || continue
        read -r line 2>/dev/null < "$d/stat" || continue
        set -- ${line##*) }
        [ "${20:-$since}" -lt "$since" ] 2>/dev/null && since=${20}
    done;;
esac
# The container's idle process, the init's oldest child, is never the command's (see
# the module's notes), whatever its start time.
idle= oldest=
for d in /proc/[0-9]*; do
    read -r line 2>/dev/null < "$d/stat" || continue
    set -- ${line##*) }
    [ "$2" = 1 ] || continue
    if [ -z "$oldest" ] || [ "${20:-0}" -lt "$oldest" ] 2>/dev/null; then
        oldest=${20:-0} idle=${d#/proc/}
    fi
done
other() {
    for t in $live; do grep -q "PODMAN_SANDBOX_EXEC=$t" "$1" 2>/dev/null && return 0; done
    return 1
}
scan() {
    sig=$1 mode=$2 n=0
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        case $p in 1|"$idle") continue;; esac
        read -r line 2>/dev/null < "$d/stat" || continue
        set -- ${line##*) }
        state=$1 started=${20:-0}
        case $state in Z|X|x) continue;; esac
        if grep -q "$tag" "$d/environ" 2>/dev/null; then :
        elif other "$d/environ"; then continue
        elif [ "$started" -lt "$since" ] 2>/dev/null || [ -z "$started" ]; then continue
        fi
        [ "$mode" = new ] && [ "$state" = T ] && continue
        kill -"$sig" "$p" 2>/dev/null && n=$((n + 1))
    done
    echo $n
}
scan "$first" all >/dev/null
i=0
while [ $i -lt 20 ] && [ "$(scan 0 all)" -gt 0 ]; do sleep 0.1; i=$((i + 1)); done
while [ "$(scan STOP new)" -gt 0 ]; do :; done
scan KILL all >/dev/null
i=0
while [ $i -lt 50 ] && [ "$(scan 0 all)" -gt 0 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(scan 0 all)" -eq 0 ] || exit 3
"""


def from_inside(scope: Scope, container: str, first_signal: int, podman: str,
                since: str | None = None) -> bool | None:
    """Freeze-then-kill run by the sandbox itself. True: none left; False: some are
    left; None: it could not be asked (the sandbox is gone, say).
    since: "-N" for N clock ticks before the script starts, in the sandbox's own clock
    (a remote engine's boot time is not ours); default scope.since."""
    since = since or (None if scope.since is None else str(scope.since))
    if since is None:
        return None
    own = os.urandom(16).hex()
    argv = [*connection.argv(podman), "exec", "--env", f"{EXEC_TAG}={own}", container, "sh", "-c",
            _INSIDE_SCRIPT, "sh", scope.tag.decode(), since, str(int(first_signal)),
            own, *sorted(t.decode() for t in live_tags() - {scope.tag} if t.isalnum() and t.isascii())]
    null = os.devnull
    actions = [(os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0)]
    pid = os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=actions)
    status = os.waitpid(pid, 0)[1]
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return True if code == 0 else False if code == 3 else None

"""Mount sources as they are at create time, not as they were when the spec was read.

Code in the sandbox can write the project folder, so it can replace `./data`
with a symlink to `/` or `~/.ssh` between one create and the next. Hence, at
every create (sandbox, replacement, setup container):

1. each mount source is resolved now (realpath). A source that lies in the
   project folder must still resolve inside it; the broad-path check
   (hostpaths.broad_reason) runs on the real path, never from a cache;
2. Podman gets the real path, which is also what the canonical desired state
   holds (desired.py): a symlink the user retargets re-creates the sandbox, one
   the sandbox swaps is refused here;
3. after the container started, /proc/<pid>/mountinfo must show at each target
   the directory that was checked (same device, same path in its filesystem):
   the old container still runs while the new one is made and may swap a path
   between the check and Podman's mount. A mismatch removes the new container.

Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from podman_sandbox.errors import RefusedError
from podman_sandbox.schema.hostpaths import broad_reason, real_path
from podman_sandbox.locate import WORKSPACE


def _inside(path: str, folder: str) -> bool:
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class Expected:
    """What must be mounted at target: a device and the path inside its filesystem."""
    target: str
    source: str  # the real host path checked
    device: str  # "major:minor"
    fs_path: str  # source's path inside its filesystem (mountinfo's "root")


def desired_source(spec_source: str) -> str:
    """The source as the canonical desired state holds it (see the module docstring)."""
    return real_path(spec_source)


def check(spec, container: dict) -> list[Expected]:
    """Refuse (exit 123) a mount whose source now escapes the project, is too broad, or
    no longer is what the plan was made for; else what each target must show."""
    from podman_sandbox.app import ALLOW_BROAD_ENV, check_workspace
    from podman_sandbox.engine import connection

    if connection.is_remote():
        from podman_sandbox.engine import remote
        remote.check_spec(spec)  # sources are the server's: nothing of ours to check
        return []
    check_workspace(spec.project_dir)  # /workspace: the same rule as at start, on the path now
    project_real = real_path(spec.project_dir)
    planned = {m["target"]: m["source"] for m in container.get("mounts") or ()}
    expected = [_expect(WORKSPACE, project_real)]
    for index, mount in enumerate(spec.mounts):
        now = real_path(mount.source)
        what = f"mounts[{index}] ({mount.source} -> {mount.target})"
        if _inside(os.path.normpath(mount.source), spec.project_dir) and not _inside(now, project_real):
            raise RefusedError(f"refusing {what}: it now points to {now}, outside the project folder "
                               f"{spec.project_dir} (a symlink replaced it)",
                               hint="restore it, or name the outside folder itself as the source")
        reason = broad_reason(now)
        if reason and not mount.force and os.environ.get(ALLOW_BROAD_ENV) != "1":
            raise RefusedError(f"refusing {what}: it now points to {reason}",
                               hint="restore it; mounting such a folder needs force: true")
        if ":" in now:
            raise RefusedError(f"refusing {what}: it now points to {now}, and Podman's --volume "
                               "cannot carry a path with ':'")
        if planned.get(mount.target, now) != now:
            raise RefusedError(f"refusing {what}: it changed while the sandbox was being made "
                               f"(planned {planned[mount.target]}, now {now})",
                               hint="run the command again")
        expected.append(_expect(mount.target, now))
    return expected


# --- after start: what is really mounted at each target ------------------------------


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[tuple[str, str, str]]:
    """(device, root inside its filesystem, mount point) per line, in mount order."""
    rows = []
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) >= 5:
            rows.append((parts[2], _unescape(parts[3]), _unescape(parts[4])))
    return rows


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read()
    except OSError:
        return None


def _expect(target: str, source: str, host_mountinfo: str | None = None) -> Expected:
    """The device and in-filesystem path of source, from the host's mount table."""
    rows = parse_mountinfo(host_mountinfo if host_mountinfo is not None
                           else _read("/proc/self/mountinfo") or "")
    best = None
    for device, root, point in rows:  # the last, longest mount point holding source wins
        if _inside(source, point) and (best is None or len(point) >= len(best[2])):
            best = (device, root, point)
    if best is None:
        return Expected(target, source, "", "")
    device, root, point = best
    rest = os.path.relpath(source, point) if source != point else ""
    fs_path = os.path.normpath(os.path.join(root, rest)) if rest and rest != "." else root
    return Expected(target, source, device, fs_path)


def mismatches(expected: list[Expected], container_mountinfo: str) -> list[str]:
    """One line per target whose mount is not the checked source (or is not found)."""
    mounted = {}
    for device, root, point in parse_mountinfo(container_mountinfo):
        mounted[point] = (device, root)  # a later mount over the same point hides the earlier
    problems = []
    for want in expected:
        if not want.device:
            continue  # source not in the host's mount table: nothing to compare it with
        got = mounted.get(want.target)
        if got is None:
            problems.append(f"{want.target}: no mount found there (a symlink in the image?)")
        elif got != (want.device, want.fs_path):
            problems.append(f"{want.target}: expected {want.source}, but a different folder is "
                            f"mounted there (device {got[0]}, {got[1]})")
    return problems


def verify(pid: int | None, expected: list[Expected]) -> list[str]:
    """Compare the running container's mounts with what check() approved."""
    if not pid:
        return ["the new container has no running process to check its mounts in"]
    text = _read(f"/proc/{pid}/mountinfo")
    if text is None:
        return [f"cannot read /proc/{pid}/mountinfo to check the new container's mounts"]
    return mismatches(expected, text)

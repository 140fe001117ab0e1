"""What Podman's errors mean on a host, and what to do.

CATALOGUE holds the failures we know, each with the regular expression that finds
it in Podman's output. Two readers use it:

- `podman-sandbox doctor` (engine/doctor.py) reports the failures of the host
  (KNOWN: level FAIL or WARN) in full, with a fix written for this host and, for
  some, the containers.conf that fixes them (containers_conf);
- the runner shows the one-line `hint` of the first entry that has one under any
  podman command that fails (hint_for), next to the line of Podman's output that
  says what went wrong (podman_reason).

Imported when a podman command fails, wherever that happens: keep it to cheap
standard modules.
"""

from __future__ import annotations

import re
import resource
from collections.abc import Callable
from dataclasses import dataclass

FAIL, WARN = "FAIL", "warn"  # sandboxes cannot work / they work, with a caveat

# The most a containers.conf fix asks for: Podman's own default for open files; for
# processes a sandbox-sized number (the pids limit caps them anyway), because some
# hosts refuse an nproc rlimit well below their hard limit.
FIX_RLIMITS = {"nofile": 1048576, "nproc": 4096}
_RLIMITS = {"nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC}


@dataclass(frozen=True)
class Host:
    """What the fix texts need to know about the host (kept apart so tests can fake it)."""

    user: str = "root"
    uid: int = 0
    rootless: bool = False
    # This user's own containers.conf ($XDG_CONFIG_HOME or ~/.config): only rootless
    # Podman reads it (Podman run as root reads /usr/share and /etc only).
    user_conf: str = "/root/.config/containers/containers.conf"
    conf_env: str | None = None  # CONTAINERS_CONF, when set
    runc: bool = True  # runc installed


SYSTEM_CONF = "/etc/containers/containers.conf"  # read by every Podman of the machine


@dataclass(frozen=True)
class Known:
    key: str
    pattern: str  # regular expression searched in Podman's output
    # FAIL or WARN: a failure of the host, which doctor reports; "": the failure of one
    # command (a wrong image name, say), which only gets its hint
    level: str = ""
    problem: str = ""
    fix: Callable[[Host], str] | None = None
    conf: tuple[str, ...] = ()  # containers.conf sections/keys that fix it (see containers_conf)
    hint: str = ""  # the one line shown under a podman command that failed with it


def _rlimit_lines() -> list[str]:
    """default_ulimits entries this host can grant: FIX_RLIMITS, lowered to our hard limits."""
    entries = []
    for name, default in FIX_RLIMITS.items():
        _, hard = resource.getrlimit(_RLIMITS[name])
        value = default if hard == resource.RLIM_INFINITY else min(hard, default)
        entries.append(f"{name}={value}:{value}")
    return entries


def containers_conf(keys: tuple[str, ...] | list[str]) -> str:
    """The containers.conf that fixes the known problems named by keys."""
    sections: dict[str, list[str]] = {}
    if "rlimits" in keys:
        sections.setdefault("containers", []).append(
            "default_ulimits = [" + ", ".join(f'"{e}"' for e in _rlimit_lines()) + "]")
    if "crun-hybrid" in keys:
        sections.setdefault("engine", []).append('runtime = "runc"')
    out = []
    for section, lines in sections.items():
        out.append(f"[{section}]")
        out.extend(lines)
    return "\n".join(out) + "\n"


def _conf_fix(host: Host, why: str) -> str:
    """Where the containers.conf lines go, and whom each place fixes it for: /etc's file
    for every Podman of the machine, the per-user file for that user's rootless Podman
    only, CONTAINERS_CONF instead of all of them (containers.conf(5); checked on Podman
    4.3: as root a ~/.config file changes nothing, rootless it counts)."""
    if host.conf_env:
        return (f"put the containers.conf lines below ({why}) in the file CONTAINERS_CONF "
                f"names ({host.conf_env}): while it is set, Podman reads that file alone")
    env = ("  a file of your own named by CONTAINERS_CONF (export CONTAINERS_CONF=FILE), for "
           "the commands run with it set (your shell, a CI job): Podman then reads that file "
           "alone, none of the others")
    if host.rootless:
        return "\n".join((
            f"put the containers.conf lines below ({why}) in one of these (create it if missing):",
            f"  {host.user_conf}, for you ({host.user}) only: your rootless Podman reads it",
            f"  {SYSTEM_CONF}, as root, for every user of this machine, root included",
            env))
    return "\n".join((
        f"put the containers.conf lines below ({why}) in one of these (create it if missing):",
        f"  {SYSTEM_CONF}, for every user of this machine: Podman run as root and each "
        "user's rootless Podman",
        env,
        f"  not {host.user_conf}: Podman run as root reads no per-user file (a rootless "
        "user's own ~/.config/containers/containers.conf fixes it for that user alone)"))


def _crun_fix(host: Host) -> str:
    text = _conf_fix(host, "they make Podman use runc instead of crun")
    if not host.runc:
        text = "install runc (Debian/Ubuntu: apt-get install runc; Fedora: dnf install runc), then " + text
    return text


def _subuid_fix(host: Host) -> str:
    return (f"give {host.user} subordinate id ranges, as root: "
            f"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {host.user}; "
            "then, as the user: podman system migrate")


# In order: recognise lists what it finds in this order, and hint_for takes the first
# entry with a hint (so "tun", the usual cause of a slirp4netns failure, comes before it).
CATALOGUE: tuple[Known, ...] = (
    Known("crun-hybrid", r"cgroups in hybrid mode not supported", FAIL,
          "crun, Podman's runtime here, cannot run containers on this host's hybrid "
          "cgroup layout (cgroup v1 with a v2 tree mounted)",
          _crun_fix, conf=("crun-hybrid",),
          hint="crun cannot run here; use runc: run `podman-sandbox doctor` for the fix"),
    Known("rlimits", r"setrlimit|error setting rlimit", FAIL,
          "Podman's default rlimits (open files, processes) are higher than this host lets a "
          "container set",
          lambda h: _conf_fix(h, "they ask for limits this host allows"), conf=("rlimits",),
          hint="Podman's default rlimits cannot be set here: run `podman-sandbox doctor` for the fix"),
    Known("registry", r"initializing source docker://",
          hint="no registry could be reached for it: check the name, or build or load the image "
               "locally (`podman-sandbox local-image` makes a small one)"),
    Known("short-name", r"short-name",
          hint="write the image's full name, e.g. docker.io/library/alpine:latest"),
    Known("manifest-unknown", r"manifest unknown",
          hint="no such image in the registry: check the image name and tag"),
    Known("containers-conf", r"CONTAINERS_CONF file: ", FAIL,
          "CONTAINERS_CONF names a file that cannot be read",
          lambda h: "fix the path in CONTAINERS_CONF, or unset it"),
    Known("no-subuid", r"no sub[ug]id ranges found|insufficient UIDs or GIDs|"
                       r"Using rootless single mapping|there might not be enough IDs available", FAIL,
          "rootless Podman needs subordinate uid/gid ranges for the user (/etc/subuid, /etc/subgid); "
          "without them images with files of several owners cannot be used",
          _subuid_fix),
    Known("newuidmap", r"newuidmap|newgidmap", FAIL,
          "rootless Podman needs newuidmap and newgidmap (setuid helpers) to map the user's ids",
          lambda h: ("install them: apt-get install uidmap (Fedora: dnf install shadow-utils); "
                     "they must be setuid root (ls -l /usr/bin/newuidmap)")),
    Known("xdg-runtime-dir", r"XDG_RUNTIME_DIR|mkdir /run/user/\d+: permission denied", FAIL,
          "XDG_RUNTIME_DIR does not name a folder this user owns and can write "
          "(common after su or sudo, which start no login session)",
          lambda h: (f"log in as {h.user} directly (ssh, a console, or `machinectl shell "
                     f"{h.user}@`), or run `loginctl enable-linger {h.user}` as root; or use a "
                     f"folder of your own: export XDG_RUNTIME_DIR=/tmp/run-{h.uid} && "
                     "mkdir -m 700 -p $XDG_RUNTIME_DIR")),
    Known("tun", r"/dev/net/tun", FAIL,
          "rootless networking (slirp4netns, or pasta on Podman 5) cannot open /dev/net/tun, "
          "so the default network (bridge) cannot work",
          lambda h: ("as root: modprobe tun && chmod 0666 /dev/net/tun (its usual mode); "
                     "or give the sandbox `network: none` or `network: host` in sandbox.yaml "
                     "(podman-sandbox configure --network none), which setup steps do not "
                     "follow: they always get the default network"),
          hint="rootless networking (slirp4netns, pasta) needs /dev/net/tun readable and writable by you: "
               "have an administrator run `chmod 0666 /dev/net/tun` (its usual mode), or set "
               "`network: none` or `network: host` (`podman-sandbox configure --network none`), "
               "which setup steps do not follow: they always get the default network"),
    Known("slirp4netns", r"slirp4netns", FAIL,
          "rootless networking (slirp4netns) failed, so the default network (bridge) cannot work",
          lambda h: ("install slirp4netns (apt-get install slirp4netns), or use `network: none` "
                     "or `network: host` in sandbox.yaml"),
          hint="rootless networking failed: try `network: none` or `host`, or run `podman-sandbox doctor`"),
    # Podman 5's default rootless network; its words when the passt package is missing.
    Known("pasta", r"could not find pasta|pasta failed", FAIL,
          "rootless networking (pasta, Podman 5's default) failed, so the default network "
          "(bridge) cannot work",
          lambda h: ("install passt, which has pasta (apt-get install passt; Fedora: dnf install "
                     "passt), or use `network: none` or `network: host` in sandbox.yaml"),
          hint="rootless networking needs pasta: install the passt package, or set `network: none` "
               "or `host` (`podman-sandbox configure --network none`)"),
    Known("cgroup-v1-rootless", r"ignored on cgroups V1 rootless", WARN,
          "rootless Podman on cgroup v1 ignores memory, cpus and pids_limit: sandboxes run "
          "without limits",
          lambda h: ("boot with cgroup v2 (kernel option systemd.unified_cgroup_hierarchy=1), "
                     "or run podman-sandbox as root")),
    # Podman 5 on a cgroup v1 host says this on every command; execute passes it through.
    Known("cgroup-v1-deprecated", r"Using cgroups-v1 which is deprecated", WARN,
          "Podman 5 warns on every command that cgroup v1, this host's layout, is deprecated "
          "(it is shown under each `execute`)",
          lambda h: ("boot with cgroup v2 (kernel option systemd.unified_cgroup_hierarchy=1), or "
                     "hide the warning: export PODMAN_IGNORE_CGROUPSV1_WARNING=1")),
    Known("storage-mismatch", r"overwritten by graph driver|does not match our storage graph driver", WARN,
          "the storage driver in storage.conf differs from the one Podman's existing storage was "
          "made with; Podman keeps using the old one",
          lambda h: ("set `driver` in storage.conf back to the one in use, or run `podman system "
                     "reset` (deletes ALL images and containers of this user) to switch")),
    Known("storage-driver", r"prerequisites for driver not satisfied|driver not supported|"
                            r"kernel does not support overlay|overlay: can't stat program|"
                            r"is not supported over|mount_program", FAIL,
          "Podman's storage driver cannot work on this filesystem or kernel",
          lambda h: ("choose another driver in "
                     + ("~/.config/containers/storage.conf" if h.rootless else "/etc/containers/storage.conf")
                     + ': driver = "overlay" (rootless before kernel 5.13: also install '
                     'fuse-overlayfs), or driver = "vfs" (works everywhere, slow)')),
    Known("shared-mount", r"is not a shared mount", WARN,
          "/ is not a shared mount; rootless mounts may go missing",
          lambda h: "as root: mount --make-rshared /"),
    Known("runroot", r"runroot must be set",
          hint="your containers/storage.conf sets [storage] driver but not runroot and graphroot; "
               "Podman 4.3 then fails here when XDG_CONFIG_HOME is set: add both "
               "(`podman info` shows the values in use: store.runRoot, store.graphRoot)"),
)

KNOWN: tuple[Known, ...] = tuple(k for k in CATALOGUE if k.level)  # the failures of the host


def recognise(text: str) -> list[Known]:
    """The known failures of the host whose signature appears in Podman's output, most
    specific first."""
    found = [k for k in KNOWN if re.search(k.pattern, text)]
    keys = {k.key for k in found}
    if "tun" in keys:  # the tun failure is reported by slirp4netns or pasta; name the cause only
        found = [k for k in found if k.key not in ("slirp4netns", "pasta")]
    return found


def known(key: str) -> Known:
    return next(k for k in KNOWN if k.key == key)


def hint_for(stderr: str) -> str | None:
    """The one-line hint for a podman command that failed with this output, if we know one."""
    return next((k.hint for k in CATALOGUE if k.hint and re.search(k.pattern, stderr)), None)


def podman_reason(stderr: str) -> str:
    """The line of Podman's output that says what went wrong: the last `Error:` line, else
    the last logged error (its msg="..." only), else the last line."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else "no error output"
    for mark in ("Error:", "level=error", "level=fatal"):
        hits = [ln for ln in lines if mark in ln]
        if hits:
            line = hits[-1]
            break
    match = re.search(r'msg="(.*)"\s*$', line)
    if match:
        line = match.group(1).replace('\\"', '"')
    elif line.startswith("Error:"):
        line = line[len("Error:"):].strip()
    # A helper's output quoted into the error (slirp4netns, runc) comes with its
    # newlines escaped: its first line says what failed; the rest is noise.
    return line.split("\\n", 1)[0].strip()

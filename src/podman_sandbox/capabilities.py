"""Linux capability names, and what the dangerous ones let code in a container do.

One definition, used by validation (schema/validate.py: unknown names and
`cap_add: [ALL]` are refused) and by consent (trust.py: every capability
added beyond Podman's defaults is a grant, named with what it allows).
"""

from __future__ import annotations

# Every capability of Linux 6.x (include/uapi/linux/capability.h), without CAP_.
NAMES = frozenset({
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
})

# Podman's default set (containers.conf default_capabilities): adding one of these
# back (say after cap_drop: [ALL]) gives nothing a default sandbox lacks.
PODMAN_DEFAULTS = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})

# Capabilities that break the container's isolation from the host or its kernel.
BREAKS_ISOLATION = {
    "SYS_ADMIN": "mount filesystems, use namespaces and many kernel interfaces: the usual "
                 "way out of a container",
    "DAC_READ_SEARCH": "open host files by handle (open_by_handle_at, the \"shocker\" escape): "
                       "reads files outside every mount",
    "SYS_MODULE": "load kernel modules: runs code in the host's kernel",
    "SYS_RAWIO": "raw I/O on devices and ports: can read and write the host's memory and disks",
    "SYS_PTRACE": "read and change the memory of any process it can see, and use ptrace "
                  "against the kernel's own checks",
    "BPF": "load BPF programs into the host's kernel",
    "PERFMON": "observe the host's kernel and other processes through perf events",
    "NET_ADMIN": "reconfigure networking: interfaces, routes, firewall rules, sniffing",
    "NET_RAW": "craft raw packets: spoof traffic on the networks it can reach",
    "SYS_BOOT": "reboot the host",
    "MAC_ADMIN": "change the host's SELinux/AppArmor/Smack policy",
    "MAC_OVERRIDE": "ignore the host's SELinux/AppArmor/Smack policy",
    "SYS_TIME": "set the host's clock",
    "SYSLOG": "read and clear the kernel log (it leaks kernel addresses)",
    "LINUX_IMMUTABLE": "make files immutable or append-only, and undo it",
    "AUDIT_CONTROL": "change or switch off the host's audit rules",
    "SYS_PACCT": "switch process accounting on the host on and off",
    "SYS_TTY_CONFIG": "reconfigure the host's terminals",
    "WAKE_ALARM": "wake the host from suspend",
    "BLOCK_SUSPEND": "keep the host from suspending",
    "SYS_RESOURCE": "go past resource limits and quotas",
    "IPC_OWNER": "bypass permission checks on shared memory and message queues",
    "CHECKPOINT_RESTORE": "checkpoint and restore processes (pick their pids, read their state)",
}


def drops(cap_drop=(), cap_add=()) -> list[str]:
    """The --cap-drop values of a sandbox: what the user drops, and every capability beyond
    Podman's defaults that cap_add does not ask for. So what a sandbox holds never depends
    on the host's containers.conf (one without default_capabilities gives Podman's
    compiled-in list, which adds NET_RAW, MKNOD and AUDIT_WRITE). Dropping, not naming
    the set with --cap-add: Podman makes added capabilities ambient, so a non-root user
    (`user:`, or the image's USER) would then hold them all in effect."""
    dropped = {bare(c) for c in cap_drop}
    if "ALL" in dropped:
        return ["ALL"]
    keep = (set(PODMAN_DEFAULTS) - dropped) | {bare(c) for c in cap_add}
    return sorted(f"CAP_{name}" for name in NAMES - keep)


def bare(name: str) -> str:
    """NET_ADMIN from net_admin, CAP_NET_ADMIN or cap_net_admin."""
    name = name.upper()
    return name[4:] if name.startswith("CAP_") else name


def problem(name: str, *, adding: bool) -> str | None:
    """Why name cannot be used in cap_add (adding) or cap_drop; None when it can."""
    if bare(name) == "ALL":
        if adding:
            return ("ALL would give every capability, among them DAC_READ_SEARCH and SYS_ADMIN, "
                    "which escape the container; name the few you need")
        return None
    if bare(name) not in NAMES:
        return f"{name} is not a Linux capability; write one like NET_BIND_SERVICE or CAP_CHOWN"
    return None


def describe(name: str) -> str:
    """Plain words for adding the capability name."""
    cap = bare(name)
    danger = BREAKS_ISOLATION.get(cap)
    if danger:
        return f"capability {cap} (breaks isolation): can {danger}"
    return f"capability {cap}: beyond Podman's default set"

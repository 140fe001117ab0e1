"""A sandbox holds Podman's default capabilities and nothing more, whatever the host's
containers.conf says: the harness's CONTAINERS_CONF (the two-line fix) has no
default_capabilities, so Podman falls back to its compiled-in list, which adds NET_RAW
(raw sockets: ARP and DNS spoofing on the bridge), MKNOD and AUDIT_WRITE."""

from __future__ import annotations

# Bit numbers from include/uapi/linux/capability.h.
BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6,
        "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18,
        "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}


def cap_eff(sandbox) -> int:
    status = sandbox.ok("execute", "grep CapEff /proc/self/status").stdout
    return int(status.split()[1], 16)


def test_a_default_sandbox_has_exactly_podmans_default_capabilities(sandbox):
    from podman_sandbox.capabilities import PODMAN_DEFAULTS
    sandbox.write_spec(f"image: {sandbox.image}\n")
    held = cap_eff(sandbox)
    assert held == sum(1 << BITS[c] for c in PODMAN_DEFAULTS), hex(held)
    for extra in ("NET_RAW", "MKNOD", "AUDIT_WRITE"):
        assert not held & (1 << BITS[extra]), extra

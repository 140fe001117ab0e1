"""Spec values Podman cannot carry are refused before anything runs (exit 121).

Linux passes at most 131072 bytes in one argument: an env value of 140 kB, or
setup steps that together overflow the settings label, used to fail at create
with "Argument list too long", after every setup step had already run.
"""

from __future__ import annotations

import json

SPEC_ERROR = 121


def _refused_before_anything_ran(sandbox, spec: str) -> str:
    sandbox.write_spec(spec)
    result = sandbox.run("apply")
    assert result.returncode == SPEC_ERROR, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert sandbox.containers() == []  # no sandbox, no setup container
    assert not (sandbox.project / "setup-ran").exists()  # no setup step ran
    return result.stderr


def test_env_value_too_long_for_one_argument(sandbox):
    value = "x" * 140_000
    err = _refused_before_anything_ran(
        sandbox, f"image: {sandbox.image}\nsetup:\n  - touch /workspace/setup-ran\n"
                 f"env:\n  BIG: {json.dumps(value)}\n")
    assert "sandbox.yaml:5:" in err and "env.BIG" in err, err


def test_setup_steps_too_long_together(sandbox):
    # Each step fits in one argument; together they overflow the settings label.
    filler = ": " + "y" * 70_000
    err = _refused_before_anything_ran(
        sandbox, f"image: {sandbox.image}\nsetup:\n  - touch /workspace/setup-ran\n"
                 f"  - {json.dumps(filler)}\n  - {json.dumps(filler)}\n")
    assert "sandbox.yaml:" in err and "setup" in err, err


def test_cpu_limit_too_small_to_apply(sandbox):
    err = _refused_before_anything_ran(sandbox, f"image: {sandbox.image}\ncpus: 0.0004\n")
    assert "sandbox.yaml:2:" in err and "cpus" in err and "0.01" in err, err


def test_smallest_cpu_limit_is_applied_and_observed(sandbox):
    sandbox.write_spec(f"image: {sandbox.image}\ncpus: 0.01\n")
    sandbox.ok("apply")
    plan = sandbox.run("plan", "--exit-code")
    assert plan.returncode == 0, (plan.stdout, plan.stderr)  # in sync: the limit is really there
    quota = sandbox.ok("execute", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || "
                                  "cut -d' ' -f1 /sys/fs/cgroup/cpu.max").stdout.strip()
    assert quota == "1000", quota

"""The first look (engine/firstlook.py) reads Podman and takes the sandbox lock of the name
a spec gives, before the Spec is built and consent is checked. Code in a sandbox can write
that name: its /workspace/sandbox.yaml. Naming another project's sandbox must get it
nothing: no change to the victim, no lock left held, the victim's own commands unhindered
(real Podman)."""

from __future__ import annotations

import uuid

VICTIM_TOKEN = "victims-own-env-3c1d"


def test_a_spec_rewritten_to_name_another_projects_sandbox_takes_nothing_of_it(sandbox):
    victim_dir = sandbox.root / "victim project"
    victim_dir.mkdir()
    name = f"pstest-victim-{uuid.uuid4().hex[:10]}"
    sandbox.write_spec(f"image: {sandbox.image}\nname: {name}\nenv:\n  TOKEN: {VICTIM_TOKEN}\n",
                       folder=victim_dir)
    sandbox.ok("execute", "true", cwd=victim_dir)
    victim = sandbox.inspect(name)

    for extra, says in ((f"name: {name}\ncap_add: [SYS_PTRACE]\n", "capability SYS_PTRACE"),
                        (f"name: {name}\n", None)):
        sandbox.write_spec(f"image: {sandbox.image}\n")  # the attacker's own sandbox, running
        sandbox.ok("execute", "true")
        # As the sandbox does it: its own spec, rewritten from inside.
        (sandbox.project / ".spec").write_text(f"image: {sandbox.image}\n{extra}")
        sandbox.ok("execute", "cat /workspace/.spec > /workspace/sandbox.yaml")
        taken = sandbox.run("execute", "echo $TOKEN")
        assert taken.returncode == 123, taken  # refused: consent, or not this project's
        assert VICTIM_TOKEN not in taken.stdout
        if says:
            assert says in taken.stderr, taken.stderr
        now = sandbox.inspect(name)
        assert (now["Id"], now["State"]["Pid"], now["State"]["StartedAt"]) == \
            (victim["Id"], victim["State"]["Pid"], victim["State"]["StartedAt"])
        # Its lock is free again: the victim's own converge goes through at once.
        assert sandbox.ok("apply", cwd=victim_dir, timeout=60).returncode == 0
        assert sandbox.ok("execute", "echo $TOKEN", cwd=victim_dir).stdout.strip() == VICTIM_TOKEN

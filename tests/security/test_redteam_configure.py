"""Red team: `configure` on a sandbox.yaml the sandbox turned into a link.

Code in the sandbox replaces /workspace/sandbox.yaml with a symlink to another
project's spec on the host (it knows or guesses the path). Reading it needs
your approval (a grant: that file's env values would reach the sandbox). But
`configure --memory ...` edited the file and wrote the result over the link:
the other project's spec, its secrets included, became a regular file in the
workspace, where the sandbox reads it, and nothing asked. Now: refused (123)
until the link is approved, the link and both files left as they were; once
approved, the file the link leads to is edited and the link stays a link.
"""

from __future__ import annotations

REFUSED = 123


def test_configure_never_copies_a_linked_spec_into_the_workspace(sandbox):
    other = sandbox.root / "other-project"
    other.mkdir()
    secret_spec = f"image: {sandbox.image}\nenv:\n  TOKEN: other-project-secret\n"
    (other / "sandbox.yaml").write_text(secret_spec)
    sandbox.write_spec(f"image: {sandbox.image}\n")
    sandbox.ok("apply")
    sandbox.ok("execute", f"ln -sf {other}/sandbox.yaml /workspace/sandbox.yaml.new && "
                          "mv /workspace/sandbox.yaml.new /workspace/sandbox.yaml")
    link = sandbox.project / "sandbox.yaml"
    assert link.is_symlink()

    result = sandbox.run("configure", "--memory", "256m")
    assert result.returncode == REFUSED, (result.returncode, result.stdout, result.stderr)
    assert "outside the project" in result.stderr, result.stderr
    assert link.is_symlink() and (other / "sandbox.yaml").read_text() == secret_spec
    seen = sandbox.run("execute", "cat /workspace/sandbox.yaml")  # refused too: not approved
    assert "other-project-secret" not in seen.stdout
    leaked = [p for p in sandbox.project.rglob("*") if p.is_file() and not p.is_symlink()
              and "other-project-secret" in p.read_text(errors="replace")]
    assert leaked == []

    # Approved, the edit goes to the file the link leads to; the link stays.
    sandbox.ok("allow")
    sandbox.ok("configure", "--memory", "256m", "--no-restart")
    assert link.is_symlink()
    assert "memory: 256m" in (other / "sandbox.yaml").read_text()

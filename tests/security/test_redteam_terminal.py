"""Red team: a grant that lies to the terminal.

Consent is only as good as what the user reads. Mount sources and targets
refused C0 controls (ESC, newline), but the C1 controls U+0080..U+009F are
controls too: U+009B is CSI, which xterm-compatible terminals act on in UTF-8
as on ESC [. Code in the sandbox writes a read-write mount of a host folder
whose target ends in CSI 2K (erase the line) CSI 1G (back to column 1) and
"mount ./cache read-only at /cache": `allow`, `plan` and the TTY prompt then
show a harmless read-only mount. The image name (no space, no leading '-')
could carry ESC itself. Such a spec is refused, and nothing the CLI prints
for it carries a control character.
"""

from __future__ import annotations

import json
import unicodedata

import pytest

BAD_SPEC = 121  # a broken spec (errors.py)
LIE = "\\u009b2K\\u009b1G  mount ./cache read-only at /cache"  # as written in YAML


def _controls(text: str) -> list[str]:
    return [hex(ord(ch)) for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n"]


@pytest.mark.parametrize("field", ["source", "target", "image"])
def test_controls_in_printed_fields_are_refused_and_never_printed(sandbox, outside, field):
    source, target, image = str(outside), "/data", sandbox.image
    if field == "source":  # a folder the sandbox made in the project, named to lie
        (sandbox.project / "c\u009b2K").mkdir()
        source = "./c\\u009b2K"
    elif field == "target":
        target = "/x" + LIE
    else:
        image = sandbox.image + "\\u001b[2K"
    sandbox.write_spec(f'image: "{image}"\nmounts:\n  - source: "{source}"\n'
                       f'    target: "{target}"\n    read_only: false\n')
    where = f"mounts[0].{field}" if field != "image" else "image"
    for argv in (("plan",), ("allow",), ("execute", "cat /data/marker")):
        result = sandbox.run(*argv)
        assert "host secret" not in result.stdout
        assert result.returncode == BAD_SPEC, (argv, result.returncode, result.stdout, result.stderr)
        assert where in result.stderr, result.stderr
        assert not _controls(result.stdout + result.stderr), (argv, result.stdout, result.stderr)
    approvals = sandbox.root / "state" / "podman-sandbox" / "approvals"
    assert not approvals.exists() or not any(approvals.iterdir())
    assert sandbox.containers() == []


def test_plan_json_of_an_ordinary_mount_still_works(sandbox):
    """Not an attack: a source with spaces and non-ASCII letters is fine."""
    folder = sandbox.project / "données à moi"
    folder.mkdir()
    sandbox.write_spec(f'image: {sandbox.image}\nmounts:\n  - source: "./données à moi"\n'
                       '    target: /data\n')
    result = sandbox.ok("plan", "--json")
    assert str(folder) in json.dumps(json.loads(result.stdout), ensure_ascii=False)


def test_env_values_and_setup_steps_never_reach_the_terminal_raw(sandbox):
    """An env value or setup step may hold anything (ESC too); plan and apply print them
    with every control character escaped, so they cannot redraw the grants above them."""
    sandbox.write_spec(f'image: {sandbox.image}\nenv:\n  X: "a\\e[3A\\e[2Kb\\u009b1Ac"\n'
                       'setup:\n  - "true \\e[2J"\n')
    for argv in (("plan",), ("apply",), ("plan",)):
        result = sandbox.ok(*argv)
        assert not _controls(result.stdout + result.stderr), (argv, result.stdout, result.stderr)
    assert sandbox.ok("execute", "printf %s \"$X\"").stdout == "a\x1b[3A\x1b[2Kb\x9b1Ac"

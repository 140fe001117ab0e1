"""schema/validate.py: every problem at once, FILE:LINE:COL: field: message, sorted."""

from __future__ import annotations

import re

import pytest

from podman_sandbox.errors import SpecError
from podman_sandbox.schema import validate
from podman_sandbox.schema.loader import load_document
from podman_sandbox.schema.validate import validate_document

LINE = re.compile(r"^sandbox\.yaml:(\d+):(\d+): (\S+): (.+)$")


def check(text, *, require_image=True, base_dir="/nonexistent/project"):
    doc, loc = load_document("sandbox.yaml", text, display_name="sandbox.yaml")
    validate_document(doc, loc, "sandbox.yaml", require_image=require_image, base_dir=base_dir)
    return doc


def problems(text, **kwargs):
    with pytest.raises(SpecError) as info:
        check(text, **kwargs)
    found = info.value.problems
    for line in found:
        assert LINE.match(line), line
    return found


def test_acceptance_memory_lots_on_line_2():
    found = problems("image: alpine:latest\nmemory: lots\n")
    assert len(found) == 1
    assert found[0].startswith("sandbox.yaml:2:")
    assert "memory" in found[0]
    assert found[0] == (
        "sandbox.yaml:2:9: memory: 'lots' is not a size; write a number with an optional unit "
        "b, k, m or g, like 512m or 1g"
    )


def test_a_complete_valid_document_passes():
    doc = check(
        "image: alpine:latest\nname: my-sandbox\nmemory: 1g\ncpus: 1.5\npids_limit: 0\nauto_commit: true\n"
        "setup: [apk add git]\nenv: {A: x, B: 2, C: 1.5}\nnetwork: none\nread_only: true\n"
        "cap_drop: [ALL]\ncap_add: [net_bind_service, CAP_CHOWN]\nuser: '1000:1000'\n"
        "mounts:\n  - {source: ./cache, target: /cache, read_only: false}\n"
    )
    assert doc["memory"] == "1g"


@pytest.mark.parametrize("memory", ["6m", "6291456", 6291456, "0.5g", "1G", None])
def test_memory_values_accepted(memory):
    doc = {"image": "a", "memory": memory}
    validate_document(doc, None, "sandbox.yaml")


@pytest.mark.parametrize(
    "line, expected",
    [
        ("memory: 1m", "memory: 1m is below Podman's minimum of 6m"),
        ("memory: 1048576", "memory: 1048576 is below Podman's minimum of 6m"),
        ("memory: 0", "memory: 0 is below Podman's minimum of 6m"),
        ("memory: '99999999999999999999g'", "memory: 99999999999999999999g is too large"),
        ("memory: true", "memory: must be a size like 512m or 1g, a number of bytes, or null for no limit, "
                         "not a boolean"),
        ("network: wifi", "network: must be one of bridge, none, host"),
        ("cpus: 0", "cpus: 0 is below the smallest CPU limit Podman can set (0.01 of a core)"),
        ("cpus: 0.0004", "cpus: 0.0004 is below the smallest CPU limit Podman can set (0.01 of a core)"),
        ("cpus: 2000", "cpus: must be at most 1024, not 2000"),
        ("cpus: .nan", "cpus: must be a finite number, not nan"),
        ("cpus: fast", "cpus: must be a number of cores like 1.5, or null for no limit, not a string"),
        ("pids_limit: -1", "pids_limit: must be 0 or more, not -1"),
        ("pids_limit: 1.5", "pids_limit: must be a whole number, not a number"),
        ("pids_limit: 100000000000000000000", "pids_limit: must be at most 4194304, not 100000000000000000000"),
        ("auto_commit: 'yes'", "auto_commit: must be true or false, not a string"),
        ("user: 1000", "user: must be a string, not a number; put it in quotes to make it a string"),
        ("user: '-u'", "user: '-u' starts with '-', which podman would read as an option"),
        ("user: 'a b'", "user: 'a b' is not a user; write a name or uid, optionally with :group, "
                        "like nobody or 1000:1000"),
        ("name: '--privileged'", "name: '--privileged' is not a valid container name; use letters, digits, "
                                 "_, . and - (at most 63, starting with a letter or digit)"),
        ("setup: echo hi", "setup: must be a list of strings, not a string; write each item on its own line "
                           "starting with '- '"),
        ("cap_drop: [ALL, 'NET ADMIN']", "cap_drop[1]: 'NET ADMIN' is not a capability name; write one like "
                                         "NET_ADMIN, CAP_CHOWN or ALL"),
        ("env: [A]", "env: must be a mapping (key: value), not a list"),
        ("env: {A: [1]}", "env.A: must be a string or a number, not a list"),
        ("env: {A: null}", "env.A: must be a string or a number, not empty (null)"),
        ("mounts: {source: a}", "mounts: must be a list of mappings, not a mapping"),
    ],
)
def test_one_message_per_problem(line, expected):
    found = problems(f"image: alpine\n{line}\n")
    assert len(found) == 1, found
    assert found[0].startswith("sandbox.yaml:2:")
    assert found[0].split(": ", 1)[1] == expected


def test_setup_items_are_located_by_index():
    found = problems("image: a\nsetup:\n  - ok\n  - 3\n  - ''\n")
    assert found == [
        "sandbox.yaml:4:5: setup[1]: must be a string, not a number; put it in quotes to make it a string",
        "sandbox.yaml:5:5: setup[2]: must not be empty",
    ]


def test_image_is_required_at_the_top():
    found = problems("# comment\nmemory: 1g\n")
    assert found == ["sandbox.yaml:2:1: image: required field is missing"]


def test_require_image_false_accepts_a_document_without_image():
    assert check("memory: 1g\n", require_image=False) == {"memory": "1g"}
    # it only drops the top-level image requirement: mounts still need both fields
    found = problems("mounts: [{source: a}]\n", require_image=False)
    assert found == ["sandbox.yaml:1:10: mounts[0].target: required field is missing"]


def test_image_cannot_be_an_option_or_empty():
    assert problems("image: --privileged\n")[0].startswith("sandbox.yaml:1:8: image: '--privileged' is not an")
    assert problems("image: ''\n") == ["sandbox.yaml:1:8: image: must not be empty"]


def test_unknown_field_points_at_the_key_and_suggests():
    found = problems("image: a\nmemroy: 1g\n")
    assert found == ["sandbox.yaml:2:1: memroy: unknown field 'memroy' (did you mean 'memory'?)"]


def test_unknown_field_without_a_close_match_lists_the_allowed_ones():
    (message,) = problems("image: a\nzzz: 1\n")
    assert message.startswith("sandbox.yaml:2:1: zzz: unknown field 'zzz' (allowed fields: auto_commit, ")
    assert "memory" in message


def test_unknown_field_inside_mounts():
    found = problems("image: a\nmounts:\n  - sorce: ./x\n    target: /x\n")
    assert found == [
        "sandbox.yaml:3:5: mounts[0].sorce: unknown field 'sorce' (did you mean 'source'?)",
        "sandbox.yaml:3:5: mounts[0].source: required field is missing",
    ]


def test_bad_env_name_points_at_the_key():
    found = problems("image: a\nenv:\n  GOOD: 1\n  MY-VAR: 2\n")
    assert found == [
        "sandbox.yaml:4:3: env.MY-VAR: 'MY-VAR' is not a valid variable name; use letters, digits and _, "
        "not starting with a digit"
    ]


def test_all_problems_at_once_sorted_by_position():
    found = problems("network: nope\nmemory: lots\nimage: a b\nextra: 1\ncpus: -1\n")
    lines = [int(LINE.match(m).group(1)) for m in found]
    assert lines == [1, 2, 3, 4, 5]
    assert [LINE.match(m).group(3) for m in found] == ["network", "memory", "image", "extra", "cpus"]


def test_strings_no_command_line_can_carry():
    found = problems('image: "a\\0b"\nsetup: ["\\ud800"]\nenv: {"A": "x\\0"}\n')
    assert found == [
        "sandbox.yaml:1:8: image: the value contains a NUL character (\\0), which no command line can carry",
        "sandbox.yaml:2:9: setup[0]: the value contains an invalid character (an unpaired UTF-16 surrogate)",
        "sandbox.yaml:3:12: env.A: the value contains a NUL character (\\0), which no command line can carry",
    ]


def test_hostile_strings_are_fine_where_strings_are_free():
    doc = check(
        "image: alpine\nsetup:\n  - \"echo '$(whoami)' \\\"; rm -rf / #\"\n  - '--help'\n  - \"line1\\nline2\"\n"
        "env:\n  X: \"--x $(id) `id` 'q' \\\"dq\\\"\"\n  Y: \"ünïcødé 🐍\"\n"
    )
    assert doc["setup"][1] == "--help"
    assert doc["env"]["Y"] == "ünïcødé 🐍"


# --- mounts ------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home" / "me"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.mark.parametrize("source", ["/", "/.", "//", "/tmp/..", "../../../../../../../../.."])
def test_mounting_root_needs_force(source, home):
    found = problems(f"image: a\nmounts:\n  - source: '{source}'\n    target: /host\n")
    assert found == [
        "sandbox.yaml:3:13: mounts[0].source: mounting the whole host (/) is too broad; "
        "set force: true if you really mean it"
    ]
    check(f"image: a\nmounts:\n  - source: '{source}'\n    target: /host\n    force: true\n")


@pytest.mark.parametrize("source", ["'~'", "'~/'", "'~/sub/..'", "HOME"])
def test_mounting_home_needs_force(source, home):
    source = str(home) if source == "HOME" else source
    (message,) = problems(f"image: a\nmounts:\n  - source: {source}\n    target: /h\n")
    assert message.startswith("sandbox.yaml:3:13: mounts[0].source: mounting your whole home folder")
    assert "force: true" in message
    check(f"image: a\nmounts:\n  - source: {source}\n    target: /h\n    force: true\n")


def test_a_folder_holding_home_needs_force(home):
    (message,) = problems(f"image: a\nmounts:\n  - {{source: '{home.parent}', target: /h}}\n")
    assert f"mounting {home.parent} (it holds your home folder) is too broad" in message


@pytest.mark.parametrize("source", ["/etc", "/usr", "/var/", "/home"])
def test_system_folders_need_force(source, home):
    (message,) = problems(f"image: a\nmounts:\n  - {{source: '{source}', target: /s}}\n")
    assert f"the system folder {source.rstrip('/')} is too broad" in message
    check(f"image: a\nmounts:\n  - {{source: '{source}', target: /s, force: true}}\n")


def test_home_subfolders_and_relative_sources_are_fine(home):
    check("image: a\nmounts:\n  - {source: ~/.cache/pip, target: /root/.cache/pip}\n  - {source: ., target: /p}\n",
          base_dir=str(home / "proj"))


def test_relative_source_resolving_to_home_needs_force(home):
    (message,) = problems("image: a\nmounts:\n  - {source: .., target: /up}\n", base_dir=str(home / "proj"))
    assert "mounting your whole home folder" in message


def test_base_dir_defaults_to_the_folder_of_the_file(home):
    proj = home / "proj"
    proj.mkdir()
    doc, loc = load_document(str(proj / "sandbox.yaml"), "image: a\nmounts:\n  - {source: .., target: /up}\n",
                             display_name="sandbox.yaml")
    with pytest.raises(SpecError) as info:
        validate_document(doc, loc, "sandbox.yaml")
    assert "home folder" in info.value.problems[0]


@pytest.mark.parametrize(
    "target, reason",
    [
        ("/workspace", "/workspace is where the project folder is mounted"),
        ("/workspace/", "/workspace is where the project folder is mounted"),
        ("/proc", "/proc is inside /proc"),
        ("/proc/self", "/proc/self is inside /proc"),
        ("/sys/fs/../kernel", "/sys/kernel is inside /sys"),
        ("/dev/shm", "/dev/shm is inside /dev"),
        ("/", "cannot mount over /"),
        ("/a:b", "contains ':'"),
        ("relative", "is not an absolute path"),
    ],
)
def test_mount_targets_refused(target, reason, home):
    (message,) = problems(f"image: a\nmounts:\n  - source: /data\n    target: '{target}'\n")
    assert message.startswith("sandbox.yaml:4:13: mounts[0].target: ")
    assert reason in message


@pytest.mark.parametrize("target", ["/workspace2", "/workspace/cache", "/device", "/system", "/procedures"])
def test_mount_targets_that_only_look_reserved(target, home):
    check(f"image: a\nmounts:\n  - source: /data\n    target: '{target}'\n")


def test_two_mounts_on_one_target(home):
    found = problems("image: a\nmounts:\n  - {source: /a, target: /x}\n  - {source: /b, target: /x/}\n")
    assert found == ["sandbox.yaml:4:26: mounts[1].target: /x is already the target of mounts[0]"]


def test_a_bare_tilde_source_gets_a_hint(home):
    (message,) = problems("image: a\nmounts:\n  - {source: ~, target: /h}\n")
    assert "write '~' in quotes" in message


# --- the function's own contract ------------------------------------------------------


def test_without_a_locator_lines_have_no_position():
    with pytest.raises(SpecError) as info:
        validate_document({"image": "a", "memory": "lots"}, None, "--memory")
    assert info.value.problems[0].startswith("--memory: memory: 'lots' is not a size")


def test_schema_is_read_once():
    assert validate._loaded_schema() is validate._loaded_schema()


def test_schema_is_the_packaged_file():
    schema = validate.load_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert "image" in schema["properties"]


def test_schema_is_a_valid_draft_2020_12_schema():
    # Checked here once, not at every first load of a spec (validate._loaded_schema).
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    Draft202012Validator.check_schema(validate.load_schema())
    with pytest.raises(SchemaError):  # the check does catch a broken schema
        Draft202012Validator.check_schema({**validate.load_schema(), "type": "mapping"})


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ({1: "x"}, "keys must be strings"),
        ({"image": "a", "env": {"A": 10**5000}}, "far too large"),
        ({"image": "a", "setup": [[[[[[[[[[]]]]]]]]]] * 3}, "must be a string"),
        ({"image": "a", "name": float("inf")}, "name: must be a string"),
        ({"image": "a", "setup": ("a", "b")}, "setup: must be a list of strings, not a tuple"),
    ],
)
def test_odd_python_documents_never_crash(doc, fragment):
    with pytest.raises(SpecError) as info:
        validate_document(doc, None, "x")
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_absurdly_deep_python_document():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(SpecError) as info:
        validate_document({"image": "a", "setup": deep}, None, "x")
    assert "nested more than" in info.value.problems[0]


def test_self_referencing_python_document():
    doc: dict = {"image": "a"}
    doc["env"] = doc
    with pytest.raises(SpecError):
        validate_document(doc, None, "x")


def test_a_refusal_leaves_no_state_behind():
    with pytest.raises(SpecError):
        check("image: a\nmemory: lots\n")
    assert check("image: a\nmemory: 64m\n") == {"image": "a", "memory": "64m"}


def test_a_pids_limit_no_kernel_allows_is_refused_at_its_line():
    # 1e30 is an integer to JSON Schema (a float with no fraction); Linux has at most 2**22 pids.
    (message,) = problems("image: a\npids_limit: 1e30\n")
    assert message.startswith("sandbox.yaml:2:13: pids_limit: must be at most 4194304"), message
    check("image: a\npids_limit: 4194304\n")

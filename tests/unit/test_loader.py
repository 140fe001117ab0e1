"""schema/loader.py: YAML and JSON with positions, and every way a file can be unreadable."""

from __future__ import annotations

import json
import os
import re
import tracemalloc

import pytest

from podman_sandbox.errors import EXIT_SPEC, SpecError
from podman_sandbox.schema.loader import Locator, display_name_for, format_path, load_document

SAMPLE = """\
# a comment
image: alpine:latest
memory: 512m
setup:
  - echo one
  - echo two
mounts:
  - source: ~/.cache
    target: /cache
env: {A: "1", B: x}
"""


def load(text, name="sandbox.yaml"):
    return load_document(name, text, display_name=name)


def problems(text, name="sandbox.yaml"):
    with pytest.raises(SpecError) as info:
        load(text, name)
    assert info.value.exit_code == EXIT_SPEC
    return info.value.problems


def test_values_and_their_positions():
    doc, loc = load(SAMPLE)
    assert doc == {
        "image": "alpine:latest",
        "memory": "512m",
        "setup": ["echo one", "echo two"],
        "mounts": [{"source": "~/.cache", "target": "/cache"}],
        "env": {"A": "1", "B": "x"},
    }
    assert loc.position(("image",)) == (2, 8)
    assert loc.position(("memory",)) == (3, 9)
    assert loc.position(("setup", 1)) == (6, 5)
    assert loc.position(("mounts", 0, "target")) == (9, 13)
    assert loc.position(("env", "B")) == (10, 18)


def test_key_positions_point_at_the_key():
    _, loc = load(SAMPLE)
    assert loc.key_position(("memory",)) == (3, 1)
    assert loc.key_position(("mounts", 0, "target")) == (9, 5)
    assert loc.key_position(("env", "A")) == (10, 7)
    # a list item has no key: its value's position
    assert loc.key_position(("setup", 0)) == (5, 5)


def test_missing_path_falls_back_to_nearest_ancestor():
    _, loc = load(SAMPLE)
    assert loc.position(("mounts", 0, "read_only")) == loc.position(("mounts", 0)) == (8, 5)
    assert loc.position(("setup", 7)) == (5, 3)  # the block sequence starts at its first dash
    assert loc.position(("nope", "deeper")) == loc.position(()) == (2, 1)
    assert loc.key_position(("nope",)) == (2, 1)


def test_syntax_error_is_one_line_with_position():
    found = problems("image: alpine\nmemory: [1g\nname: x\n")
    assert len(found) == 1
    assert re.match(r"^sandbox\.yaml:\d+:\d+: YAML syntax error: \S", found[0]), found
    found = problems("image: alpine\n  bad: indent\n")
    assert found[0].startswith("sandbox.yaml:2:6: YAML syntax error: mapping values are not allowed here")


def test_unclosed_quote_names_where_it_started():
    (message,) = problems('image: alpine\nname: "oops\n')
    assert message.startswith("sandbox.yaml:3:1: YAML syntax error: found unexpected end of stream")
    assert "quoted scalar at line 2" in message


def test_tab_indentation_and_control_characters_have_positions():
    assert problems("image: a\n\tname: b\n")[0].startswith("sandbox.yaml:2:1: YAML syntax error:")
    (message,) = problems("image: a\nname: b\x01c\n")
    assert message.startswith("sandbox.yaml:2:8: YAML syntax error: character U+0001")


def test_two_documents_are_refused():
    (message,) = problems("image: a\n---\nimage: b\n")
    assert message.startswith("sandbox.yaml:2:1: YAML syntax error:")
    assert "single document" in message


def test_duplicate_keys_at_any_depth():
    found = problems("image: a\nenv:\n  X: 1\n  Y: 2\n  X: 3\nimage: b\n")
    assert found == [
        "sandbox.yaml:5:3: env.X: duplicate key (first at line 3)",
        "sandbox.yaml:6:1: image: duplicate key (first at line 1)",
    ]


def test_keys_differing_only_in_yaml_spelling_are_duplicates():
    # `1` and "1" are the same key once keys are read as written text
    assert problems('env:\n  "1": a\n  1: b\n') == ["sandbox.yaml:3:3: env['1']: duplicate key (first at line 2)"]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n# nothing\n"])
def test_empty_file_names_the_file(text):
    (message,) = problems(text, name="conf/sandbox.yaml")
    assert message.startswith("conf/sandbox.yaml: the file is empty")


@pytest.mark.parametrize(
    "text, kind",
    [("- a\n- b\n", "list"), ("just words\n", "value"), ("42\n", "value"), ("[image, x]\n", "list")],
)
def test_top_level_must_be_a_mapping(text, kind):
    (message,) = problems(text)
    assert message == f"sandbox.yaml:1:1: the top level must be a mapping of fields (key: value), not a {kind}"


def test_keys_are_the_text_written():
    doc, _ = load("on: 1\n1: 2\nnull: 3\nyes: 4\n~: 5\n")
    assert doc == {"on": 1, "1": 2, "null": 3, "yes": 4, "~": 5}


def test_non_scalar_keys_are_refused():
    (message,) = problems("? [a, b]\n: 1\n")
    assert message == "sandbox.yaml:1:3: (top level): a key must be a plain name, not a list"


def test_values_that_cannot_be_read_are_reported_in_place():
    found = problems("a: !!int abc\nb: !custom x\nc: !!set {x}\nd: !!timestamp nope\n")
    assert [m.split(": ")[0] for m in found] == [
        "sandbox.yaml:1:4",
        "sandbox.yaml:2:4",
        "sandbox.yaml:3:4",
        "sandbox.yaml:4:4",
    ]
    assert "!!int" in found[0] and "!custom" in found[1] and "!!set" in found[2]


def test_merge_keys_and_aliases():
    text = "base: &b {memory: 1g, cpus: 2}\nm:\n  <<: *b\n  cpus: 4\nsetup: &s [a]\nother: *s\n"
    doc, loc = load(text)
    assert doc["m"] == {"memory": "1g", "cpus": 4}
    assert doc["other"] == ["a"]
    assert loc.position(("m", "cpus")) == (4, 9)  # the explicit key wins, and its position
    assert loc.position(("m", "memory")) == (1, 19)  # merged: where the value is written


def test_recursive_alias_is_refused():
    (message,) = problems("a: &x [1, *x]\n")
    # the alias stands for the anchored list, so that is where it points
    assert message.startswith("sandbox.yaml:1:4: a[1]: ") and "recursive" in message


def test_alias_bomb_is_bounded():
    """10**12 values once expanded: refused after MAX_VALUES of them. Bounded by the memory
    it takes (the same for any bomb, and not a clock: a loaded machine only takes longer)."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 12):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    tracemalloc.start()
    try:
        (message,) = problems("\n".join(lines) + "\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "too large" in message
    assert peak < 64 * 1024 * 1024, peak  # about 11 MB: what MAX_VALUES values take


def test_deep_nesting_is_refused_without_traceback():
    assert "nested" in problems("a: " + "[" * 3000 + "]" * 3000 + "\n")[0]
    assert "nested" in problems("a: " + "[" * 100 + "]" * 100 + "\n")[0]


def test_json_loads_like_json_with_positions():
    data = {
        "image": "python:3.12-slim",
        "memory": 1073741824,
        "cpus": 1.5,
        "tiny": 1e-07,
        "huge": 1e22,
        "auto_commit": True,
        "user": None,
        "setup": ["pip install -r requirements.txt", "echo \"quoted\" \\ back\tslash"],
        "env": {"EMOJI": "snake \U0001F40D", "ACCENT": "caf\u00e9", "SLASH": "a/b"},
    }
    text = json.dumps(data, indent=2)
    doc, loc = load_document("config.json", text, display_name="config.json")
    assert doc == json.loads(text) == data
    assert loc.position(("memory",)) == (3, 13)
    assert loc.key_position(("env", "EMOJI")) == (text.splitlines().index('    "EMOJI": "snake \\ud83d\\udc0d",') + 1, 5)


def test_json_errors_get_line_numbers_too():
    (message,) = problems('{\n  "image": "a"\n  "memory": 1\n}\n', name="config.json")
    assert message.startswith("config.json:3:3: YAML syntax error:")
    found = problems('{\n  "image": "a",\n  "image": "b"\n}\n', name="config.json")
    assert found == ['config.json:3:3: image: duplicate key (first at line 2)']


def test_reads_the_file_and_strips_a_bom(tmp_path):
    path = tmp_path / "sandbox.yaml"
    path.write_bytes("\ufeffimage: alpine\n".encode())
    doc, loc = load_document(str(path), display_name="x.yaml")
    assert doc == {"image": "alpine"}
    assert loc.position(("image",)) == (1, 8)
    assert loc.path == str(path) and loc.display_name == "x.yaml"


def test_unreadable_and_undecodable_files(tmp_path):
    with pytest.raises(SpecError) as info:
        load_document(str(tmp_path / "missing.yaml"), display_name="missing.yaml")
    assert info.value.problems[0].startswith("missing.yaml: cannot be read")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"image: caf\xe9\n")
    with pytest.raises(SpecError) as info:
        load_document(str(bad), display_name="latin1.yaml")
    assert info.value.problems == ["latin1.yaml: is not UTF-8 text (byte 10 cannot be decoded)"]


def test_display_name_relative_under_cwd(tmp_path, monkeypatch):
    (tmp_path / "proj").mkdir()
    monkeypatch.chdir(tmp_path)
    assert display_name_for(str(tmp_path / "proj" / "sandbox.yaml")) == os.path.join("proj", "sandbox.yaml")
    assert display_name_for("/elsewhere/sandbox.yaml") == "/elsewhere/sandbox.yaml"
    with pytest.raises(SpecError) as info:
        load_document(str(tmp_path / "proj" / "sandbox.yaml"), "memory: [\n")
    assert info.value.problems[0].startswith(os.path.join("proj", "sandbox.yaml") + ":2:1:")


def test_format_path():
    assert format_path(()) == "(top level)"
    assert format_path(("memory",)) == "memory"
    assert format_path(("mounts", 0, "source")) == "mounts[0].source"
    assert format_path(("setup", 1)) == "setup[1]"
    assert format_path(("env", "MY VAR")) == "env['MY VAR']"
    # A key ending in a newline is quoted with its escape: never a raw line break in a message.
    assert format_path(("env", "A\n")) == "env['A\\n']"


def test_locator_without_positions():
    loc = Locator()
    assert loc.position(("a", 1)) == (1, 1)
    assert loc.key_position(("a",)) == (1, 1)

"""schema/yamledit.py: one top-level value changes, every other byte stays."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podman_sandbox.errors import SpecError
from podman_sandbox.schema.loader import load_document
from podman_sandbox.schema.yamledit import render_scalar, set_top_level_value

DOC = """\
# yaml-language-server: $schema=./schema.json
image: alpine:latest   # the base
memory: 512m # limit

# Steps
setup:
  - echo one
name: "quoted-name"
env: {A: '1'}
# tail comment
"""


def test_replaces_only_the_value_and_keeps_the_trailing_comment():
    out = set_top_level_value(DOC, "memory", "1g")
    assert out == DOC.replace("memory: 512m # limit", "memory: 1g # limit")


def test_keeps_other_keys_quoting():
    out = set_top_level_value(DOC, "image", "busybox")
    assert 'name: "quoted-name"' in out and "env: {A: '1'}" in out
    assert out == DOC.replace("image: alpine:latest ", "image: busybox ")


def test_appends_a_missing_key_after_the_last_entry():
    out = set_top_level_value(DOC, "auto_commit", True)
    assert out == DOC.replace("env: {A: '1'}\n", "env: {A: '1'}\nauto_commit: true\n")


def test_appends_after_a_block_list_before_trailing_comments():
    text = "image: a\nsetup:\n- x\n- y\n\n# Optional:\n# cpus: 2\n"
    out = set_top_level_value(text, "cpus", 1.5)
    assert out == "image: a\nsetup:\n- x\n- y\ncpus: 1.5\n\n# Optional:\n# cpus: 2\n"


def test_adds_the_missing_final_newline():
    assert set_top_level_value("image: a", "memory", "1g") == "image: a\nmemory: 1g\n"


def test_keeps_crlf_line_endings():
    assert set_top_level_value("image: a\r\n", "memory", "1g") == "image: a\r\nmemory: 1g\r\n"


def test_keeps_the_indentation_of_an_indented_top_level():
    assert set_top_level_value("  image: a\n  name: b\n", "cpus", 2) == "  image: a\n  name: b\n  cpus: 2\n"


def test_inserts_before_a_document_end_marker():
    assert set_top_level_value("image: a\n...\n", "memory", "1g") == "image: a\nmemory: 1g\n...\n"


def test_empty_and_comment_only_files_get_the_key():
    assert set_top_level_value("", "image", "alpine") == "image: alpine\n"
    assert set_top_level_value("# hello", "image", "alpine") == "# hello\nimage: alpine\n"


def test_empty_value_gets_a_space():
    assert set_top_level_value("memory:\nimage: a\n", "memory", "2g") == "memory: 2g\nimage: a\n"
    assert set_top_level_value("memory:   # none\n", "memory", "2g") == "memory: 2g   # none\n"


def test_block_scalar_value_is_replaced_with_its_lines():
    text = "image: | # why\n  alpine\n\nname: x\n"
    assert set_top_level_value(text, "image", "busybox") == "image: busybox # why\n\nname: x\n"


def test_multi_line_plain_value_is_replaced_whole():
    assert set_top_level_value("b:\n  multi\n  line\nc: 1\n", "b", "x") == "b:\n  x\nc: 1\n"


@pytest.mark.parametrize(
    "value, written",
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (1.5, "1.5"),
        ("yes", "'yes'"),
        ("no", "'no'"),
        ("null", "'null'"),
        ("~", "'~'"),
        ("", "''"),
        ("123", "'123'"),
        ("1.5", "'1.5'"),
        ("1e5", "'1e5'"),
        ("0x1F", "'0x1F'"),
        ("2024-01-01", "'2024-01-01'"),
        ("512m", "512m"),
        ("a: b", "'a: b'"),
        ("x #y", "'x #y'"),
        ("#x", "'#x'"),
        ("- x", "'- x'"),
        ("*a", "'*a'"),
        ("it's", "it's"),
        ("a\nb", '"a\\nb"'),
        # YAML reads these as line breaks too (folded to a space when unquoted).
        ("\x85", '"\\N"'),
        ("a\u2028b", '"a\\Lb"'),
        ("a\u2029b", '"a\\Pb"'),
    ],
)
def test_render_scalar_quotes_what_would_read_differently(value, written):
    assert render_scalar(value) == written
    assert yaml.safe_load(f"k: {written}\n")["k"] == value


def test_the_result_reads_back_with_our_loader():
    out = set_top_level_value("image: a\n", "name", "1e5")
    doc, _ = load_document("sandbox.yaml", out)
    assert doc["name"] == "1e5"


@pytest.mark.parametrize(
    "text, key, reason",
    [
        ("{image: a}", "image", "flow style"),
        ("- a\n", "image", "not a mapping"),
        ("image: [a]\n", "image", "image is a list"),
        ("env:\n  A: 1\n", "env", "env is a mapping"),
        ("image: a\nimage: b\n", "image", "more than once"),
        ("image: a\n  bad: 1\n", "image", "not valid YAML (line 2, column 6"),
        ("a: &x 1\nb: *x\n", "a", "would not read back (found undefined alias 'x')"),
    ],
)
def test_refuses_what_it_cannot_edit_safely(text, key, reason):
    with pytest.raises(SpecError) as info:
        set_top_level_value(text, key, "v", display_name="sandbox.yaml")
    (message,) = info.value.problems
    assert message.startswith("sandbox.yaml: cannot be edited in place: ")
    assert reason in message
    assert info.value.hint


# --- property: any value, any key, the rest of the file untouched -------------------------

_keys = st.sampled_from(["image", "memory", "cpus", "name", "auto_commit", "new_key", "on", "1", "a b"])
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["yes", "no", "~", "null", "1e5", "0o7", "- x", "$(rm -rf ~)", "--force", "a\nb", "'\"", "#"]),
)
# one-line text, so each existing entry is one line of the dumped file
_line_text = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=10)
_base = st.dictionaries(
    st.sampled_from(["image", "memory", "cpus", "name", "setup", "env", "x"]),
    st.one_of(_line_text, st.integers(), st.booleans(), st.none(), st.lists(_line_text, max_size=2)),
    max_size=5,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=_base, key=_keys, value=_values, comment=st.booleans())
def test_round_trip_property(base, key, value, comment):
    text = yaml.safe_dump(base, sort_keys=False, allow_unicode=True) if base else ""
    if comment:
        text = "# top comment\n" + text + "# bottom comment\n"
    try:
        out = set_top_level_value(text, key, value)
    except SpecError as exc:
        # only a list value under that key is a reason to refuse
        assert isinstance(base.get(key), list), exc.problems
        return
    after = yaml.safe_load(out)
    got = after[key]
    assert type(got) is type(value)
    assert got == value or (isinstance(value, float) and math.isnan(value))
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in base.items() if k != key}
    if comment:
        assert out.startswith("# top comment\n") and "# bottom comment\n" in out
    # every line that did not hold the key is still there, in order
    kept = [line for line in text.splitlines() if not line.startswith(f"{key}:")]
    remaining = iter(out.splitlines())
    assert all(any(line == other for other in remaining) for line in kept)


_yamlish = st.text(alphabet=st.sampled_from(list("ab:-[]{},'\"#&*!|>?\n \t~019.m/\\\x01")), max_size=50)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_yamlish, key=st.sampled_from(["image", "a", "b"]), value=st.one_of(st.none(), st.text(max_size=8)))
def test_any_text_is_edited_correctly_or_refused(text, key, value):
    try:
        out = set_top_level_value(text, key, value)
    except SpecError as exc:
        assert exc.problems and "cannot be edited in place" in exc.problems[0]
        return
    assert yaml.safe_load(out)[key] == value

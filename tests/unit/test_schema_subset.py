"""schema/subset.py against jsonschema itself: the same errors, keyword by keyword.

The CLI checks sandbox.yaml with subset.py (the jsonschema package costs a first
validation 0.1 s); jsonschema stays the reference here. Documents: every field of
the schema (nested ones too) given each of a pool of awkward values, and documents
hypothesis builds from JSON-like values.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from podman_sandbox.schema import subset
from podman_sandbox.schema.validate import load_schema

SCHEMA = load_schema()


def _python_end(schema):
    """The schema with each pattern's final $ written \\Z: JSON Schema's patterns are
    ECMA-262, whose $ is the very end; jsonschema uses Python's, which also matches
    before a final newline. subset.py follows ECMA; so does the reference, this way."""
    if isinstance(schema, dict):
        out = {k: _python_end(v) for k, v in schema.items()}
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and "$" in pattern:
            assert pattern.count("$") == 1 and pattern.endswith("$"), pattern
            out["pattern"] = pattern[:-1] + "\\Z"
        return out
    if isinstance(schema, list):
        return [_python_end(v) for v in schema]
    return schema


REFERENCE = Draft202012Validator(_python_end(SCHEMA))

AWKWARD = [None, True, False, 0, 1, -1, 1.0, 1.5, 0.001, 2**40, 6291455, 6291456, 1e3,
           "", "x", " x", "-x", "x y", "x\n", "512m\n", "512m", "1g", "0.5k", "bridge", "host", "none", "bind",
           "worktree", "NET_ADMIN", "/abs", "rel", "nobody", "1000:1000", "A", "1A", "ä",
           [], ["x"], [""], [1], [None], [{"source": "a", "target": "/b"}],
           {}, {"A": "1"}, {"a b": 1}, {"A": None}, {"source": "."}, {"source": ".", "target": "/t"},
           {"context": ".", "args": {"X": 1}}, {"unknown": 1},
           datetime.date(2024, 1, 2), b"bytes"]


def _reference(doc) -> list[tuple]:
    return sorted(_key(e) for e in REFERENCE.iter_errors(doc))


def _ours(doc) -> list[tuple]:
    return sorted(_key(e) for e in subset.iter_errors(doc, SCHEMA))


def _key(error) -> tuple:
    value = error.validator_value  # the reference's patterns are rewritten (_python_end)
    if error.validator == "pattern":
        value = subset.ecma_end(value)
    return (tuple(map(str, error.absolute_path)), tuple(map(str, error.absolute_schema_path)),
            error.validator, repr(value), repr(error.instance))


def _field_paths(schema: dict, prefix: tuple = ()) -> list[tuple]:
    """Every property path the schema names, nested objects and list items included."""
    found = []
    for name, sub in (schema.get("properties") or {}).items():
        found.append(prefix + (name,))
        found += _field_paths(sub, prefix + (name,))
        items = sub.get("items")
        if isinstance(items, dict):
            found += _field_paths(items, prefix + (name, 0))
    return found


def _with(doc, path: tuple, value):
    """doc with value at path (made where missing: a mapping, or a one-item list)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        return [_with({}, rest, value)]
    out = dict(doc) if isinstance(doc, dict) else {}
    out[head] = _with(out.get(head, {}), rest, value)
    return out


BASE = {"image": "alpine:latest"}
CASES = [_with(BASE, path, value) for path in _field_paths(SCHEMA) for value in AWKWARD]


def test_the_corpus_reaches_every_field_and_finds_errors():
    assert len(CASES) > 1000
    assert sum(1 for doc in CASES if _reference(doc)) > len(CASES) // 3


@pytest.mark.parametrize("doc", CASES, ids=lambda d: repr(d)[:60])
def test_each_field_with_each_awkward_value(doc):
    assert _ours(doc) == _reference(doc)


@pytest.mark.parametrize("doc", [{}, [], "x", None, 3, {"image": 1, "name": 2, "extra": 3},
                                 {"image": "a", "build": "Containerfile"}, BASE])
def test_whole_documents(doc):
    assert _ours(doc) == _reference(doc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
field_names = st.sampled_from(sorted(SCHEMA["properties"]) + ["source", "target", "context", "bogus"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(field_names, json_values, max_size=5))
def test_generated_documents(doc):
    assert _ours(doc) == _reference(doc)


@pytest.mark.parametrize("doc, where", [
    ({"image": "alpine", "name": "box\n"}, ("name",)),
    ({"image": "alpine", "env": {"A\n": "x"}}, ("env",)),
    ({"image": "alpine", "memory": "512m\n"}, ("memory",)),
    ({"image": "alpine\n"}, ("image",)),
])
def test_a_value_ending_in_a_newline_does_not_match_a_pattern_that_ends_with_dollar(doc, where):
    """ECMA-262's $ (JSON Schema's): the very end, not before a final newline."""
    assert [tuple(e.absolute_path) for e in subset.iter_errors(doc, SCHEMA)
            if e.validator == "pattern"] == [where]


def test_ecma_end_rewrites_only_an_ending_dollar():
    assert subset.ecma_end("^[a-z]+$") == "^[a-z]+\\Z"
    assert subset.ecma_end("a\\$b[$]$") == "a\\$b[$]\\Z"
    assert subset.ecma_end("^/") == "^/"


def test_equality_keeps_true_apart_from_one():
    assert not subset.equal(True, 1) and not subset.equal(0, False)
    assert subset.equal(1, 1.0) and subset.equal([1, "a"], [1.0, "a"])
    assert not subset.equal("1", 1)


def test_a_keyword_it_does_not_check_is_an_error_not_ignored():
    with pytest.raises(subset.UnsupportedKeyword):
        list(subset.iter_errors("x", {"oneOf": [{"type": "string"}]}))
    with pytest.raises(subset.UnsupportedKeyword):
        list(subset.iter_errors({"a": 1}, {"properties": {"a": {"format": "email"}}}))


def test_the_packaged_schema_uses_only_checked_keywords():
    def walk(schema: dict):
        for keyword, value in schema.items():
            assert keyword in subset.KEYWORDS + subset.ANNOTATIONS, keyword
            if keyword in ("properties",):
                for sub in value.values():
                    walk(sub)
            elif keyword in ("items", "propertyNames") or (keyword == "additionalProperties"
                                                          and isinstance(value, dict)):
                walk(value)
    walk(SCHEMA)

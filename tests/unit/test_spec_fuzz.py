"""Any input is either a valid spec or a SpecError: never another exception.

Random YAML-ish text, random JSON-like documents (written as JSON and as
YAML), and hostile values in every field go through load_document and
validate_document. When a document is accepted, build_spec must accept it
too and give a Spec the engine can hash. ~200 examples in all.
"""

from __future__ import annotations

import dataclasses
import json
import math

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from podman_sandbox.errors import SpecError
from podman_sandbox.schema.loader import load_document
from podman_sandbox.schema.sizes import MIN_MEMORY, PAGE
from podman_sandbox.schema.spec import build_spec
from podman_sandbox.schema.validate import load_schema, validate_document

NAME = "sandbox.yaml"
FIELDS = sorted(load_schema()["properties"])


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def outcome(text: str, tmp_path_factory=None) -> str:
    """'ok' or 'refused'; any other exception fails the test."""
    try:
        doc, loc = load_document(NAME, text, display_name=NAME)
    except SpecError as exc:
        _check_problems(exc)
        return "refused"
    results = []
    for mode, require_image in (("project", True), ("classic", False)):
        try:
            validate_document(doc, loc, NAME, require_image=require_image, base_dir="/srv/project")
        except SpecError as exc:
            _check_problems(exc)
            results.append("refused")
            continue
        spec = build_spec(doc, project_dir="/srv/project", source=NAME, mode=mode)
        assert spec.memory is None or (spec.memory >= MIN_MEMORY - PAGE and spec.memory % PAGE == 0)
        assert spec.cpus is None or (math.isfinite(spec.cpus) and spec.cpus > 0)
        assert all(m.source.startswith("/") and m.target.startswith("/") for m in spec.mounts)
        json.dumps(dataclasses.asdict(spec), sort_keys=True, ensure_ascii=False).encode("utf-8")
        results.append("ok")
    if results == ["ok", "refused"]:
        raise AssertionError("accepted with image required but refused without")
    return results[0]


def _check_problems(exc: SpecError) -> None:
    assert exc.problems, "a SpecError without problems"
    for problem in exc.problems:
        assert isinstance(problem, str) and problem.startswith(NAME), problem
        assert "\n" not in problem and "\r" not in problem, problem
    assert exc.lines()[: len(exc.problems)] == exc.problems


# --- hostile values -------------------------------------------------------------------

HOSTILE_STRINGS = [
    "",
    " ",
    "with spaces",
    "'single'",
    '"double"',
    "line1\nline2",
    "tab\there",
    "$(rm -rf ~)",
    "`id`",
    "; shutdown -h now",
    "--privileged",
    "-v/:/host",
    "--volume=/:/host",
    "ünïcødé 🐍",
    "\u202eevil",
    "\u2028",
    "a\x00b",
    "\ud800",
    "~",
    "/",
    "//",
    "/proc/1",
    "../../../../..",
    "a:b:c",
    "a,b",
    "x" * 500,
    "1e400",
    "9" * 400 + "g",
    "0.0000001m",
    "6m",
    "512M",
    "ALL",
    "cap_sys_admin",
    "1000:1000",
    "null",
    "yes",
]
HOSTILE_NUMBERS = [0, -1, 1, 2**31, 2**63, 2**64, -(2**70), 10**100, 0.5, -0.0, 1e308, 1e-308,
                   float("inf"), float("-inf"), float("nan")]

hostile_scalar = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.sampled_from(HOSTILE_NUMBERS),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
    st.integers(),
    st.floats(),
)
junk = st.recursive(hostile_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), inner, max_size=3),
), max_leaves=8)
hostile_mount = st.one_of(
    st.fixed_dictionaries(
        {"source": hostile_scalar, "target": hostile_scalar},
        optional={"read_only": st.one_of(st.booleans(), hostile_scalar), "force": st.one_of(st.booleans(), junk)},
    ),
    junk,
)
hostile_doc = st.fixed_dictionaries(
    {},
    optional={
        **{field: st.one_of(hostile_scalar, junk) for field in FIELDS},
        "image": st.one_of(st.just("alpine:latest"), hostile_scalar),
        "setup": st.one_of(st.lists(hostile_scalar, max_size=4), junk),
        "env": st.one_of(st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(["A", "1X", "A B", "A=B"])),
                                         hostile_scalar, max_size=4), junk),
        "mounts": st.one_of(st.lists(hostile_mount, max_size=3), junk),
        "cap_drop": st.lists(hostile_scalar, max_size=3),
    },
)


def as_yaml(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def as_json(doc, ascii_only: bool) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=ascii_only)


@fuzz(80)
@given(doc=hostile_doc, form=st.sampled_from(["yaml", "json", "json-ascii"]))
@example(doc={"image": "alpine", "memory": "lots"}, form="yaml")
@example(doc={"image": "--volume=/:/host", "user": "--privileged", "setup": ["$(id)", "--", "a\nb"]}, form="json")
@example(doc={"image": "a", "memory": "9" * 400 + "g", "cpus": float("nan")}, form="yaml")
@example(doc={"image": "a", "mounts": [{"source": "a\x00", "target": "/x\n"}]}, form="json-ascii")
@example(doc={"image": "a", "env": {"SNAKE": "🐍"}}, form="json-ascii")
def test_hostile_values(doc, form):
    if form == "yaml":
        text = as_yaml(doc)
    else:
        try:
            text = as_json(doc, ascii_only=form == "json-ascii")
        except ValueError:  # JSON has no NaN/Infinity; json.dumps writes them anyway
            text = as_yaml(doc)
    result = outcome(text)
    if doc.get("image") == "alpine:latest" and set(doc) == {"image"}:
        assert result == "ok"


def test_the_acceptance_example_is_refused_in_place():
    try:
        load = load_document(NAME, "image: alpine\nmemory: lots\n", display_name=NAME)
        validate_document(*load, NAME)
    except SpecError as exc:
        assert exc.problems[0].startswith("sandbox.yaml:2:") and "memory" in exc.problems[0]
    else:
        raise AssertionError("memory: lots was accepted")


# --- random JSON-like documents -------------------------------------------------------------

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=15))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text(max_size=10), inner, max_size=4),
), max_leaves=12)
json_doc = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), json_value, max_size=6)


@fuzz(60)
@given(doc=json_doc, ascii_only=st.booleans())
def test_random_json_documents(doc, ascii_only):
    text = as_json(doc, ascii_only)
    loaded, _ = load_document("config.json", text, display_name="config.json")
    assert loaded == doc  # JSON reads back exactly, through the YAML loader
    outcome(text)
    outcome(as_yaml(doc))


# --- random YAML-ish text --------------------------------------------------------------------

FRAGMENTS = FIELDS + [
    ": ", ":", "\n", "\n  ", "\n    ", "- ", "-", "[", "]", "{", "}", ", ", "'", '"', "#", " # c", "&a ", "*a",
    "<<: ", "!!str ", "!!int ", "!!binary ", "!!set ", "!custom ", "? ", "|", ">", "---\n", "...\n", "~", "null",
    "yes", "1e5", "0x1F", "2024-01-01", "512m", "1m", "/", "~/", "/workspace", "source", "target", "force",
    "true", "\t", "\\0", "\\ud800", "%YAML 1.1\n", "@", "`", "$(id)", "--", "é", "🐍", "\x85", "\ufeff", "\x01",
]
yamlish = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join),
    st.text(alphabet=st.sampled_from(list("ab:-[]{},'\"#&*!|>?\n \t~0159.mg/\\")), max_size=60),
)


@fuzz(70)
@given(text=yamlish)
@example(text="image: alpine\nmemory: lots\n")
@example(text="a: &a [*a, *a]\n")
@example(text="image: !!binary aGk=\n")
@example(text="image: 2024-01-01\nsetup: [!!set {a}]\n")
@example(text="<<: {image: alpine}\nmemory: 64m\n")
@example(text="image: a\nmounts: [{source: /, target: /x, force: !!bool yes}]\n")
def test_random_yaml_text(text):
    outcome(text)

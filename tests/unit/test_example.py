"""sandbox.yaml.example: valid, annotated, and its commented-out fields valid too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podman_sandbox.schema.loader import load_document
from podman_sandbox.schema.sizes import parse_size
from podman_sandbox.schema.spec import build_spec
from podman_sandbox.schema.validate import load_schema, validate_document

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "sandbox.yaml.example"


@pytest.fixture
def text():
    return EXAMPLE.read_text(encoding="utf-8")


def test_first_line_points_editors_at_the_schema(text):
    first = text.splitlines()[0]
    assert first == "# yaml-language-server: $schema=./src/podman_sandbox/schema/sandbox.schema.json"
    assert (EXAMPLE.parent / first.split("$schema=", 1)[1]).is_file()


def test_example_validates_and_builds_a_spec(text, tmp_path):
    doc, loc = load_document(str(EXAMPLE), text, display_name="sandbox.yaml.example")
    validate_document(doc, loc, "sandbox.yaml.example")
    spec = build_spec(doc, project_dir=str(tmp_path), source="sandbox.yaml.example", mode="project")
    assert spec.image == "localhost/podman-sandbox/busybox:latest"
    assert spec.memory == parse_size("512m")
    assert spec.auto_commit is False
    assert spec.setup == ("echo ready > /etc/sandbox-ready",)
    assert dict(spec.env)["APP_ENV"] == "test"
    assert spec.project_dir == str(tmp_path)


def test_every_field_is_mentioned_with_a_comment_above_it(text):
    lines = text.splitlines()
    fields = list(load_schema()["properties"])
    field_line = re.compile(rf"^(# )?({'|'.join(fields)}):")
    for field in fields:
        index = next((i for i, line in enumerate(lines) if re.match(rf"^(# )?{field}:", line)), None)
        assert index is not None, f"{field} is not in the example"
        # fields described together (cap_drop, cap_add) share the comment above the first
        while field_line.match(lines[index - 1]):
            index -= 1
        above = lines[index - 1]
        assert above.startswith("# ") and len(above) > 10, f"{field} has no explanation above it"


# build: is the alternative to image: (one of the two), so it is switched on on its own.
ALTERNATIVES = {"build"}


def uncommented(text: str, fields=None) -> str:
    """The example with its optional fields switched on (all but the alternatives)."""
    fields = set(fields or set(load_schema()["properties"]) - ALTERNATIVES)
    out, in_block = [], False
    for line in text.splitlines():
        match = re.match(r"^# (\w+):", line)
        if match and match.group(1) in fields:
            out.append(line[2:])
            in_block = True
        elif in_block and line.startswith("#   "):
            out.append(line[2:])
        else:
            out.append(line)
            in_block = False
    return "\n".join(out) + "\n"


def test_commented_out_fields_are_valid_when_switched_on(text, tmp_path):
    full = uncommented(text)
    doc, loc = load_document(str(EXAMPLE), full, display_name="sandbox.yaml.example")
    assert set(doc) == set(load_schema()["properties"]) - ALTERNATIVES
    validate_document(doc, loc, "sandbox.yaml.example", base_dir=str(tmp_path))
    spec = build_spec(doc, project_dir=str(tmp_path), source="x", mode="project")
    assert spec.cap_drop == ("ALL",)
    assert spec.mounts and spec.mounts[0].target == "/root/.cache/pip" and not spec.mounts[0].read_only


def test_the_build_example_is_valid_in_place_of_image(text, tmp_path):
    full = uncommented(text, {"build"}).replace("\nimage: ", "\n# image: ", 1)
    doc, loc = load_document(str(EXAMPLE), full, display_name="sandbox.yaml.example")
    assert "build" in doc and "image" not in doc
    validate_document(doc, loc, "sandbox.yaml.example", base_dir=str(tmp_path))
    spec = build_spec(doc, project_dir=str(tmp_path), source="x", mode="project")
    assert spec.build.containerfile == str(tmp_path / "Containerfile")
    assert spec.build.args == (("PYTHON_VERSION", "3.12"),)

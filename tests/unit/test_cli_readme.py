"""The README as the front door: its sandbox.yaml reference covers every schema field and
its example is valid; its CI snippets are valid YAML using plan/apply/execute; every
command is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from podman_sandbox.cli.main import COMMANDS
from podman_sandbox.schema.loader import load_document
from podman_sandbox.schema.validate import validate_document

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCHEMA = json.loads((ROOT / "src/podman_sandbox/schema/sandbox.schema.json").read_text())


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_reference_documents_every_field():
    ref = section("sandbox.yaml reference")
    for field in SCHEMA["properties"]:
        assert f"| `{field}` |" in ref, field
    for field in SCHEMA["properties"]["mounts"]["items"]["properties"]:
        assert f"`{field}`" in ref, f"mounts.{field}"


def test_reference_example_is_valid_and_points_editors_at_the_schema(tmp_path):
    ref = section("sandbox.yaml reference")
    example, = [b for b in blocks(ref, "yaml") if b.startswith("# yaml-language-server: $schema=")]
    doc, locator = load_document("sandbox.yaml", example, display_name="sandbox.yaml")
    validate_document(doc, locator, "sandbox.yaml", base_dir=str(tmp_path))
    assert "./src/podman_sandbox/schema/sandbox.schema.json" in ref
    assert (ROOT / "src/podman_sandbox/schema/sandbox.schema.json").is_file()


def test_every_schema_field_has_a_description_and_an_example():
    for name, field in SCHEMA["properties"].items():
        assert field.get("description"), name
        assert field.get("examples"), name


@pytest.mark.parametrize("index, name", [(0, "GitHub Actions"), (1, "GitLab CI")])
def test_ci_snippets_are_valid_yaml_using_plan_apply_execute(index, name):
    snippet = blocks(section("Using it in CI"), "yaml")[index]
    data = yaml.safe_load(snippet)
    assert isinstance(data, dict)
    commands = " ".join(re.findall(r"podman-sandbox [^\n\"]+", snippet))
    for needed in ("plan --exit-code", "apply", "execute"):
        assert f"podman-sandbox {needed}" in commands, (name, needed)


def test_every_command_is_in_the_readme():
    for name in COMMANDS:
        assert re.search(rf"(`|podman-sandbox ){re.escape(name)}\b", README), name


def test_json_doc_is_linked():
    assert "docs/json-output.md" in section("Machine-readable output, completion, verbosity")
    assert (ROOT / "docs/json-output.md").is_file()

"""engine/ownership.py: whose sandbox a container or image is, from its labels."""

from __future__ import annotations

import pytest

from podman_sandbox.engine import images, ownership
from podman_sandbox.engine.labels import LABEL_BASE_ID, LABEL_PROJECT, LABEL_SOURCE, LABEL_SPEC
from podman_sandbox.errors import RefusedError
from podman_sandbox.schema.spec import build_spec


def project(folder: str, **doc):
    return build_spec({"image": "img", **doc}, project_dir=folder, source=f"{folder}/sandbox.yaml",
                      mode="project")


def classic(config: str, cwd: str):
    return build_spec({}, project_dir=cwd, source=f"{config}/podman-sandbox/config.json", mode="classic")


def labels_of(spec) -> dict:
    return {LABEL_PROJECT: spec.project_dir, LABEL_SOURCE: spec.source}


def test_a_project_is_its_folder():
    a, b = project("/p/a"), project("/p/b")
    assert ownership.is_ours(labels_of(a), a)
    assert not ownership.is_ours(labels_of(b), a)
    with pytest.raises(RefusedError) as refused:
        ownership.require("sandbox", "x", labels_of(b), a)
    assert "/p/b" in refused.value.message and "/p/a" in refused.value.message


def test_classic_mode_is_the_config_folder_whatever_the_cwd():
    here, there = classic("/home/u/.config", "/src/one"), classic("/home/u/.config", "/src/two")
    assert ownership.is_ours(labels_of(here), there)  # cd elsewhere: still yours (a remount)
    other = classic("/home/v/.config", "/src/one")
    assert not ownership.is_ours(labels_of(here), other)  # same cwd, another config folder


def test_labels_without_an_owner_are_not_ours():
    assert not ownership.is_ours({}, project("/p/a"))
    assert ownership.is_ours({LABEL_PROJECT: "/p/a"}, project("/p/a"))  # old setup containers


def test_keys_and_tags_carry_the_owner():
    a, b = ownership.owner_hash("/p/a"), ownership.owner_hash("/p/b")
    assert images.setup_key("base", ["sh install.sh"], a) != images.setup_key("base", ["sh install.sh"], b)
    assert images.setup_key("base", [], a).startswith(a + "-")
    assert images.key_owner(images.setup_key("base", [], a)) == a
    assert images.key_owner("ea82099b5bc54802") == ""


def test_legacy_tag_adoption_needs_our_labels_and_keeps_prev():
    spec = project("/p/a")
    repo = images.state_repo(spec.name)
    labels = {**labels_of(spec), LABEL_BASE_ID: "base", LABEL_SPEC: '{"setup": ["x"]}'}
    key = images.setup_key("base", ["x"], ownership.spec_owner_hash(spec))
    assert ownership.adoptable_legacy_tag(f"{repo}:0123456789abcdef", labels, spec, repo) == f"{repo}:{key}"
    assert ownership.adoptable_legacy_tag(f"{repo}:0123456789abcdef-prev", labels, spec, repo) == \
        f"{repo}:{key}-prev"
    assert ownership.adoptable_legacy_tag(f"{repo}:{key}", labels, spec, repo) is None  # already new
    theirs = {**labels, **labels_of(project("/p/b"))}
    assert ownership.adoptable_legacy_tag(f"{repo}:0123456789abcdef", theirs, spec, repo) is None
    assert ownership.adoptable_legacy_tag(f"{repo}:0123456789abcdef", {}, spec, repo) is None

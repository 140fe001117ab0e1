"""Golden argv for every podman template, with hostile values.

Each value a template receives must come out as exactly one argv element,
unchanged, whatever it holds. Every template under engine/templates must
have a case here (a new template without one fails the last test).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from podman_sandbox.engine import render as render_module
from podman_sandbox.engine.render import create_argv, images_argv, render

TEMPLATES = Path(render_module.__file__).parent / "templates"

HOSTILE = [
    "with space",
    "it's \"quoted\"",
    "line one\nline two",
    "$(rm -rf /)",
    "`id`; echo $HOME",
    "--privileged",
    "-v",
    "a;b|c&d>e<f",
    "*?[glob]",
    "tab\there",
    "back\\slash\\",
    "ünïcode ✓",
    "#not a comment",
    "{{ not jinja }}",
]
IDS = [f"h{i}" for i in range(len(HOSTILE))]


def container(h: str) -> dict:
    """A canonical container (desired.canonical's shape) with h in every string value."""
    return {
        "name": h, "image": h, "setup": [h],
        "mounts": [{"source": f"/src/{h}", "target": "/workspace", "read_only": False},
                   {"source": f"/ro/{h}", "target": f"/in/{h}", "read_only": True}],
        "env": {"A": h, "B": "plain"},
        "memory": 67108864, "cpus": 1.5, "pids_limit": 512, "network": "none",
        "read_only": True, "cap_drop": [h], "cap_add": [h], "user": h,
    }


def volumes(h: str) -> list[str]:
    """The --volume values steps.create_command passes (which get z: tests below)."""
    return [f"/src/{h}:/workspace:rw,z", f"/ro/{h}:/in/{h}:ro"]


def golden(h: str) -> dict[str, tuple[dict, list[str]]]:
    """template -> (context, the exact argv expected)."""
    labels = {"io.podman-sandbox.spec": h, "plain": "v"}
    return {
        "create": (
            {"name": h, "labels": labels, "c": container(h), "volumes": volumes(h), "image": h,
             "userns": [h], "start": True, "cap_drops": [h]},
            ["podman", "run", "--detach", "--name", h,
             "--label", f"io.podman-sandbox.spec={h}", "--label", "plain=v",
             "--init", "--security-opt", "no-new-privileges",
             "--pids-limit", "512",
             "--memory", "67108864b", "--memory-swap", "67108864b",
             "--cpus", "1.5", "--network", "none", "--read-only", "--read-only-tmpfs",
             "--cap-drop", h, "--cap-add", h, "--user", h, h,
             "--env", f"A={h}", "--env", "B=plain",
             "--volume", f"/src/{h}:/workspace:rw,z", "--volume", f"/ro/{h}:/in/{h}:ro",
             "--workdir", "/workspace", "--entrypoint", "/run/podman-init", h, "-P"]),
        "setup_create": (
            {"name": h, "labels": labels, "image": h, "userns": [h],
             "volumes": [f"/p/{h}:/workspace:rw,z", f"/c/{h}:/ca:ro"], "cap_drops": [h],
             "limits": {"pids_limit": 64, "memory": 67108864, "cpus": 1.5, "env": {"E": h}}},
            ["podman", "run", "--detach", "--name", h,
             "--label", f"io.podman-sandbox.spec={h}", "--label", "plain=v",
             "--init", "--security-opt", "no-new-privileges", "--cap-drop", h,
             "--pids-limit", "64",
             "--memory", "67108864b", "--memory-swap", "67108864b", "--cpus", "1.5", h,
             "--env", f"E={h}",
             "--volume", f"/p/{h}:/workspace:rw,z", "--volume", f"/c/{h}:/ca:ro",
             "--workdir", "/workspace",
             "--entrypoint", "/run/podman-init", h, "-P"]),
        "setup_step": (
            {"name": h, "step": h},
            ["podman", "exec", "--workdir", "/workspace", h, "sh", "-c", "--", h]),
        "commit": (
            {"container": h, "tag": h, "labels": labels},
            ["podman", "commit", "--pause=false",
             "--change", f"LABEL io.podman-sandbox.spec={h}", "--change", "LABEL plain=v", h, h]),
        "diff": ({"name": h, "since": h}, ["podman", "diff", "--format", "json", h, h]),
        "images": ({"reference": h},
                   ["podman", "images", "--format", "json", "--filter", f"reference={h}"]),
        "images_managed": ({"label": h},
                           ["podman", "images", "--format", "json", "--filter", f"label={h}=true"]),
        "inspect": ({"names": [h, h, "x"]}, ["podman", "inspect", h, h, "x"]),
        "logs": ({"name": h, "follow": True, "tail": 5, "since": h, "timestamps": True},
                 ["podman", "logs", "--follow", "--tail", "5", "--since", h, "--timestamps", h]),
        "ps": ({}, ["podman", "ps", "--all", "--format", "json"]),
        "ps_managed": ({"label": h},
                       ["podman", "ps", "--all", "--format", "json", "--filter", f"label={h}=true"]),
        "pull": ({"image": h}, ["podman", "pull", h]),
        "build": ({"containerfile": h, "tag": h, "labels": labels, "args": [("A", h)],
                   "target": h, "context": f"/p/{h}"},
                  ["podman", "build", "--file", h, "--tag", h,
                   "--label", f"io.podman-sandbox.spec={h}", "--label", "plain=v",
                   "--build-arg", f"A={h}", "--target", h, f"/p/{h}"]),
        "remove": ({"name": h}, ["podman", "rm", "--force", "--time", "2", h]),
        "rename": ({"old": h, "new": h + "2"}, ["podman", "rename", h, h + "2"]),
        "rmi": ({"image": h}, ["podman", "rmi", h]),
        "start": ({"name": h}, ["podman", "start", h]),
        "tag": ({"image": h, "tag": h}, ["podman", "tag", h, h]),
        "push": ({"image": h, "destination": h}, ["podman", "push", h, h]),
        "untag": ({"image": h, "tag": h}, ["podman", "untag", h, h]),
        "update": ({"name": h, "memory": 134217728, "cpus": 0.5},
                   ["podman", "update", "--memory", "134217728b", "--memory-swap", "134217728b",
                    "--cpus", "0.5", h]),
    }


@pytest.mark.parametrize("h", HOSTILE, ids=IDS)
@pytest.mark.parametrize("template", sorted(golden("x")))
def test_golden_argv_with_hostile_values(template, h):
    context, expected = golden(h)[template]
    assert render(template, **context) == expected


@pytest.mark.parametrize("h", HOSTILE, ids=IDS)
def test_hostile_value_never_splits_or_merges(h):
    """Independent of the goldens: the value appears whole, as its own element."""
    argv = render("create", name="n", labels={"k": h}, c=container(h), volumes=volumes(h),
                  image="img", userns=[], start=True, cap_drops=[h])
    assert argv.count(h) >= 3  # --cap-drop, --cap-add, --user
    assert f"k={h}" in argv and f"A={h}" in argv
    assert argv[-3:] == ["/run/podman-init", "img", "-P"]


def test_an_empty_value_stays_one_empty_argument():
    assert render("rmi", image="") == ["podman", "rmi", ""]
    assert render("setup_step", name="n", step="") == [
        "podman", "exec", "--workdir", "/workspace", "n", "sh", "-c", "--", ""]
    argv = render("create", name="n", labels={"k": ""}, c=container("x") | {"env": {"E": ""}},
                  volumes=[], image="img", userns=[], start=True, cap_drops=[])
    assert "k=" in argv and "E=" in argv


def test_every_template_has_a_golden_case():
    present = {p.name[:-len(".j2")] for p in TEMPLATES.glob("*.j2")}
    assert present == set(golden("x"))


def test_a_missing_variable_is_an_error_not_an_empty_argument():
    with pytest.raises(jinja2.UndefinedError):
        render("start")


def test_none_never_reaches_an_argument():
    with pytest.raises(ValueError, match="None reached a podman template"):
        render("start", name=None)


def test_optional_parts_are_left_out():
    c = container("x")
    c.update(memory=None, cpus=None, network="bridge", read_only=False, cap_drop=[], cap_add=[],
             user=None, pids_limit=0, env={}, mounts=[])
    # start=False: created only (state.compact commits it without running anything).
    assert render("create", name="n", labels={}, c=c, volumes=[], image="img", userns=[],
                  start=False, cap_drops=[]) == [
        "podman", "create", "--name", "n", "--init", "--security-opt", "no-new-privileges",
        "--pids-limit", "-1", "--workdir", "/workspace", "--entrypoint", "/run/podman-init", "img", "-P"]
    assert render("diff", name="n", since=None) == ["podman", "diff", "--format", "json", "n"]
    assert render("logs", name="n", follow=False, tail=None, since=None, timestamps=False) == [
        "podman", "logs", "n"]


def _create_variants(h: str) -> list[dict]:
    """create contexts: the golden one, every optional part left out, and the rest on."""
    golden_ctx = golden(h)["create"][0]
    bare = container(h) | {"memory": None, "cpus": None, "network": "bridge", "read_only": False,
                           "cap_add": [], "user": None, "pids_limit": 0, "env": {}}
    return [golden_ctx,
            golden_ctx | {"start": False, "disk": "1073741824"},
            golden_ctx | {"c": container(h) | {"selinux_label": "disable"}, "disk": h},
            golden_ctx | {"c": bare, "userns": [], "cap_drops": [], "labels": {}, "volumes": []},
            golden_ctx | {"c": container(h) | {"cpus": 2, "memory": 6 * 1024**3}, "userns": [h, h]}]


@pytest.mark.parametrize("h", HOSTILE + ["", "x"], ids=IDS + ["empty", "x"])
def test_the_jinja_free_twins_are_what_the_templates_render(h):
    """engine/render.py's create_argv and images_argv serve a first execute without Jinja:
    they must give exactly the argv of create.j2 and images.j2."""
    for context in _create_variants(h):
        assert create_argv(**context) == render("create", **context), context
    assert images_argv(h) == render("images", reference=h)


def test_the_twins_refuse_none_as_the_templates_do():
    context = golden("x")["create"][0] | {"image": None}
    with pytest.raises(ValueError, match="None reached a podman template"):
        render("create", **context)
    with pytest.raises(ValueError, match="None reached a podman template"):
        create_argv(**context)

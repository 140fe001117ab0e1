"""lite.py: the stand-ins give the standard library's answers, and which() never runs
a program from a relative PATH entry (the current folder is usually the project)."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from podman_sandbox import lite


def test_sha256_is_hashlibs():
    assert lite.sha256(b"podman-sandbox").hexdigest() == hashlib.sha256(b"podman-sandbox").hexdigest()


@pytest.fixture
def dropped(tmp_path, monkeypatch):
    """A `podman` the sandbox dropped in the project folder, where we are."""
    fake = tmp_path / "podman"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    return fake


@pytest.mark.parametrize("path", ["", ":", ".", "bin:.", "./"])
def test_a_relative_or_empty_path_entry_finds_nothing(dropped, monkeypatch, path):
    monkeypatch.setenv("PATH", path)
    assert lite.which("podman") is None


def test_an_absolute_entry_is_found_as_shutil_finds_it(dropped, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"/nonexistent:{tmp_path}")
    assert lite.which("podman") == shutil.which("podman") == str(dropped)
    assert lite.which("sh-that-is-not-there") is None


def test_a_name_with_a_slash_is_that_file(dropped):
    assert lite.which(str(dropped)) == str(dropped)
    assert lite.which(str(dropped) + "-missing") is None

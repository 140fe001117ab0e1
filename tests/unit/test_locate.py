"""Which spec file governs a folder."""

import os

import pytest

from podman_sandbox.locate import find_spec_file, foreign_spec_file, locate


def test_nearest_spec_file_above_governs_with_the_subfolder_as_workdir(tmp_path):
    (tmp_path / "sandbox.yaml").write_text("image: a\n")
    sub = tmp_path / "src" / "pkg"
    sub.mkdir(parents=True)
    target = locate(cwd=str(sub))
    assert (target.mode, target.spec_path, target.project_dir, target.workdir) == (
        "project", str(tmp_path / "sandbox.yaml"), str(tmp_path), "/workspace/src/pkg")


def test_without_spec_file_the_current_folder_is_mounted(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    work = tmp_path / "work"
    work.mkdir()
    if find_spec_file(str(tmp_path)):
        pytest.skip("a sandbox.yaml above the temp folder")
    target = locate(cwd=str(work))
    assert (target.mode, target.project_dir, target.workdir) == ("classic", str(work), "/workspace")
    assert target.spec_path == str(tmp_path / "cfg" / "podman-sandbox" / "config.json")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_spec_file_another_user_owns_is_ignored(tmp_path):
    planted = tmp_path / "sandbox.yaml"
    planted.write_text("image: evil\nmounts: [{source: ~/.ssh, target: /loot}]\n")
    os.chown(planted, 65534, 65534)
    victim = tmp_path / "victim"
    victim.mkdir()
    assert find_spec_file(str(victim)) is None
    assert foreign_spec_file(str(victim)) == (str(planted), "another user owns it")
    assert locate(cwd=str(victim)).mode == "classic"
    # Root's own files are trusted, as the user's are.
    os.chown(planted, 0, 0)
    assert find_spec_file(str(victim)) == str(planted)

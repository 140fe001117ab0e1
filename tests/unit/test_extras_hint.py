"""The hint for a missing extra installs it where podman-sandbox runs (extras.py)."""

from __future__ import annotations

from podman_sandbox.extras import extra_requirements, install_hint

REQUIRES = [
    "click>=8.1",
    'mcp>=1.10; python_version >= "3.10" and extra == "mcp"',
    'pytest>=7; extra == "test"',
    'mcp>=1.10; python_version >= "3.10" and extra == "test"',
    'kubernetes>=29; extra == "kube"',
    'kubernetes>=29; extra == "kube-test"',
    'kubernetes-validate>=1.30; extra == "kube-test"',
]


def test_the_requirements_of_one_extra_only():
    assert extra_requirements("mcp", REQUIRES) == ["mcp>=1.10"]
    assert extra_requirements("kube", REQUIRES) == ["kubernetes>=29"]  # not kube-test's
    assert extra_requirements("kube-test", REQUIRES) == ["kubernetes>=29", "kubernetes-validate>=1.30"]


def test_no_metadata_names_the_extra():
    assert extra_requirements("mcp", []) == ["mcp"]
    assert extra_requirements("mcp", None) == ["mcp"]


def test_a_pipx_install_is_told_to_inject():
    for prefix in ("/home/me/.local/pipx/venvs/podman-sandbox",
                   "/home/me/.local/share/pipx/venvs/podman-sandbox/"):
        hint = install_hint("mcp", prefix=prefix, executable=prefix + "/bin/python",
                            requires=REQUIRES)
        assert hint == "pipx inject podman-sandbox 'mcp>=1.10'"


def test_a_virtualenv_is_told_to_use_its_own_pip():
    hint = install_hint("kube", prefix="/opt/my env", executable="/opt/my env/bin/python3",
                        requires=REQUIRES)
    assert hint == "'/opt/my env/bin/python3' -m pip install 'kubernetes>=29'"


def test_never_the_package_index_name():
    # podman-sandbox is not on PyPI: `pip install 'podman-sandbox[mcp]'` cannot work.
    for prefix in ("/usr", "/x/pipx/venvs/podman-sandbox"):
        assert "podman-sandbox[" not in install_hint("mcp", prefix=prefix, executable="/usr/bin/python3",
                                                     requires=REQUIRES)


def test_the_installed_metadata_is_read():
    # This checkout is installed (editable or not): its pyproject's mcp requirement shows.
    assert "mcp" in install_hint("mcp")
    assert "-m pip install" in install_hint("mcp", prefix="/venv", executable="/venv/bin/python")

"""The fast-path record is keyed by the spec file's bytes as they were loaded.

An edit that lands while the spec is being read (an editor saving, a git pull) must
leave no record under either key: the record would otherwise vouch for a spec
that was never the one loaded, and `execute` would skip a converge it needs.
"""

from __future__ import annotations

from fake_runner import make_project
from podman_sandbox.app import App
from podman_sandbox.schema import source

SPEC = "image: localhost/x/y:1\nname: keyed\n"


def test_the_key_is_that_of_the_loaded_bytes(tmp_path, monkeypatch):
    make_project(tmp_path, monkeypatch, spec=SPEC)
    app = App()
    assert app.spec.name == "keyed"
    assert app.record_key() is not None
    assert app.record_key() == app.record_key_now()


def test_a_spec_edited_while_loading_has_no_record_key(tmp_path, monkeypatch):
    project = make_project(tmp_path, monkeypatch, spec=SPEC)
    read_document = source.read_document
    before = []

    def edited_meanwhile(path, **kwargs):
        doc = read_document(path, **kwargs)
        before.append(App().record_key_now())
        (project / "sandbox.yaml").write_text(SPEC + "memory: 64m\n")  # saved mid-load
        return doc

    monkeypatch.setattr(source, "read_document", edited_meanwhile)
    app = App()
    assert app.spec.memory is None  # what was loaded: the file before the edit
    assert app.record_key_now() != before[0]  # the edit changed the key
    assert app.record_key() is None  # so no record is written for either

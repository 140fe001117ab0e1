"""inputs: the gitignore-style matcher, which files a set of inputs names, the content
digest (a touch changes nothing, an edit or chmod does; unchanged files are not read
again), the stat signature the fast path compares, derived-path filtering, and the
spec fields' validation."""

from __future__ import annotations

import os
import time

import pytest

from podman_sandbox import patterns
from podman_sandbox.engine import derived, inputdigest, inputs
from podman_sandbox.errors import SpecError
from podman_sandbox.schema.validate import validate_document


def rules(*lines, anchored=False):
    return patterns.parse_lines(lines, anchored=anchored)


@pytest.mark.parametrize("pattern, path, is_dir, expected", [
    ("*.pyc", "a/b/c.pyc", False, True),
    ("*.pyc", "a/b/c.py", False, False),
    ("__pycache__", "usr/lib/x/__pycache__/m.pyc", False, True),
    ("/tmp", "tmp/x/y", False, True),
    ("/tmp", "var/tmp", False, False),
    ("build/", "build", False, False),  # folders only
    ("build/", "build", True, True),
    ("docs/*.md", "docs/a.md", False, True),
    ("docs/*.md", "docs/sub/a.md", False, False),  # * never crosses a /
    ("docs/**/*.md", "docs/sub/deeper/a.md", False, True),
    ("req[0-9].txt", "req3.txt", False, True),
    ("req[!0-9].txt", "req3.txt", False, False),
    ("/home/*/.cache", "home/bob/.cache/pip/x", False, True),
    ("a?c", "abc", False, True),
    ("a?c", "a/c", False, False),
])
def test_the_matcher_follows_gitignore(pattern, path, is_dir, expected):
    assert patterns.excluded(rules(pattern), path, is_dir) is expected


def test_the_last_matching_line_wins_and_a_negation_re_includes():
    found = rules("*.txt", "!keep.txt")
    assert patterns.excluded(found, "drop.txt")
    assert not patterns.excluded(found, "keep.txt")
    # A file in an excluded folder cannot be re-included (as in git).
    assert patterns.excluded(rules("out/", "!out/keep.txt"), "out/keep.txt")


def test_anchored_rules_root_every_line_as_containerignore_does():
    assert patterns.excluded(rules("notes.txt", anchored=True), "notes.txt")
    assert not patterns.excluded(rules("notes.txt", anchored=True), "sub/notes.txt")
    assert patterns.excluded(rules("notes.txt"), "sub/notes.txt")


def _tree(root, files: dict):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _rels(root, includes):
    return [e.rel for e in inputs.select(str(root), includes)[0]]


def test_select_takes_globs_folders_and_excludes(tmp_path):
    _tree(tmp_path, {"requirements.txt": "a", "requirements/dev.txt": "b",
                     "requirements/local.txt": "c", "src/pkg/m.py": "d",
                     "src/pkg/__pycache__/m.pyc": "e", "src/build/x": "f", ".git/HEAD": "g",
                     "other.txt": "h"})
    (tmp_path / ".gitignore").write_text("__pycache__/\nbuild/\n")
    assert _rels(tmp_path, ["requirements.txt"]) == ["requirements.txt"]
    assert _rels(tmp_path, ["requirements/*.txt", "!requirements/local.txt"]) == ["requirements/dev.txt"]
    assert _rels(tmp_path, ["src/"]) == ["src/pkg/m.py"]
    assert _rels(tmp_path, ["**/*.txt"]) == ["other.txt", "requirements.txt", "requirements/dev.txt",
                                            "requirements/local.txt"]
    assert ".git/HEAD" not in _rels(tmp_path, [""])


def test_a_named_file_that_is_missing_is_an_entry_so_creating_it_is_a_change(tmp_path):
    (tmp_path / "p").mkdir()
    before = inputs.signature(str(tmp_path / "p"), ["requirements.txt"])
    assert [e.kind for e in inputs.select(str(tmp_path / "p"), ["requirements.txt"])[0]] == ["m"]
    (tmp_path / "p" / "requirements.txt").write_text("x")
    assert inputs.signature(str(tmp_path / "p"), ["requirements.txt"]) != before


def test_symlinks_are_never_followed_and_one_leading_out_is_refused(tmp_path):
    project = tmp_path / "project"
    _tree(project, {"real.txt": "inside"})
    (tmp_path / "secret").write_text("outside")
    os.symlink("real.txt", project / "link.txt")
    found = inputs.select(str(project), ["link.txt"])[0]
    assert [(e.rel, e.kind) for e in found] == [("link.txt", "l")]
    os.symlink(str(tmp_path / "secret"), project / "out.txt")
    with pytest.raises(inputs.InputError, match="outside the project folder"):
        inputs.select(str(project), ["out.txt"])
    os.symlink(str(tmp_path), project / "up")  # a folder link on the way: not walked
    with pytest.raises(inputs.InputError, match="outside"):
        inputs.select(str(project), ["up/secret"])
    with pytest.raises(inputs.InputError, match="outside"):
        inputs.select(str(project), ["**/*"])


def test_a_fifo_is_noted_never_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    found = inputdigest.digest(str(tmp_path), ["pipe"], cache_name="t")  # would block if opened
    assert found.files["pipe"].startswith("o")


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    home = tmp_path / "cache"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def test_a_touch_keeps_the_digest_an_edit_or_chmod_changes_it(tmp_path, cache_home):
    project = tmp_path / "p"
    _tree(project, {"requirements.txt": "attrs\n"})
    reqs = project / "requirements.txt"
    first = inputdigest.digest(str(project), ["requirements.txt"], cache_name="p")
    later = time.time() + 30
    os.utime(reqs, (later, later))
    touched = inputdigest.digest(str(project), ["requirements.txt"], cache_name="p")
    assert touched.digest == first.digest and touched.signature != first.signature
    reqs.chmod(0o755)
    assert inputdigest.digest(str(project), ["requirements.txt"], cache_name="p").digest != first.digest
    reqs.chmod(0o644)
    reqs.write_text("attrs\npytest\n")
    edited = inputdigest.digest(str(project), ["requirements.txt"], cache_name="p")
    assert edited.digest != first.digest
    assert inputdigest.changed_files("p", first.digest, edited.digest) == ["requirements.txt"]


def test_unchanged_files_are_not_read_again_and_fresh_ones_are(tmp_path, cache_home, monkeypatch):
    project = tmp_path / "p"
    _tree(project, {"a.txt": "a", "b.txt": "b"})
    read = []
    real = inputdigest._hash_file
    monkeypatch.setattr(inputdigest, "_hash_file", lambda path, st: read.append(path) or real(path, st))
    # Written less than RACY_SECONDS ago (the files here are): never cached, read each time.
    inputdigest.digest(str(project), ["*.txt"], cache_name="p")
    inputdigest.digest(str(project), ["*.txt"], cache_name="p")
    assert len(read) == 4
    monkeypatch.setattr(inputdigest, "RACY_SECONDS", 0)  # as if they were older
    inputdigest.digest(str(project), ["*.txt"], cache_name="p")
    read.clear()
    (project / "b.txt").write_text("B")
    inputdigest.digest(str(project), ["*.txt"], cache_name="p")
    assert [os.path.basename(p) for p in read] == ["b.txt"]


def test_a_cache_another_user_could_write_is_never_trusted(tmp_path, cache_home, monkeypatch):
    project = tmp_path / "p"
    _tree(project, {"a.txt": "a"})
    monkeypatch.setattr(inputdigest, "RACY_SECONDS", 0)
    good = inputdigest.digest(str(project), ["a.txt"], cache_name="p")
    (cached,) = (cache_home / "podman-sandbox" / "inputs").iterdir()
    # Plant a stale hash for the same stat data, in a file others may write.
    cached.write_text(cached.read_text().replace(good.files["a.txt"], "f644:" + "0" * 64))
    cached.chmod(0o666)
    assert inputdigest.digest(str(project), ["a.txt"], cache_name="p").digest == good.digest


def test_the_watch_signature_sees_an_edit_of_the_same_size(tmp_path):
    project = tmp_path / "p"
    _tree(project, {"requirements.txt": "one\n"})
    text = inputs.watch_text([(str(project), ("requirements.txt",), str(project), ".gitignore", False)])
    before = inputs.watch_signature(text)
    assert inputs.watch_signature(text) == before
    (project / "requirements.txt").write_text("two\n")
    assert inputs.watch_signature(text) != before


def test_derived_paths_are_filtered_from_work():
    class Spec:
        ignore_changes = ("/opt/cache",)
    found = derived.work(["/usr/lib/python3/x/__pycache__/m.cpython-311.pyc", "/tmp/t",
                          "/root/.cache/pip/w", "/var/cache/apk/i", "/opt/cache/o", "/opt/work/f",
                          "/home/bob/.cache/x", "/usr/local/bin/tool"], derived.rules(Spec()))
    assert found == ["/opt/work/f", "/usr/local/bin/tool"]


@pytest.mark.parametrize("entry, message", [
    ("../secrets", "goes above the project folder"),
    ("/etc/passwd", "is absolute"),
    ("~/x", "is absolute"),
    ("a\nb", "write a path or glob under the project, on one line"),
])
def test_inputs_that_escape_are_spec_errors(entry, message):
    with pytest.raises(SpecError) as err:
        validate_document({"image": "x", "setup": ["true"], "inputs": [entry]}, None, "sandbox.yaml")
    assert any(f"inputs[0]: {message}" in p for p in err.value.problems), err.value.problems


def test_build_or_image_exactly_one():
    validate_document({"build": "Containerfile"}, None, "sandbox.yaml", base_dir="/p")
    with pytest.raises(SpecError, match="required field is missing"):
        validate_document({"setup": ["true"]}, None, "sandbox.yaml")
    with pytest.raises(SpecError, match="not both"):
        validate_document({"image": "x", "build": "Containerfile"}, None, "sandbox.yaml")
    with pytest.raises(SpecError, match="inside the project folder"):
        validate_document({"build": {"context": "../up"}}, None, "sandbox.yaml")


def test_a_record_is_not_served_once_an_input_changed(tmp_path, monkeypatch):
    """The fast path's record notes the inputs' stat signature: an edit of an input (which
    the spec file's bytes, the record's key, do not show) makes lookup find nothing."""
    import subprocess
    import sys

    from podman_sandbox.engine import record

    for var in ("XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        (tmp_path / var).mkdir(mode=0o700)
        monkeypatch.setenv(var, str(tmp_path / var))
    project = tmp_path / "p"
    _tree(project, {"requirements.txt": "one\n"})
    sets = [(str(project), ("requirements.txt",), str(project), ".gitignore", False)]
    watch = inputs.watch_text(sets)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for _ in range(100):
            if record.process_start_time(sleeper.pid):
                break
            time.sleep(0.01)
        record.write("k" * 64, container="c", container_id="id", pid=sleeper.pid, spec_hash="h",
                     memory=None, watch=watch, watchsig=inputs.watch_signature(watch))
        assert record.lookup("k" * 64) is not None
        (project / "requirements.txt").write_text("two\n")
        assert record.lookup("k" * 64) is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_checking_inputs_on_the_fast_path_imports_nothing_costly(tmp_path):
    import json
    import subprocess
    import sys

    from test_hot_path_imports import COSTLY_STDLIB

    _tree(tmp_path, {"requirements.txt": "x", "src/a.py": "y"})
    probe = ("import sys\nbefore = set(sys.modules)\n"
             "from podman_sandbox.engine import inputs\n"
             f"inputs.watch_signature(inputs.watch_text([({str(tmp_path)!r}, ('requirements.txt', "
             f"'src/'), {str(tmp_path)!r}, '.gitignore', False)]))\n"
             "new = sorted(set(sys.modules) - before)\nimport json\nprint(json.dumps(new))\n")
    new = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                    check=True).stdout)
    assert not set(new) & COSTLY_STDLIB, new
    assert {m for m in new if m.startswith("podman_sandbox")} <= {
        "podman_sandbox", "podman_sandbox.engine", "podman_sandbox.engine.inputs",
        "podman_sandbox.patterns", "podman_sandbox.lite"}, new


def test_inputs_without_setup_are_a_spec_error():
    with pytest.raises(SpecError, match="only setup steps read inputs"):
        validate_document({"image": "x", "inputs": ["requirements.txt"]}, None, "sandbox.yaml")


def test_build_needs_a_project_not_the_classic_config(tmp_path):
    from podman_sandbox.schema.source import validate_text

    path = tmp_path / "config.json"
    with pytest.raises(SpecError, match="config.json:1:2: build: needs a project"):
        validate_text(str(path), '{"build": "Containerfile"}', kind="classic", base_dir=str(tmp_path))


def test_folders_nested_without_end_are_refused_not_a_crash(tmp_path):
    deep = tmp_path / "deps"
    path = deep
    for _ in range(inputs.MAX_DEPTH + 2):
        path = path / "d"
    path.mkdir(parents=True)
    with pytest.raises(inputs.InputError, match="folders deep"):
        inputs.select(str(tmp_path), ["deps/"])
    with pytest.raises(inputs.InputError, match="folders deep"):
        inputs.select(str(tmp_path), ["**/*.txt"])
    text = inputs.watch_text([(str(tmp_path), ("deps/",), str(tmp_path), ".gitignore", False)])
    assert inputs.watch_signature(text) is None  # the fast path hands over to the full path


@pytest.mark.parametrize("line, refused", [
    ("RUN --network=host apt-get update", "--network=host"),
    ("run --security=insecure make", "--security=insecure"),
    ("RUN --mount=type=cache,target=/root/.cache pip install .", "type=cache"),
    ("RUN --mount=type=bind,source=.,target=/src,rw make", "writable bind"),
    ("RUN --mount=type=bind,source=.,target=/src make", None),
    ("RUN --network=none make", None),
    ("RUN echo --network=host", None),  # an argument of the command, not a RUN option
    ("COPY --chown=1 . /src", None),
])
def test_run_options_that_widen_a_build_are_refused(line, refused):
    from podman_sandbox.engine.build import refused_run

    found = refused_run(f"FROM x\n{line}\n")
    assert (found is None) if refused is None else (refused in found and "line 2" in found), found


def test_a_missing_containerfile_is_a_spec_error(tmp_path):
    from podman_sandbox.engine import build
    from podman_sandbox.schema.spec import build_spec

    spec = build_spec({"build": "Containerfile"}, project_dir=str(tmp_path),
                      source=str(tmp_path / "sandbox.yaml"), mode="project")
    with pytest.raises(SpecError, match="no Containerfile at"):
        build.context(spec)


def test_the_build_tag_follows_the_context_minus_dockerignore(tmp_path, cache_home):
    project = tmp_path / "p"
    from podman_sandbox.engine import build
    from podman_sandbox.schema.spec import build_spec

    _tree(project, {"Containerfile": "FROM localhost/x\nCOPY . /src\n", "app.py": "1",
                     "notes/todo.txt": "a", ".dockerignore": "notes\n"})
    spec = build_spec({"build": {"args": {"A": "one two"}}}, project_dir=str(project),
                      source=str(project / "sandbox.yaml"), mode="project")
    first = build.context(spec).tag
    assert first.startswith("localhost/podman-sandbox-build:") and build.context(spec).tag == first
    (project / "notes" / "todo.txt").write_text("b")  # excluded by .dockerignore
    assert build.context(spec).tag == first
    (project / "app.py").write_text("2")
    second = build.context(spec).tag
    assert second != first
    assert "app.py changed" in build.reason(spec, build.context(spec), first)
    other = build_spec({"build": {"args": {"A": "three"}}}, project_dir=str(project),
                       source=str(project / "sandbox.yaml"), mode="project")
    assert build.context(other).tag != second  # args are part of the key

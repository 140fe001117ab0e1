"""Load the Spec that governs a Target: sandbox.yaml in a project, config.json elsewhere.

Validation (pyyaml + jsonschema) is the slow part of start-up, so the
validated document is cached under the cache folder, keyed by the file's
bytes: an unchanged file is never parsed or validated twice. The cache is
trusted only as a private file (private.py) that names its own key, so no
other user can plant or rewrite a validated document, nor rename one of ours
into the place of another.
"""

from __future__ import annotations

import json
import os

from podman_sandbox import __version__, paths, private
from podman_sandbox.errors import SpecError
from podman_sandbox.lite import sha256
from podman_sandbox.locate import Target
from podman_sandbox.specfile import SpecFileError, read_spec_file

TYPE_CHECKING = False  # typing's import costs milliseconds; mypy sees True
if TYPE_CHECKING:  # pragma: no cover - types only
    from podman_sandbox.schema.spec import Spec


def display_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


# The original tool's config.json called the memory limit "memory_limit".
LEGACY_KEYS = {"memory_limit": "memory"}


def _cache_key(content: bytes, path: str, kind: str, base_dir: str) -> str:
    return sha256(f"{__version__}\0{kind}\0{path}\0{base_dir}\0".encode() + content).hexdigest()


def _cache_dir() -> str:
    return os.path.join(paths.cache_dir(), "specs")


def read_spec_bytes(path: str) -> bytes | None:
    """The bytes of a spec file (read_spec_file); None: no such file. SpecError, one line
    naming the file, for anything that cannot be read."""
    try:
        return read_spec_file(path)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise SpecError([f"{path} is a folder: name the spec file itself (-f path/to/sandbox.yaml)"]) from None
    except SpecFileError as exc:
        raise SpecError([f"{display_path(path)}: {exc.strerror}"]) from None
    except OSError as exc:
        raise SpecError([f"{display_path(path)}: cannot read: {exc.strerror}"]) from None


def _cached(key: str) -> dict | None:
    try:
        folder = private.private_dir(_cache_dir(), top=paths.cache_dir())
        entry = json.loads(private.read_private(os.path.join(folder, key[:32] + ".json")))
    except (OSError, ValueError):
        return None  # missing, or not a file of ours: validate again
    if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("doc"), dict):
        return None
    return entry["doc"]


def _store(key: str, doc: dict) -> None:
    try:
        folder = private.private_dir(_cache_dir(), top=paths.cache_dir())
        private.write_private(os.path.join(folder, key[:32] + ".json"),
                              json.dumps({"key": key, "doc": doc}).encode("utf-8"))
    except (OSError, ValueError):
        pass  # a cache we cannot write only costs speed


def read_document(path: str, *, kind: str, base_dir: str) -> dict:
    """The validated document in path (kind: "project" or "classic").

    base_dir: where relative mount sources start (the project folder).
    """
    content = read_spec_bytes(path)
    if content is None:
        if kind == "classic":
            return {}
        raise SpecError([f"{display_path(path)}: no such file"])
    if kind == "classic":
        check_user_config(path)
    key = _cache_key(content, path, kind, base_dir)
    doc = _cached(key)
    if doc is not None:
        return doc
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([f"{display_path(path)}: not UTF-8 text (byte {exc.start})"]) from None
    doc = validate_text(path, text, kind=kind, base_dir=base_dir)
    _store(key, doc)
    return doc


def check_user_config(path: str) -> None:
    """The user's config.json chooses what a classic sandbox mounts: trusted only when
    neither it nor a folder above it can be changed by another user."""
    try:
        st = os.stat(path)
        for folder in {os.path.dirname(path), os.path.dirname(os.path.realpath(path))}:
            private.check_chain(folder)
        if not private.trusted_owner(st.st_uid):
            raise private.UnsafePathError(f"{path} belongs to another user (uid {st.st_uid})")
        if private.others_can_write(st):
            raise private.UnsafePathError(f"{path} is writable by other users")
    except private.UnsafePathError as exc:
        raise SpecError([f"{exc}: another user could choose your sandbox's settings"],
                        hint=f"make it and its folder yours alone (chmod go-w), or remove {path}") from None
    except OSError as exc:
        raise SpecError([f"{display_path(path)}: cannot read: {exc.strerror}"]) from None


def validate_text(path: str, text: str, *, kind: str, base_dir: str) -> dict:
    from podman_sandbox.schema.loader import load_document
    from podman_sandbox.schema.validate import validate_document

    name = display_path(path)
    doc, locator = load_document(path, text=text, display_name=name)
    if kind == "classic":
        for old, new in LEGACY_KEYS.items():
            if old in doc and new in doc:
                line, col = locator.key_position((old,))
                raise SpecError([f"{name}:{line}:{col}: {old}: the old name of {new!r}; "
                                 f"keep one of them"])
            if old in doc:
                doc[new] = doc.pop(old)
                locator.rename_key(old, new)
    validate_document(doc, locator, name, require_image=(kind == "project"), base_dir=base_dir)
    if kind == "classic" and "build" in doc:
        line, col = locator.key_position(("build",))
        raise SpecError([f"{name}:{line}:{col}: build: needs a project (a sandbox.yaml next to "
                         "the Containerfile); the user's config.json names an image"])
    return doc


def load_spec(target: Target) -> Spec:
    from podman_sandbox.schema.spec import build_spec  # its dataclasses cost ~15 ms to import

    doc = read_document(target.spec_path, kind=target.mode, base_dir=target.project_dir)
    return build_spec(doc, project_dir=target.project_dir, source=target.spec_path, mode=target.mode)

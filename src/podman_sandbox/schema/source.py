"""Load the Spec that governs a Target: sandbox.yaml in a project, config.json elsewhere.

Validation (pyyaml + jsonschema) is the slow part of start-up, so the
validated document is cached under the cache folder, keyed by the file's
bytes: an unchanged file is never parsed or validated twice.
"""

from __future__ import annotations

import hashlib
import json
import os

from podman_sandbox import __version__, paths
from podman_sandbox.errors import SpecError
from podman_sandbox.locate import Target
from podman_sandbox.schema.spec import Spec, build_spec


def display_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


# The original tool's config.json called the memory limit "memory_limit".
LEGACY_KEYS = {"memory_limit": "memory"}


def _cache_path(content: bytes, path: str, kind: str, base_dir: str) -> str:
    h = hashlib.sha256(f"{__version__}\0{kind}\0{path}\0{base_dir}\0".encode() + content).hexdigest()
    return os.path.join(paths.cache_dir(), "specs", h[:32] + ".json")


def read_document(path: str, *, kind: str, base_dir: str) -> dict:
    """The validated document in path (kind: "project" or "classic").

    base_dir: where relative mount sources start (the project folder).
    """
    try:
        with open(path, "rb") as fh:
            content = fh.read()
    except FileNotFoundError:
        if kind == "classic":
            return {}
        raise SpecError([f"{display_path(path)}: no such file"]) from None
    except IsADirectoryError:
        raise SpecError([f"{path} is a folder: name the spec file itself (-f path/to/sandbox.yaml)"]) from None
    except OSError as exc:
        raise SpecError([f"{display_path(path)}: cannot read: {exc.strerror}"]) from None
    cached = _cache_path(content, path, kind, base_dir)
    try:
        with open(cached, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        pass
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([f"{display_path(path)}: not UTF-8 text (byte {exc.start})"]) from None
    doc = validate_text(path, text, kind=kind, base_dir=base_dir)
    try:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        tmp = f"{cached}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, cached)
    except OSError:
        pass  # a cache we cannot write only costs speed
    return doc


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
    return doc


def load_spec(target: Target) -> Spec:
    doc = read_document(target.spec_path, kind=target.mode, base_dir=target.project_dir)
    return build_spec(doc, project_dir=target.project_dir, source=target.spec_path, mode=target.mode)

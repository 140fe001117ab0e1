"""Validate a loaded sandbox document: every problem at once, each with its line.

Three passes, all collecting problems into one SpecError:

1. a walk of the whole document for values no command line can carry (NUL
   characters, unpaired surrogates, numbers too large or not finite);
2. the JSON Schema (sandbox.schema.json), one human message per keyword;
3. checks the schema cannot express (memory minimum for sizes, dangerous or
   impossible mounts), run only on fields the schema accepted.

Each problem is one line ``FILE:LINE:COL: field.path: message``, sorted by
position. The schema is checked by schema/subset.py (the keywords it uses, with the
standard library: the jsonschema package cost a first validation 0.1 s).
"""

from __future__ import annotations

import json
import math
import os
import re
from datetime import date

from podman_sandbox.errors import SpecError
from podman_sandbox.schema import argsize, subset
from podman_sandbox.schema.loader import MAX_DEPTH, Locator, format_path
from podman_sandbox.schema.hostpaths import broad_reason
from podman_sandbox.schema.sizes import MIN_MEMORY, format_size, parse_size
from podman_sandbox.locate import WORKSPACE
from podman_sandbox.schema.naming import resolve_host_path

TYPE_CHECKING = False  # typing's import costs milliseconds before the first Podman call
if TYPE_CHECKING:  # pragma: no cover - types only; mypy sees True
    from typing import Any, Dict, List, Optional, Tuple
    Path = Tuple[Any, ...]

SCHEMA_FILE = "sandbox.schema.json"
INT64_MAX = 2**63 - 1
MIN_DISK = 1024 * 1024  # as sandbox.schema.json's disk minimum
# Paths in the sandbox a mount must not cover: the kernel's filesystems.
RESERVED_TARGETS = ("/proc", "/sys", "/dev")

_schema: Optional[dict] = None  # sandbox.schema.json, read on first use



def load_schema() -> dict:
    """The JSON Schema of sandbox.yaml, as shipped in the package: the file next to this
    module (importlib.resources, which costs tens of ms to import, only for a package
    that is not plain files, e.g. zipped)."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), SCHEMA_FILE),
                  encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        from importlib.resources import files

        text = files("podman_sandbox.schema").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _loaded_schema() -> dict:
    # The schema is the package's own: tests/unit/test_validate.py checks it against
    # the meta-schema once, instead of every first load of a spec.
    global _schema
    if _schema is None:
        _schema = load_schema()
    return _schema


# --- how values are shown and named in messages --------------------------------


def _show(value: Any) -> str:
    """A value as a user would recognise it, on one line and short."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 200 else "a very large number"
    if isinstance(value, float):
        return repr(value)
    return _kind(value)


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    return f"a {type(value).__name__}"


_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value)",
    "array": "a list",
    "null": "null",
}


def _expected(schema: dict) -> str:
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    names = []
    for name in types:
        if name == "array":
            items = schema.get("items")
            inner = items.get("type") if isinstance(items, dict) else None
            if inner == "string":
                names.append("a list of strings")
            elif inner == "object":
                names.append("a list of mappings")
            else:
                names.append("a list")
        else:
            names.append(_TYPE_NAMES.get(name, name))
    if not names:
        return "something else"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _join_or(values: List[Any]) -> str:
    return ", ".join(str(v) for v in values)


# Per-field wording. Keys are the schema location of the keyword's subschema,
# e.g. "properties/memory" or "properties/mounts/items/properties/target".
_PATTERN_MESSAGES: Dict[str, str] = {
    "properties/image": "{v} is not an image reference; write it without spaces and not starting with -, "
    "like alpine:latest",
    "properties/name": "{v} is not a valid container name; use letters, digits, _, . and - "
    "(at most 63, starting with a letter or digit)",
    "properties/memory": "{v} is not a size; write a number with an optional unit b, k, m or g, like 512m or 1g",
    "properties/disk": "{v} is not a size; write a number with an optional unit b, k, m or g, like 10g",
    "properties/cap_drop/items": "{v} is not a capability name; write one like NET_ADMIN, CAP_CHOWN or ALL",
    "properties/cap_add/items": "{v} is not a capability name; write one like NET_BIND_SERVICE or CAP_CHOWN",
    "properties/user": "{v} is not a user; write a name or uid, optionally with :group, like nobody or 1000:1000",
    "properties/mounts/items/properties/target": "{v} is not an absolute path; the target must start with /",
    "properties/env/propertyNames": "{v} is not a valid variable name; use letters, digits and _, "
    "not starting with a digit",
}

_TYPE_MESSAGES: Dict[str, str] = {
    "properties/memory": "must be a size like 512m or 1g, a number of bytes, or null for no limit",
    "properties/cpus": "must be a number of cores like 1.5, or null for no limit",
    "properties/disk": "must be a size like 10g, a number of bytes, or null for no limit",
    "properties/env/additionalProperties": "must be a string or a number",
}

_MIN_MEMORY_TEXT = format_size(MIN_MEMORY)

# When one value breaks several keywords, report the most telling one.
_PRIORITY = {
    "type": 0,
    "required": 1,
    "additionalProperties": 1,
    "propertyNames": 1,
    "enum": 2,
    "const": 2,
    "minLength": 3,
    "pattern": 4,
}


class _Problem:
    __slots__ = ("target", "position", "message", "rank", "order")

    def __init__(self, target: Path, position: Optional[Tuple[int, int]], message: str, rank: int = 9):
        self.target = target
        self.position = position
        self.message = message
        self.rank = rank
        self.order = 0


class _Collector:
    def __init__(self, locator: Optional[Locator], display_name: str):
        self.locator = locator
        self.display_name = display_name
        self.problems: Dict[Path, _Problem] = {}
        self.counter = 0

    def _position(self, path: Path, key: bool) -> Optional[Tuple[int, int]]:
        if self.locator is None:
            return None
        return self.locator.key_position(path) if key else self.locator.position(path)

    def add(self, target: Path, message: str, *, at: Optional[Path] = None, key: bool = False,
            rank: int = 9) -> None:
        """One problem per field: the first with the best (lowest) rank stays."""
        target = tuple(target)
        existing = self.problems.get(target)
        if existing is not None and existing.rank <= rank:
            return
        problem = _Problem(target, self._position(tuple(at if at is not None else target), key), message, rank)
        self.counter += 1
        problem.order = self.counter
        self.problems[target] = problem

    def has_problem_at_or_above(self, path: Path) -> bool:
        path = tuple(path)
        return any(path[: n] in self.problems for n in range(len(path) + 1))

    def lines(self) -> List[str]:
        ordered = sorted(
            self.problems.values(),
            key=lambda p: (p.position or (0, 0), p.order),
        )
        out = []
        for p in ordered:
            field = format_path(p.target)
            if p.position is None:
                out.append(f"{self.display_name}: {field}: {p.message}")
            else:
                line, col = p.position
                out.append(f"{self.display_name}:{line}:{col}: {field}: {p.message}")
        return out


# --- pass 1: values no command line can carry ------------------------------------


def _walk(doc: Any, out: _Collector) -> bool:
    """Check every value; False when the document cannot be validated at all."""
    ok = True
    stack: List[Tuple[Path, Any]] = [((), doc)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            out.add(path[:MAX_DEPTH], f"nested more than {MAX_DEPTH} levels deep")
            return False
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    out.add(path, f"keys must be strings, not {_kind(key)}")
                    ok = False
                    continue
                _check_text(key, path + (key,), out, key=True)
                stack.append((path + (key,), item))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((path + (index,), item))
        elif isinstance(value, str):
            _check_text(value, path, out)
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if value.bit_length() > 10_000:
                out.add(path, "is far too large a number")
                ok = False
            elif abs(value) > INT64_MAX:
                out.add(path, f"{_show(value)} is too large")
        elif isinstance(value, float) and not math.isfinite(value):
            out.add(path, f"must be a finite number, not {_show(value)}")
    return ok


def _check_text(text: str, path: Path, out: _Collector, *, key: bool = False) -> None:
    what = "the key" if key else "the value"
    if "\x00" in text:
        out.add(path, f"{what} contains a NUL character (\\0), which no command line can carry", key=key)
    elif any("\ud800" <= ch <= "\udfff" for ch in text):
        out.add(path, f"{what} contains an invalid character (an unpaired UTF-16 surrogate)", key=key)


# --- pass 2: the JSON Schema -------------------------------------------------------


def _schema_location(error) -> str:
    return "/".join(str(part) for part in list(error.absolute_schema_path)[:-1])


def _schema_error(error, out: _Collector, require_image: bool) -> None:
    keyword = error.validator
    path = tuple(error.absolute_path)
    where = _schema_location(error)
    instance = error.instance
    value = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    rank = _PRIORITY.get(keyword, 5)

    if keyword == "required":
        if isinstance(instance, dict):
            for name in value:
                if path == () and name == "image" and (not require_image or "build" in instance):
                    continue
                if name not in instance:
                    out.add(path + (name,), "required field is missing", at=path, rank=rank)
        return

    if keyword == "additionalProperties" and value is False and isinstance(instance, dict):
        allowed = sorted(schema.get("properties", {}))
        for name in instance:
            if name in schema.get("properties", {}):
                continue
            out.add(path + (name,), _unknown_field(name, allowed), at=path + (name,), key=True, rank=rank)
        return

    if "propertyNames" in list(error.absolute_schema_path):
        # jsonschema reports the object's path; the culprit is the key itself.
        target = path + (instance,)
        template = _PATTERN_MESSAGES.get(where, "{v} is not an allowed key")
        out.add(target, template.format(v=_show(instance)), at=target, key=True,
                rank=_PRIORITY["propertyNames"])
        return

    out.add(path, _message(keyword, where, instance, value, schema, error), rank=rank)


def _unknown_field(name: Any, allowed: List[str]) -> str:
    import difflib

    text = str(name)
    close = difflib.get_close_matches(text.lower(), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown field {_show(text)} (did you mean {close[0]!r}?)"
    return f"unknown field {_show(text)} (allowed fields: {', '.join(allowed)})"


def _message(keyword: str, where: str, instance: Any, value: Any, schema: dict, error) -> str:
    if keyword == "type":
        base = _TYPE_MESSAGES.get(where) or f"must be {_expected(schema)}"
        message = f"{base}, not {_kind(instance)}"
        types = schema.get("type")
        types = [types] if isinstance(types, str) else list(types or [])
        if types == ["string"] and isinstance(instance, (bool, int, float, date)):
            message += "; put it in quotes to make it a string"
        elif "array" in types and isinstance(instance, str):
            message += "; write each item on its own line starting with '- '"
        elif "string" in types and instance is None and where.endswith("properties/source"):
            message += "; YAML reads a bare ~ as null, write '~' in quotes"
        return message
    if keyword == "enum":
        return f"must be one of {_join_or(value)}"
    if keyword == "const":
        return f"must be {_show(value)}"
    if keyword == "pattern":
        template = _PATTERN_MESSAGES.get(where, "{v} does not have the expected form")
        return template.format(v=_show(instance))
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters long"
    if keyword == "maxLength":
        return f"must be at most {value} characters long"
    if keyword == "minimum":
        if where == "properties/memory":
            return f"{_show(instance)} is below Podman's minimum of {_MIN_MEMORY_TEXT}"
        if where == "properties/disk":
            return f"{_show(instance)} is below the smallest disk limit, {format_size(value)}"
        if where == "properties/cpus":
            # Below it the kernel's CPU quota (1 ms per 100 ms period) cannot hold the limit:
            # it would round to 0 and silently vanish.
            return f"{_show(instance)} is below the smallest CPU limit Podman can set ({value} of a core)"
        return f"must be {value} or more, not {_show(instance)}"
    if keyword == "exclusiveMinimum":
        return f"must be more than {value}, not {_show(instance)}"
    if keyword == "maximum":
        return f"must be at most {value}, not {_show(instance)}"
    if keyword == "exclusiveMaximum":
        return f"must be less than {value}, not {_show(instance)}"
    if keyword == "minItems":
        return "must not be empty" if value == 1 else f"must have at least {value} items"
    if keyword == "maxItems":
        return f"must have at most {value} items"
    if keyword == "uniqueItems":
        return "must not list the same item twice"
    message = str(getattr(error, "message", "") or keyword).splitlines()[0]
    return message if len(message) <= 160 else message[:157] + "..."


# --- pass 3: what the schema cannot say ----------------------------------------------


def _check_size(doc: dict, out: _Collector, field: str, *, minimum: int, below: str,
                example: str, within: Path = ()) -> None:
    """A size field (memory, disk, kube.size): the schema sees numbers and strings apart,
    sizes here. within: the path of the mapping doc is (() for the top level)."""
    value = doc.get(field)
    path = tuple(within) + (field,)
    if value is None or isinstance(value, bool) or out.has_problem_at_or_above(path):
        return
    shown = value if isinstance(value, str) and len(value) <= 40 else _show(value)
    try:
        nbytes = parse_size(value)
    except OverflowError:
        out.add(path, f"{shown} is too large")
        return
    except (ValueError, TypeError):
        out.add(path, f"{_show(value)} is not a size; write a number with an optional unit "
                      f"b, k, m or g, like {example}")
        return
    if nbytes < minimum:
        out.add(path, f"{shown} is below {below}")
    elif nbytes > INT64_MAX:
        out.add(path, f"{shown} is too large")


def _check_memory(doc: dict, out: _Collector) -> None:
    _check_size(doc, out, "memory", minimum=MIN_MEMORY, example="512m or 1g",
                below=f"Podman's minimum of {_MIN_MEMORY_TEXT}")


def _check_disk(doc: dict, out: _Collector) -> None:
    _check_size(doc, out, "disk", minimum=MIN_DISK, example="10g",
                below=f"the smallest disk limit, {format_size(MIN_DISK)}")


def _check_kube(doc: dict, out: _Collector) -> None:
    kube = doc.get("kube")
    if isinstance(kube, dict):
        _check_size(kube, out, "size", minimum=1 << 20, example="5g", within=("kube",),
                    below="the smallest workspace, 1m")


def has_control(text: str) -> bool:
    """Never in a path or name the CLI prints: a grant shown for approval must read as
    what it is (output.is_control)."""
    from podman_sandbox.output import is_control

    return any(is_control(ch) for ch in text)


# Podman's transports other than a registry (docker://): `podman pull docker-archive:FILE`
# loads a file the sandbox wrote and tags it with whatever names the archive lists.
_TRANSPORT = re.compile(r"^(containers-storage|dir|docker-archive|docker-daemon|oci|oci-archive|"
                        r"ostree|sif|tarball):(?!\d+/)")


def _check_image(doc: dict, out: _Collector) -> None:
    for field in ("image", "user"):
        value = doc.get(field)
        if not isinstance(value, str) or out.has_problem_at_or_above((field,)):
            continue
        if value.startswith("-"):
            out.add((field,), f"{_show(value)} starts with '-', which podman would read as an option")
        elif has_control(value):
            out.add((field,), "contains a control character; write it on one line, in plain text")
        elif field == "image" and (transport := _TRANSPORT.match(value)):
            out.add((field,), f"{_show(value)} names a {transport.group(1)}: source, not an "
                              "image: write a registry or local image name (load an archive yourself "
                              "with `podman load`)")


def _check_inputs(doc: dict, out: _Collector) -> None:
    """inputs: paths under the project, read by setup steps; ignore_changes: one line each."""
    from podman_sandbox.engine.inputs import invalid_pattern

    if doc.get("inputs") and not doc.get("setup") and not out.has_problem_at_or_above(("inputs",)):
        out.add(("inputs",), "only setup steps read inputs; add setup: or remove inputs", key=True)

    for field in ("inputs", "ignore_changes"):
        items = doc.get(field)
        if not isinstance(items, list) or out.has_problem_at_or_above((field,)):
            continue
        for index, text in enumerate(items):
            if not isinstance(text, str) or out.has_problem_at_or_above((field, index)):
                continue
            if field == "inputs":
                why = invalid_pattern(text)
            elif any(ord(ch) < 32 or ch == "\x7f" for ch in text):
                why = "contains a control character (a newline?); write the glob on one line"
            else:
                why = None
            if why:
                out.add((field, index), why)


def _check_build(doc: dict, out: _Collector, base_dir: str) -> None:
    """build: exactly one of image and build; its paths inside the project folder."""
    build = doc.get("build")
    if "build" in doc and "image" in doc and not out.has_problem_at_or_above(("build",)):
        out.add(("build",), "give either image: or build:, not both", key=True)
        return
    if out.has_problem_at_or_above(("build",)) or build is None:
        return
    fields = {"containerfile": build} if isinstance(build, str) else build
    for key in ("context", "containerfile"):
        value = fields.get(key)
        where = ("build",) if isinstance(build, str) else ("build", key)
        if not isinstance(value, str) or out.has_problem_at_or_above(where):
            continue
        if any(ord(ch) < 32 or ch == "\x7f" for ch in value):
            out.add(where, "contains a control character (a newline?); write the path on one line")
        elif value.startswith(("/", "~")) or ".." in value.split("/"):
            out.add(where, f"{_show(value)} must be a path inside the project folder, written from it")
    args = fields.get("args") if isinstance(build, dict) else None
    for key, value in (args or {}).items() if isinstance(args, dict) else ():
        if isinstance(value, str) and argsize.arg_bytes(f"{key}={value}") > argsize.MAX_ARG_STRLEN:
            out.add(("build", "args", key), "is too large for one command-line argument")


def _check_capabilities(doc: dict, out: _Collector) -> None:
    """Known Linux names only, and never cap_add: [ALL] (see capabilities.py)."""
    from podman_sandbox.capabilities import problem

    for field in ("cap_add", "cap_drop"):
        names = doc.get(field)
        if not isinstance(names, list) or out.has_problem_at_or_above((field,)):
            continue
        for index, name in enumerate(names):
            if isinstance(name, str) and not out.has_problem_at_or_above((field, index)):
                why = problem(name, adding=field == "cap_add")
                if why:
                    out.add((field, index), why)


def _home() -> Optional[str]:
    home = os.path.expanduser("~")
    if home == "~" or not os.path.isabs(home):
        return None
    return os.path.normpath(home)


def _check_mounts(doc: dict, out: _Collector, base_dir: str) -> None:
    mounts = doc.get("mounts")
    if not isinstance(mounts, list) or out.has_problem_at_or_above(("mounts",)):
        return
    home = _home()
    targets: Dict[str, int] = {}
    for index, mount in enumerate(mounts):
        path = ("mounts", index)
        if not isinstance(mount, dict) or out.has_problem_at_or_above(path):
            continue
        source, target = mount.get("source"), mount.get("target")
        force = mount.get("force") is True
        if isinstance(source, str) and source and not out.has_problem_at_or_above(path + ("source",)):
            where = path + ("source",)
            if has_control(source):
                out.add(where, "contains a control character (a newline?); write the host path on one line")
            else:
                resolved = resolve_host_path(source, base_dir)
                if ":" in resolved:
                    out.add(where, f"{resolved} contains ':', which podman's --volume cannot carry")
                elif not force and broad_reason(resolved, home or ""):
                    out.add(where, f"mounting {broad_reason(resolved, home or '')} is too broad; "
                                   "set force: true if you really mean it")
        if isinstance(target, str) and target.startswith("/") and not out.has_problem_at_or_above(
            path + ("target",)
        ):
            where = path + ("target",)
            normal = os.path.normpath(target)
            if normal.startswith("//"):  # POSIX keeps a leading //; it is still /
                normal = "/" + normal.lstrip("/")
            if has_control(target):
                out.add(where, "contains a control character (a newline?); write the path on one line")
            elif ":" in normal:
                out.add(where, f"{normal} contains ':', which podman's --volume cannot carry")
            elif normal == "/":
                out.add(where, "cannot mount over / in the sandbox; choose a folder")
            elif normal == WORKSPACE:
                out.add(where, f"{WORKSPACE} is where the project folder is mounted; choose another path")
            elif any(normal == r or normal.startswith(r + "/") for r in RESERVED_TARGETS):
                reserved = next(r for r in RESERVED_TARGETS if normal == r or normal.startswith(r + "/"))
                out.add(where, f"{normal} is inside {reserved}, which belongs to the sandbox's kernel; "
                               "choose another path")
            elif normal in targets:
                out.add(where, f"{normal} is already the target of mounts[{targets[normal]}]")
            else:
                targets[normal] = index


def _check_arg_sizes(doc: dict, out: _Collector) -> None:
    """Values Podman gets as command-line arguments must fit in one (schema/argsize.py)."""
    limit = argsize.MAX_ARG_STRLEN
    env = doc.get("env")
    for key, value in (env.items() if isinstance(env, dict) else ()):
        if isinstance(key, str) and isinstance(value, str) and not out.has_problem_at_or_above(("env", key)):
            size = argsize.arg_bytes(f"{key}={value}")
            if size > limit:
                out.add(("env", key), f"is {size} bytes; Podman gets {key}=VALUE as one argument, "
                                      f"and Linux allows at most {limit} bytes in one")
    setup = doc.get("setup")
    for index, step in enumerate(setup if isinstance(setup, list) else ()):
        if isinstance(step, str) and argsize.arg_bytes(step) > limit:
            out.add(("setup", index), f"is {argsize.arg_bytes(step)} bytes; each step is one argument "
                                      f"of `sh -c`, and Linux allows at most {limit} bytes in one")
    if out.problems:
        return
    # The sandbox's settings label carries env, setup and mounts in one argument (as JSON,
    # escaped as engine/steps.py writes it), and the create command carries env twice.
    carried = {k: doc.get(k) for k in ("env", "setup", "mounts", "image", "name", "user",
                                       "cap_add", "cap_drop")}
    label = len(json.dumps(carried, sort_keys=True, separators=(",", ":"))) + 1024
    biggest = max(("env", "setup", "mounts"), key=lambda k: len(json.dumps(doc.get(k) or "")))
    if label > limit:
        out.add((biggest,), f"env, setup and mounts together are about {label} bytes; Podman gets "
                            f"them in one argument (the sandbox's settings label), and Linux allows "
                            f"at most {limit} bytes in one")
        return
    total = 2 * label + argsize.environ_bytes() + argsize.SLACK
    if total > argsize.arg_max():
        out.add((biggest,), f"the create command would be about {total} bytes; Linux allows at most "
                            f"{argsize.arg_max()} for a whole command line (ARG_MAX)")


# --- entry point ---------------------------------------------------------------------------


def validate_document(
    doc: Any,
    locator: Optional[Locator],
    display_name: str,
    *,
    require_image: bool = True,
    base_dir: Optional[str] = None,
) -> None:
    """Return if `doc` is a valid sandbox spec, else raise one SpecError with every problem.

    `locator` (from load_document) gives line numbers; with None the lines are
    ``DISPLAY: field: message``. `require_image=False` accepts a document
    without `image` (the user's config.json, where defaults apply).
    `base_dir` is the folder relative mount sources are taken from; default the
    folder of the loaded file (else of display_name, else the current folder).
    """
    out = _Collector(locator, display_name)
    if not _walk(doc, out):
        raise SpecError(out.lines())

    for error in subset.iter_errors(doc, _loaded_schema()):
        _schema_error(error, out, require_image)

    if isinstance(doc, dict):
        if base_dir is None:
            source = getattr(locator, "path", None) or display_name
            base_dir = os.path.dirname(os.path.abspath(source)) if source else os.getcwd()
        _check_memory(doc, out)
        _check_disk(doc, out)
        _check_kube(doc, out)
        _check_image(doc, out)
        _check_mounts(doc, out, base_dir)
        _check_capabilities(doc, out)
        _check_inputs(doc, out)
        _check_build(doc, out, base_dir)
        _check_arg_sizes(doc, out)

    if out.problems:
        raise SpecError(out.lines())


"""Load sandbox.yaml (or the user's config.json) and remember where every value is.

YAML is composed into nodes first, so each value's line and column are known;
the document is then built from the nodes by hand, which lets us:

- reject duplicate keys (PyYAML silently keeps the last one);
- read every mapping key as the text written (``on:``, ``1:``, ``null:`` stay
  the strings ``"on"``, ``"1"``, ``"null"``), so documents are JSON-shaped;
- bound alias expansion (no "billion laughs") and refuse recursive aliases;
- report a value that cannot be read (``!!int abc``, an unknown ``!tag``) at
  its position instead of with a traceback.

JSON goes through the same path: what ``json.dumps`` writes is YAML, except
that YAML 1.1 reads ``1e5`` as a string (an extra resolver reads it as a
float, as YAML 1.2 and JSON do) and that YAML refuses some raw characters
JSON strings may hold (for a ``*.json`` path they are escaped first). Every failure is a ``SpecError`` whose
problems are ``FILE:LINE:COL: ...`` lines (1-based).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from podman_sandbox.errors import SpecError

TYPE_CHECKING = False  # typing's import costs milliseconds before the first Podman call
if TYPE_CHECKING:  # pragma: no cover - types only; mypy sees True
    from typing import Any, Dict, Iterable, List, Optional, Tuple
    Path = Tuple[Any, ...]
    Position = Tuple[int, int]


# A sandbox spec is a dozen fields; these limits only stop hostile input.
MAX_VALUES = 50_000  # values after expanding aliases
MAX_DEPTH = 64  # nesting of mappings and lists

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"

# JSON (and YAML 1.2) numbers with an exponent that YAML 1.1 reads as strings:
# 1e5, 1E-3, 2.5e+10, 1.e5. YAML 1.1's own float forms are left to PyYAML.
JSON_FLOAT = re.compile(r"^[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+$")
_JSON_FLOAT_FIRST = list("-+0123456789")


class SpecLoader(yaml.SafeLoader):
    """SafeLoader that also reads JSON exponent numbers (1e5) as floats."""


SpecLoader.add_implicit_resolver("tag:yaml.org,2002:float", JSON_FLOAT, _JSON_FLOAT_FIRST)


class SpecDumper(yaml.SafeDumper):
    """SafeDumper that quotes strings SpecLoader would read as numbers ('1e5')."""


SpecDumper.add_implicit_resolver("tag:yaml.org,2002:float", JSON_FLOAT, _JSON_FLOAT_FIRST)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # fullmatch: "$" would let "A\n" through


def format_path(path: Iterable[Any]) -> str:
    """('mounts', 0, 'source') -> 'mounts[0].source'; () -> '(top level)'."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENT.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "(top level)"


def display_name_for(path: str) -> str:
    """How messages name a file: relative to the current folder when under it."""
    try:
        cwd = os.getcwd()
        absolute = os.path.abspath(path)
    except (OSError, ValueError):
        return path
    prefix = cwd.rstrip(os.sep) + os.sep
    if absolute.startswith(prefix):
        return os.path.relpath(absolute, cwd)
    return path


class Locator:
    """1-based (line, column) of the values and keys of a loaded document.

    Paths are tuples of str keys and int list indices, as jsonschema reports
    them. A path that is not in the document answers with its nearest
    existing ancestor (ultimately the top-level mapping).
    """

    def __init__(
        self,
        values: Optional[Dict[Path, Position]] = None,
        keys: Optional[Dict[Path, Position]] = None,
        *,
        path: Optional[str] = None,
        display_name: Optional[str] = None,
    ):
        self._values: Dict[Path, Position] = dict(values or {})
        self._keys: Dict[Path, Position] = dict(keys or {})
        self._values.setdefault((), (1, 1))
        self.path = path  # the file the document came from (as given)
        self.display_name = display_name

    def position(self, path: Iterable[Any]) -> Position:
        path = tuple(path)
        while path not in self._values:
            path = path[:-1]
        return self._values[path]

    def key_position(self, path: Iterable[Any]) -> Position:
        path = tuple(path)
        if path in self._keys:
            return self._keys[path]
        return self.position(path)

    def rename_key(self, old: str, new: str) -> None:
        """Answer for top-level key `new` where the file says `old` (legacy aliases)."""
        for table in (self._values, self._keys):
            for path in [p for p in table if p[:1] == (old,)]:
                table[(new,) + path[1:]] = table.pop(path)

    def __repr__(self) -> str:
        return f"Locator({self.display_name or self.path!r}, {len(self._values)} values)"


def _pos(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _join_surrogates(text: str) -> str:
    """JSON writes characters beyond U+FFFF as two \\u escapes; YAML keeps them apart."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return text  # a lone surrogate: the validator rejects it


def _short_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix):] if tag.startswith(prefix) else tag


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    return "single value"


class _TooBig(Exception):
    pass


class _Builder:
    def __init__(self, loader: SpecLoader, name: str):
        self.loader = loader
        self.name = name
        self.values: Dict[Path, Position] = {}
        self.keys: Dict[Path, Position] = {}
        self.problems: List[Tuple[Position, str]] = []
        self.count = 0
        self.active: set = set()

    def problem(self, node: Node, path: Path, message: str, *, at: Optional[Position] = None) -> None:
        line, col = at or _pos(node)
        self.problems.append(((line, col), f"{self.name}:{line}:{col}: {format_path(path)}: {message}"))

    def build(self, node: Node, path: Path, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooBig(f"is too large: more than {MAX_VALUES} values (after expanding aliases)")
        if depth > MAX_DEPTH:
            raise _TooBig(f"is nested more than {MAX_DEPTH} levels deep")
        self.values[path] = _pos(node)
        if id(node) in self.active:
            self.problem(node, path, "an alias refers to a value that contains it (recursive alias)")
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ_TAG:
                    self.problem(node, path, f"unsupported YAML tag {_short_tag(node.tag)}; write a plain list")
                    return None
                return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                if node.tag != _MAP_TAG:
                    self.problem(node, path, f"unsupported YAML tag {_short_tag(node.tag)}; write a plain mapping")
                    return None
                return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))
        self.problem(node, path, "unreadable value")  # pragma: no cover - no other node kinds
        return None

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        if node.tag == _MERGE_TAG:  # a plain `<<` that is not a key is just text
            return node.value
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.problem(node, path, f"cannot read this value: {exc.problem}")
            return None
        except Exception as exc:  # PyYAML raises ValueError etc. for e.g. `!!int abc`
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.problem(node, path, f"cannot read this value as {_short_tag(node.tag)}: {reason[:120]}")
            return None
        if isinstance(value, str):
            value = _join_surrogates(value)
        return value

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict:
        explicit: List[Tuple[str, Node, Node]] = []
        merges: List[Node] = []
        first_line: Dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, path, f"a key must be a plain name, not a {_kind(key_node)}")
                continue
            key = _join_surrogates(key_node.value)
            if key in first_line:
                line, col = _pos(key_node)
                self.problems.append((
                    (line, col),
                    f"{self.name}:{line}:{col}: {format_path(path + (key,))}: duplicate key "
                    f"(first at line {first_line[key]})",
                ))
                continue
            first_line[key] = key_node.start_mark.line + 1
            explicit.append((key, key_node, value_node))

        result: dict = {}
        # `<<: *defaults` / `<<: [*a, *b]`: earlier sources win, explicit keys win
        # over all; build the lowest precedence first so positions end up right.
        sources: List[Node] = []
        for merge in merges:
            if isinstance(merge, SequenceNode):
                sources.extend(merge.value)
            else:
                sources.append(merge)
        for source in reversed(sources):
            if not isinstance(source, MappingNode):
                self.problem(source, path, "<< (merge) needs a mapping or a list of mappings")
                continue
            merged = self.build(source, path, depth)
            if isinstance(merged, dict):
                result.update(merged)
        self.values[path] = _pos(node)
        for key, key_node, value_node in explicit:
            result[key] = self.build(value_node, path + (key,), depth + 1)
            self.keys[path + (key,)] = _pos(key_node)
        return result


def _syntax_error(name: str, exc: yaml.YAMLError, text: str) -> SpecError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            where = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            message = f"{exc.problem} ({exc.context}{where})"
        if mark is not None:
            return SpecError([f"{name}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {message}"])
        return SpecError([f"{name}: YAML syntax error: {message}"])
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line = before.count("\n") + 1
        col = exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return SpecError([
            f"{name}:{line}:{col}: YAML syntax error: character U+{char:04X} is not allowed in YAML "
            "(control characters must be written as escapes in a double-quoted string)"
        ])
    return SpecError([f"{name}: YAML syntax error: {str(exc).splitlines()[0] if str(exc) else exc!r}"])


# What YAML reads as a line break (folded to a space in a plain or single-quoted scalar).
YAML_LINE_BREAKS = "\n\r\x85\u2028\u2029"

@lru_cache(maxsize=1)
def _json_raw() -> re.Pattern:
    # Compiled only when a JSON file is read: a class of most of Unicode costs ms to compile.
    return re.compile("[\x85\u2028\u2029]|" + yaml.reader.Reader.NON_PRINTABLE.pattern)


def _escape_for_yaml(text: str) -> str:
    """JSON text with the characters YAML refuses written as \\u escapes.

    JSON lets strings hold DEL, C1 controls, U+FFFE or lone surrogates raw
    (json.dumps(ensure_ascii=False) writes them so); YAML does not, and it
    reads U+0085, U+2028 and U+2029 as line breaks (folded to spaces). In JSON
    such characters can only be inside strings, all double-quoted, where an
    escape means the same character. Columns after one shift on its line.
    """
    return _json_raw().sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _read(path: str, name: str) -> str:
    from podman_sandbox.specfile import SpecFileError, read_spec_file

    try:
        data = read_spec_file(path)
    except SpecFileError as exc:
        raise SpecError([f"{name}: {exc.strerror}"]) from None
    except OSError as exc:
        raise SpecError([f"{name}: cannot be read: {exc.strerror or exc}"]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError([f"{name}: is not UTF-8 text (byte {exc.start} cannot be decoded)"]) from None


def load_document(path: str, text: Optional[str] = None, *, display_name: Optional[str] = None) -> Tuple[dict, Locator]:
    """The document in `path` (or `text`, named after `path`) and its positions.

    Raises SpecError for: a file that cannot be read, YAML syntax errors, an
    empty file, a top level that is not a mapping, duplicate keys, keys that
    are lists or mappings, values that cannot be read, and documents that are
    too large or too deeply nested.
    """
    name = display_name if display_name is not None else display_name_for(path)
    if text is None:
        text = _read(path, name)
    if text.startswith("\ufeff"):
        text = text[1:]
    if path.endswith(".json"):
        text = _escape_for_yaml(text)
    try:
        loader = SpecLoader(text)  # checks for unprintable characters at once
    except yaml.YAMLError as exc:
        raise _syntax_error(name, exc, text) from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise _syntax_error(name, exc, text) from None
        except RecursionError:
            raise SpecError([f"{name}: the document is nested too deeply to read"]) from None
        if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG and root.value == ""):
            raise SpecError(
                [f"{name}: the file is empty; it must be a mapping of fields, like `image: alpine:latest`"]
            )
        if not isinstance(root, MappingNode) or root.tag != _MAP_TAG:
            line, col = _pos(root)
            what = "value" if isinstance(root, ScalarNode) else _kind(root)
            raise SpecError([
                f"{name}:{line}:{col}: the top level must be a mapping of fields (key: value), not a {what}"
            ])
        builder = _Builder(loader, name)
        try:
            doc = builder.build(root, ())
        except _TooBig as exc:
            raise SpecError([f"{name}: the document {exc}"]) from None
        except RecursionError:
            raise SpecError([f"{name}: the document is nested too deeply to read"]) from None
    finally:
        loader.dispose()
    if builder.problems:
        builder.problems.sort(key=lambda item: item[0])
        raise SpecError([message for _, message in builder.problems])
    return doc, Locator(builder.values, builder.keys, path=path, display_name=name)

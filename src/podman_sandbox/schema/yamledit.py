"""Change one top-level value of a YAML file and keep every other byte.

`configure` edits sandbox.yaml in place; a user's comments, order, blank
lines and quoting must survive. Dumping the parsed document would lose all
of it, so the new value is spliced into the text at the old value's span
(PyYAML node marks give its character offsets), or appended as a new line
after the last entry of the top-level mapping. The result is parsed again
before it is returned: a wrong edit raises SpecError instead of being written.
"""

from __future__ import annotations

import math
import re
from typing import Any, List, Optional, Tuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from podman_sandbox.errors import SpecError
from podman_sandbox.schema.loader import YAML_LINE_BREAKS, SpecDumper, SpecLoader

_MAP_TAG = "tag:yaml.org,2002:map"
_WIDE = 2**31  # never fold a scalar over several lines


def _where(display_name: Optional[str]) -> str:
    return f"{display_name}: " if display_name else ""


def _refuse(display_name: Optional[str], reason: str) -> SpecError:
    return SpecError(
        [f"{_where(display_name)}cannot be edited in place: {reason}"],
        hint="edit the file by hand",
    )


def render_scalar(value: Any) -> str:
    """`value` as a one-line YAML scalar that reads back as the same value.

    Quoted whenever YAML would read the plain text as something else
    ('yes', '1.5', 'null', '1e5', '- x', ...); strings with line breaks are
    double-quoted with escapes so they stay on one line.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return _dump(value)
    if isinstance(value, str):
        text = _dump(value)
        if any(ch in text for ch in YAML_LINE_BREAKS):
            text = _dump(value, style='"')
        return text
    raise TypeError(f"cannot write a {type(value).__name__} as a single YAML value")


def _dump(value: Any, style: Optional[str] = None) -> str:
    # Inside a flow sequence the emitter quotes at least as much as in a block
    # mapping value, and it writes no document-end marker: "[value]\n".
    text = yaml.dump(
        [value],
        Dumper=SpecDumper,
        default_flow_style=True,
        default_style=style,
        width=_WIDE,
        allow_unicode=True,
    )
    text = text.rstrip("\n")
    if not (text.startswith("[") and text.endswith("]")):  # pragma: no cover - emitter contract
        raise ValueError(f"unexpected YAML for {value!r}: {text!r}")
    return text[1:-1]


def _compose(text: str, display_name: Optional[str]) -> Tuple[Optional[Node], SpecLoader]:
    try:
        loader = SpecLoader(text)  # refuses unprintable characters at once
        return loader.get_single_node(), loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise _refuse(display_name, f"it is not valid YAML ({at}{exc.problem or exc.context})") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise _refuse(display_name, f"it is not valid YAML ({str(exc).splitlines()[0] if str(exc) else exc!r})") \
            from None


def _last_line_end(node: Node) -> int:
    """Offset just past the line on which `node`'s written text ends."""
    end = node.end_mark.index
    while isinstance(node, (MappingNode, SequenceNode)) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
        end = node.end_mark.index
    return end


def _line_after(text: str, index: int) -> int:
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _parse(text: str, loader_class) -> Any:
    return yaml.load(text, Loader=loader_class)


def set_top_level_value(text: str, key: str, value: Any, *, display_name: Optional[str] = None) -> str:
    """`text` with top-level `key` set to `value` (str, int, float, bool or None).

    Only the old value's characters change; a missing key is appended as a
    new line after the top-level mapping's last entry. SpecError when the
    file is not a block mapping, the old value is a list or mapping, or the
    edit would not read back exactly.
    """
    if not isinstance(key, str) or not key:
        raise TypeError("key must be a non-empty string")
    new_value = render_scalar(value)
    root, loader = _compose(text, display_name)
    try:
        if root is None:
            pairs: List[Tuple[Node, Node]] = []
        elif not isinstance(root, MappingNode) or root.tag != _MAP_TAG:
            raise _refuse(display_name, "the top level is not a mapping of fields")
        elif root.flow_style:
            raise _refuse(display_name, "the top level is written in flow style ({...}), not one field per line")
        else:
            pairs = list(root.value)

        matches = []
        for key_node, value_node in pairs:
            if isinstance(key_node, ScalarNode):
                try:
                    name = loader.construct_object(key_node, deep=True)
                except Exception:  # an unreadable key is not ours to fix
                    continue
                if name == key:
                    matches.append((key_node, value_node))
    finally:
        loader.dispose()
    if len(matches) > 1:
        raise _refuse(display_name, f"{key!r} is set more than once")

    newline = "\r\n" if "\r\n" in text else "\n"
    if matches:
        key_node, value_node = matches[0]
        if not isinstance(value_node, ScalarNode):
            kind = "list" if isinstance(value_node, SequenceNode) else "mapping"
            raise _refuse(display_name, f"{key} is a {kind}, not a single value")
        start, end = value_node.start_mark.index, value_node.end_mark.index
        if value_node.style in ("|", ">"):
            old = text[start:end]
            header, _, _ = old.partition("\n")
            comment = re.search(r"\s#.*$", header)
            trailing = re.search(r"(\r?\n)[ \t\r\n]*\Z", old)
            replacement = new_value + (comment.group() if comment else "") + (trailing.group() if trailing else "")
        elif start == end:  # `key:` with nothing after it
            replacement = " " + new_value
            if text[start - 1 : start] in (" ", "\t"):
                replacement = new_value
        else:
            replacement = new_value
        result = text[:start] + replacement + text[end:]
    else:
        line = f"{render_scalar(key)}: {new_value}{newline}"
        if pairs:
            last_key, last_value = pairs[-1]
            index = _line_after(text, max(_last_line_end(last_value), last_key.end_mark.index))
            indent = " " * pairs[0][0].start_mark.column
        else:
            index, indent = len(text), ""
        before = text[:index]
        if before and not before.endswith("\n"):
            before += newline
        result = before + indent + line + text[index:]

    _check(text, result, key, value, display_name)
    return result


def _check(old_text: str, new_text: str, key: str, value: Any, display_name: Optional[str]) -> None:
    """Both PyYAML's safe_load and our loader read the edit back as intended."""
    for loader_class in (yaml.SafeLoader, SpecLoader):
        try:
            before = _parse(old_text, loader_class)
            after = _parse(new_text, loader_class)
        except (yaml.YAMLError, RecursionError, ValueError, TypeError, AttributeError) as exc:
            reason = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
            raise _refuse(display_name, f"the edited file would not read back ({reason})") from None
        if before is None:
            before = {}
        if not isinstance(after, dict) or key not in after or not _same(after[key], value):
            raise _refuse(display_name, f"setting {key} this way would not read back as {value!r}")
        rest_before = {k: v for k, v in before.items() if k != key}
        rest_after = {k: v for k, v in after.items() if k != key}
        if not _same(rest_before, rest_after):
            raise _refuse(display_name, f"setting {key} this way would change other fields")

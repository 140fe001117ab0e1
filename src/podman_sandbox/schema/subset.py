"""The part of JSON Schema (Draft 2020-12) that sandbox.schema.json uses, checked with
the standard library.

Importing the jsonschema package costs a first validation of a spec about 0.1 s
(attrs, referencing, its format checkers), which was a third of a first
`execute` in a fresh project. The schema uses eleven keywords with no
references or combinators, so they are checked here, with errors shaped as
jsonschema's (validator, validator_value, instance, schema, absolute_path,
absolute_schema_path), which schema/validate.py turns into messages.

tests/unit/test_schema_subset.py holds the errors equal to jsonschema's on
generated documents (with one deliberate difference: `pattern` follows ECMA-262's
$, as JSON Schema specifies, where jsonschema uses Python's: ecma_end); a keyword
not listed here in the schema is an error (UnsupportedKeyword), never silently
ignored.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing's import costs milliseconds before the first Podman call
if TYPE_CHECKING:  # pragma: no cover - types only; mypy sees True
    from typing import Any, Iterator

# What a keyword checks (assertions) and what only documents (annotations).
KEYWORDS = ("type", "properties", "additionalProperties", "required", "enum", "items",
            "minimum", "maximum", "minLength", "pattern", "propertyNames")
ANNOTATIONS = ("$schema", "$id", "title", "description", "default", "examples")


class UnsupportedKeyword(Exception):
    """The schema uses a keyword this module does not check."""


class SchemaError:
    """One failed keyword, with the attributes of jsonschema's ValidationError that
    validate.py reads."""

    __slots__ = ("validator", "validator_value", "instance", "schema", "absolute_path",
                 "absolute_schema_path", "context", "message")

    def __init__(self, keyword: str, value: Any, instance: Any, schema: dict,
                 path: tuple, schema_path: tuple, message: str):
        self.validator = keyword
        self.validator_value = value
        self.instance = instance
        self.schema = schema
        self.absolute_path = path
        self.absolute_schema_path = schema_path + (keyword,)
        self.context: tuple = ()  # no combinators, so never sub-errors
        self.message = message


def is_type(instance: Any, name: str) -> bool:
    """Draft 2020-12's types: a bool is no number, and 1.0 is an integer."""
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "string":
        return isinstance(instance, str)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if name == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    if name == "number":
        return isinstance(instance, (int, float))
    raise UnsupportedKeyword(f"type {name!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def equal(one: Any, two: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0, lists and mappings compare item by item."""
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    if _is_number(one) and _is_number(two):
        return one == two
    return type(one) is type(two) and one == two


_patterns: dict[str, re.Pattern] = {}


def ecma_end(pattern: str) -> str:
    """pattern with each $ that ends the text in ECMA-262 (the regular expressions JSON
    Schema speaks) written \\Z for Python: without the multiline flag ECMA's $ matches
    only at the very end, Python's also before a final newline, so ^[a-z]+$ took
    "abc\\n" (a container name or variable name ending in a newline). Escaped $ and
    $ inside a character class stay as they are."""
    out, in_class, escaped = [], False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            ch = "\\Z"
        out.append(ch)
    return "".join(out)


def _search(pattern: str, text: str) -> bool:
    compiled = _patterns.get(pattern)
    if compiled is None:
        compiled = _patterns[pattern] = re.compile(ecma_end(pattern))
    return compiled.search(text) is not None


def iter_errors(instance: Any, schema: dict, path: tuple = (),
                schema_path: tuple = ()) -> Iterator[SchemaError]:
    """Every keyword instance breaks, in the schema's order (as jsonschema reports them)."""
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS:
            continue

        def error(message: str) -> SchemaError:
            return SchemaError(keyword, value, instance, schema, path, schema_path, message)

        if keyword == "type":
            names = [value] if isinstance(value, str) else list(value)
            if not any(is_type(instance, name) for name in names):
                yield error(f"{instance!r} is not of type {', '.join(map(repr, names))}")
        elif keyword == "properties":
            if isinstance(instance, dict):
                for name, sub in value.items():
                    if name in instance:
                        yield from iter_errors(instance[name], sub, path + (name,),
                                               schema_path + ("properties", name))
        elif keyword == "additionalProperties":
            if isinstance(instance, dict):
                extras = [name for name in instance if name not in schema.get("properties", {})]
                if value is False:
                    if extras:
                        yield error("Additional properties are not allowed")
                elif isinstance(value, dict):
                    for name in extras:
                        yield from iter_errors(instance[name], value, path + (name,),
                                               schema_path + ("additionalProperties",))
                elif value is not True:
                    raise UnsupportedKeyword(f"additionalProperties: {value!r}")
        elif keyword == "required":
            if isinstance(instance, dict):
                for name in value:
                    if name not in instance:
                        yield error(f"{name!r} is a required property")
        elif keyword == "enum":
            if not any(equal(instance, option) for option in value):
                yield error(f"{instance!r} is not one of {value!r}")
        elif keyword == "items":
            if isinstance(instance, list):
                for index, item in enumerate(instance):
                    yield from iter_errors(item, value, path + (index,), schema_path + ("items",))
        elif keyword == "minimum":
            if _is_number(instance) and instance < value:
                yield error(f"{instance!r} is less than the minimum of {value!r}")
        elif keyword == "maximum":
            if _is_number(instance) and instance > value:
                yield error(f"{instance!r} is greater than the maximum of {value!r}")
        elif keyword == "minLength":
            if isinstance(instance, str) and len(instance) < value:
                yield error(f"{instance!r} is too short")
        elif keyword == "pattern":
            if isinstance(instance, str) and not _search(value, instance):
                yield error(f"{instance!r} does not match {value!r}")
        elif keyword == "propertyNames":
            if isinstance(instance, dict):
                for name in instance:
                    yield from iter_errors(name, value, path, schema_path + ("propertyNames",))
        else:
            raise UnsupportedKeyword(keyword)

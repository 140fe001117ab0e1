"""Podman argv from Jinja templates (engine/templates/*.j2).

Every {{ expression }} is shell-quoted by the environment's finalize hook and
the rendered text is split with shlex, so a value becomes exactly one argv
element whatever it holds: spaces, quotes, newlines, $(...), a leading --.
The split is only a tokenizer; nothing is ever handed to a shell.
StrictUndefined turns a missing variable into an error, not an empty string.
"""

from __future__ import annotations

import shlex
from functools import lru_cache


def _quote(value) -> str:
    if value is None:
        raise ValueError("None reached a podman template")
    if isinstance(value, bool):
        value = "true" if value else "false"
    return shlex.quote(str(value))


@lru_cache(maxsize=1)
def _environment():
    # Imported here, not at the top: importing this module must stay cheap, since
    # the no-change path of apply imports it without rendering anything.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("podman_sandbox.engine", "templates"),
        undefined=jinja2.StrictUndefined,
        finalize=_quote,
        autoescape=False,
        keep_trailing_newline=False,
    )


def render(template: str, **context) -> list[str]:
    text = _environment().get_template(f"{template}.j2").render(**context)
    return shlex.split(text)

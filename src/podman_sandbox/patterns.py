"""gitignore-style path patterns: one matcher for `inputs:` excludes, the project's
.gitignore, a build context's .containerignore / .dockerignore and `ignore_changes:`.

A pattern is a line of a .gitignore: `*` and `?` never cross a `/`, `[a-z]` is a
class (`[!a]` negates), `**` as a whole segment spans any number of folders, a
trailing `/` matches folders only, `!` re-includes, the last matching line wins.
A pattern without a `/` (other than a trailing one) matches a name at any depth;
anchored=True (Containerfile contexts, like Docker's) roots every line at the top.

Standard library only, and no `re`: the fast path of `execute` matches with it.
"""

from __future__ import annotations

from collections import namedtuple

Rule = namedtuple("Rule", "negate dir_only parts")


def parse(line: str, *, anchored: bool = False) -> Rule | None:
    """One line as a Rule; None for a blank line or a comment."""
    text = line.rstrip("\n").rstrip("\r")
    if text.endswith(" ") and not text.endswith("\\ "):
        text = text.rstrip(" ")
    if not text or text.startswith("#"):
        return None
    negate = text.startswith("!")
    if negate:
        text = text[1:]
    dir_only = text.endswith("/")
    text = text.rstrip("/")
    text = text.lstrip("/") if anchored or "/" in text else "**/" + text
    parts = tuple(p for p in text.split("/") if p not in ("", "."))
    return Rule(negate, dir_only, parts) if parts else None


def parse_lines(lines, *, anchored: bool = False) -> list:
    return [r for r in (parse(line, anchored=anchored) for line in lines) if r is not None]


def _class(pat: str, i: int, ch: str) -> tuple[bool, int] | None:
    """Does ch match the class starting at pat[i] == '['? (matched, index after ']')."""
    j = i + 1
    negate = j < len(pat) and pat[j] in "!^"
    if negate:
        j += 1
    found, first = False, True
    while j < len(pat) and (first or pat[j] != "]"):
        first = False
        lo = pat[j]
        if lo == "\\" and j + 1 < len(pat):
            j += 1
            lo = pat[j]
        if j + 2 < len(pat) and pat[j + 1] == "-" and pat[j + 2] != "]":
            hi = pat[j + 2]
            found = found or lo <= ch <= hi
            j += 3
        else:
            found = found or ch == lo
            j += 1
    if j >= len(pat):
        return None  # no closing ']': a literal '['
    return found != negate, j + 1


def match_name(pat: str, name: str) -> bool:
    """fnmatch for one path segment (never crosses '/')."""
    p = n = 0
    star_p, star_n = -1, 0
    while n < len(name):
        if p < len(pat):
            c = pat[p]
            if c == "*":
                star_p, star_n = p, n
                p += 1
                continue
            if c == "?":
                p, n = p + 1, n + 1
                continue
            if c == "[":
                got = _class(pat, p, name[n])
                if got is not None:
                    if got[0]:
                        p, n = got[1], n + 1
                        continue
                elif name[n] == "[":
                    p, n = p + 1, n + 1
                    continue
            elif c == "\\" and p + 1 < len(pat):
                if pat[p + 1] == name[n]:
                    p, n = p + 2, n + 1
                    continue
            elif c == name[n]:
                p, n = p + 1, n + 1
                continue
        if star_p >= 0:  # backtrack: let the last * take one more character
            star_n += 1
            p, n = star_p + 1, star_n
            continue
        return False
    while p < len(pat) and pat[p] == "*":
        p += 1
    return p == len(pat)


def match_parts(pats: tuple, names: tuple) -> bool:
    """Segments against segments; '**' takes zero or more whole segments."""
    if not pats:
        return not names
    if pats[0] == "**":
        return any(match_parts(pats[1:], names[i:]) for i in range(len(names) + 1))
    return bool(names) and match_name(pats[0], names[0]) and match_parts(pats[1:], names[1:])


def decide(rules, parts: tuple, is_dir: bool) -> bool | None:
    """True: excluded, False: re-included, None: no rule matches this path itself."""
    verdict = None
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        if match_parts(rule.parts, parts):
            verdict = not rule.negate
    return verdict


def excluded(rules, path: str, is_dir: bool = False) -> bool:
    """path (relative, '/'-separated) or a folder above it is excluded by rules."""
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    for i in range(1, len(parts) + 1):
        if decide(rules, parts[:i], is_dir or i < len(parts)):
            return True
    return False

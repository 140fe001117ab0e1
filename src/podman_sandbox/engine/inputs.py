"""Which files a set of `inputs:` patterns names, and a cheap signature of their stat data.

An input is a path or glob under a root folder (the project, or a build
context), written from that root: `requirements.txt`, `requirements/*.txt`,
`src/`, `**/package.json`; a folder means everything in it; `!pattern`
excludes (gitignore-style, see patterns.py), as do the root's .gitignore
(for what a glob or a folder walk finds; a path named in full is always
taken) and `.git/`. A name that matches nothing is noted as missing, so
creating it later is a change.

Code in the sandbox writes the project, so nothing here follows a symlink: a
symlink is an entry of its own (its target text is hashed, as git does), and
one that leads outside `boundary` (the project) is refused. Only regular
files are ever opened (inputdigest.py).

signature() is what the fast path of `execute` compares with its record: the
stat data (size, mtime_ns, ctime_ns, mode, inode, device) of every entry, no
file read but the .gitignore. Standard library only, cheap modules only.
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple

from podman_sandbox import patterns
from podman_sandbox.lite import sha256


ALWAYS_EXCLUDED = (".git/",)
IGNORE_FILE = ".gitignore"
MAX_ENTRIES = 100_000
MAX_DEPTH = 64  # folders deep; code in the sandbox can nest them without end
_WILD = "*?["

# kind: "f" regular file, "l" symlink, "o" anything else (never opened), "m" missing.
Entry = namedtuple("Entry", "rel kind st")


class InputError(Exception):
    """An input that escapes its root, or too many files: the message says which."""


def invalid_pattern(text: str) -> str | None:
    """Why an inputs entry is refused (absolute, '..', a control character); None: fine."""
    body = text[1:] if text.startswith("!") else text
    if not body.strip() or any(ord(ch) < 32 or ch == "\x7f" for ch in body):
        return "write a path or glob under the project, on one line"
    if body.startswith("/") or body.startswith("~"):
        return "is absolute; write it from the project folder (requirements.txt, src/)"
    if ".." in body.split("/"):
        return "goes above the project folder ('..'); inputs stay inside it"
    return None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _check_link(full: str, rel: str, boundary: str) -> None:
    real = os.path.realpath(full)
    if not _inside(real, boundary):
        raise InputError(f"{rel} is a symlink to {real}, outside the project folder; "
                         "inputs never leave it (replace the symlink with the file)")


class _Walk:
    def __init__(self, root: str, rules: list, boundary: str):
        self.root, self.rules, self.boundary = root, rules, boundary
        self.found: dict[str, Entry] = {}

    def add(self, rel: str, kind: str, st) -> None:
        if rel not in self.found:
            if len(self.found) >= MAX_ENTRIES:
                raise InputError(f"inputs name more than {MAX_ENTRIES} files; name fewer "
                                 "(a lock file, not the whole tree)")
            self.found[rel] = Entry(rel, kind, st)

    def full(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def take(self, rel: str, st, *, filtered: bool) -> None:
        """A matched path: a folder is walked, anything else is one entry."""
        if filtered and rel and patterns.excluded(self.rules, rel, stat.S_ISDIR(st.st_mode)):
            return
        if stat.S_ISLNK(st.st_mode):
            _check_link(self.full(rel), rel, self.boundary)
            self.add(rel, "l", st)
        elif stat.S_ISDIR(st.st_mode):
            self.walk(rel)
        else:
            self.add(rel, "f" if stat.S_ISREG(st.st_mode) else "o", st)

    def walk(self, rel: str) -> None:
        _depth(rel)
        for name, st in self.listing(rel):
            self.take(f"{rel}/{name}" if rel else name, st, filtered=True)

    def listing(self, rel: str):
        try:
            with os.scandir(self.full(rel)) as it:
                entries = [(e.name, e.stat(follow_symlinks=False)) for e in it]
        except (NotADirectoryError, FileNotFoundError):
            return []
        return sorted(entries)

    def expand(self, rel: str, parts: tuple, literal: bool) -> None:
        """Match parts below rel (a real folder), taking what they name."""
        if not parts:
            try:
                st = os.lstat(self.full(rel))
            except FileNotFoundError:
                return
            self.take(rel, st, filtered=not literal)
            return
        _depth(rel)
        head, rest = parts[0], parts[1:]
        if head == "**":
            self.expand(rel, rest, False)
            for name, st in self.listing(rel):
                child = f"{rel}/{name}" if rel else name
                if stat.S_ISDIR(st.st_mode) and not patterns.excluded(self.rules, child, True):
                    self.expand(child, parts, False)
            return
        if any(ch in head for ch in _WILD):
            for name, st in self.listing(rel):
                if patterns.match_name(head, name):
                    self._descend(f"{rel}/{name}" if rel else name, st, rest, False)
            return
        child = f"{rel}/{head}" if rel else head
        try:
            st = os.lstat(self.full(child))
        except (FileNotFoundError, NotADirectoryError):
            if literal:
                self.add("/".join((child,) + rest), "m", None)
            return
        self._descend(child, st, rest, literal)

    def _descend(self, rel: str, st, rest: tuple, literal: bool) -> None:
        if not rest:
            self.take(rel, st, filtered=not literal)
        elif stat.S_ISLNK(st.st_mode):
            _check_link(self.full(rel), rel, self.boundary)  # never followed: noted as itself
            self.add(rel, "l", st)
        elif stat.S_ISDIR(st.st_mode):
            if literal or not patterns.excluded(self.rules, rel, True):
                self.expand(rel, rest, literal)
        elif literal:
            self.add("/".join((rel,) + rest), "m", None)


def _depth(rel: str) -> None:
    if rel.count("/") >= MAX_DEPTH:
        raise InputError(f"{rel[:80]}...: inputs go more than {MAX_DEPTH} folders deep")


def _ignore_rules(root: str, ignore_file: str | None, anchored: bool):
    """(rules of the root's ignore file and ALWAYS_EXCLUDED, the ignore file's stat or None)."""
    lines = list(ALWAYS_EXCLUDED)
    st = None
    if ignore_file:
        path = os.path.join(root, ignore_file)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            fd = None
        if fd is not None:
            try:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode):
                    lines += os.read(fd, 1 << 20).decode("utf-8", "replace").splitlines()
            finally:
                os.close(fd)
    return patterns.parse_lines(lines, anchored=anchored), st


def select(root: str, includes, *, boundary: str | None = None,
           ignore_file: str | None = IGNORE_FILE, anchored: bool = False):
    """(sorted entries the includes name, the ignore file's stat). Raises InputError.

    includes: the `inputs:` entries (`!` ones exclude); ("",) is the whole root."""
    boundary = os.path.realpath(boundary or root)
    root_real = os.path.realpath(root)
    if not _inside(root_real, boundary):
        raise InputError(f"{root} is outside the project folder ({root_real})")
    rules, ignore_st = _ignore_rules(root, ignore_file, anchored)
    rules += patterns.parse_lines([i[1:] for i in includes if i.startswith("!")])  # "!x": leave x out
    walk = _Walk(root, rules, boundary)
    for text in includes:
        if text.startswith("!"):
            continue
        parts = tuple(p for p in text.strip("/").split("/") if p not in ("", "."))
        try:
            walk.expand("", parts, not any(ch in text for ch in _WILD))
        except OSError as exc:  # unreadable folder, name too long, ...
            raise InputError(f"cannot read the inputs {text!r}: {exc.strerror or exc}") from None
    return sorted(walk.found.values()), ignore_st


def _stat_line(st) -> str:
    if st is None:
        return "-"
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_mode} {st.st_ino} {st.st_dev}"


def signature_of(entries, ignore_st) -> str:
    h = sha256()
    h.update(f"ignore {_stat_line(ignore_st)}\0".encode())
    for e in entries:
        h.update(f"{e.rel}\0{e.kind}\0{_stat_line(e.st)}\0".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def signature(root: str, includes, **kw) -> str:
    """The stat signature of what includes name (see the module docstring)."""
    return signature_of(*select(root, includes, **kw))


# --- what the fast-path record notes: the sets of inputs a desired state was made from ---

_SET, _FIELD, _ITEM = "\x1e", "\x1f", "\x1d"


def watch_text(sets) -> str:
    """sets: (root, includes, boundary, ignore_file, anchored) tuples, as one record field."""
    return _SET.join(_FIELD.join((root, _ITEM.join(includes), boundary, ignore or "",
                                  "1" if anchored else "0"))
                     for root, includes, boundary, ignore, anchored in sets)


def combined(signatures) -> str:
    h = sha256()
    for sig in signatures:
        h.update(sig.encode() + b"\0")
    return h.hexdigest()


def watch_signature(text: str) -> str | None:
    """The combined signature of the sets watch_text wrote, as they are now; None when
    one cannot be read (the full path then says why)."""
    sigs = []
    for item in filter(None, text.split(_SET)):
        fields = item.split(_FIELD)
        if len(fields) != 5:
            return None
        root, includes, boundary, ignore, anchored = fields
        try:
            sigs.append(signature(root, includes.split(_ITEM), boundary=boundary,
                                  ignore_file=ignore or None, anchored=anchored == "1"))
        except (InputError, OSError):
            return None
    return combined(sigs)

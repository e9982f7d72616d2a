"""Custom-image patterns (the catalog's `custom_regex`) as people read them.

`registry\\.example\\.org/python:[0-9]{4}\\.[0-9]{2}(-[a-z0-9]+)?` is what the catalog checks; the form says
`registry.example.org/python:‹4 digits›.‹2 digits›[-‹letters or digits›]` instead. Only the regex
features catalogs use are described (literals, escapes, character classes, quantifiers, optional
groups); anything else (alternation, lookarounds, backreferences) gives None and the form shows the
regex itself, as code.
"""

from __future__ import annotations

import re

_CLASSES = {
    frozenset("0123456789"): ("digit", "digits"),
    frozenset("abcdefghijklmnopqrstuvwxyz"): ("lowercase letter", "lowercase letters"),
    frozenset("abcdefghijklmnopqrstuvwxyz0123456789"): ("letter or digit", "letters or digits"),
}
_SIMPLE_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_"}


class _Unsupported(Exception):
    pass


def _class_chars(body: str) -> frozenset[str] | None:
    """The characters of a simple class body like `a-z0-9._-` (None when negated or not simple)."""
    if body.startswith("^"):
        return None
    chars: set[str] = set()
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _SIMPLE_ESCAPES:
                chars |= _class_chars(_SIMPLE_ESCAPES[nxt]) or set()
            else:
                chars.add(nxt)
            i += 2
            continue
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = c, body[i + 2]
            if ord(hi) < ord(lo):
                return None
            chars |= {chr(x) for x in range(ord(lo), ord(hi) + 1)}
            i += 3
            continue
        chars.add(c)
        i += 1
    return frozenset(chars)


def _class_name(chars: frozenset[str] | None, plural: bool) -> str:
    if chars is None:
        return "characters" if plural else "character"
    if chars in _CLASSES:
        return _CLASSES[chars][1 if plural else 0]
    lower = frozenset(c.lower() for c in chars)
    extra = sorted(c for c in chars if not c.isalnum())
    if lower == frozenset("abcdefghijklmnopqrstuvwxyz0123456789") | set(extra):
        base = _CLASSES[frozenset("abcdefghijklmnopqrstuvwxyz0123456789")][1 if plural else 0]
        return f"{base} or {' '.join(extra)}" if extra else base
    if len(chars) <= 4:
        return " or ".join(sorted(chars))
    return "characters" if plural else "character"


def _quantified(what: tuple[str, frozenset[str] | None], low: int, high: int | None) -> str:
    """A placeholder for a class repeated low..high times (high None: no upper bound)."""
    _, chars = what
    if low == high:
        return f"‹{low} {_class_name(chars, low != 1)}›" if low != 1 else f"‹{_class_name(chars, False)}›"
    name = _class_name(chars, True)
    if high is None:
        return f"‹{name}›" if low <= 1 else f"‹{low} or more {name}›"
    return f"‹{low} to {high} {name}›"


class _Reader:
    def __init__(self, regex: str):
        self.s, self.i = regex, 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def quantifier(self) -> tuple[int, int | None] | None:
        c = self.peek()
        if c and c in "?*+":
            self.i += 1
            return {"?": (0, 1), "*": (0, None), "+": (1, None)}[c]
        m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.s, self.i)
        if not m:
            return None
        self.i = m.end()
        low = int(m.group(1))
        high = low if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
        return low, high

    def sequence(self, depth: int = 0) -> str:
        out = []
        while self.i < len(self.s):
            c = self.peek()
            if c == ")":
                if depth == 0:
                    raise _Unsupported
                return "".join(out)
            if c == "|":
                raise _Unsupported
            if c and c in "^$" and (self.i == 0 or self.i == len(self.s) - 1):
                self.i += 1
                continue
            atom = self.atom(depth)
            q = self.quantifier()
            if isinstance(atom, tuple):  # a class: one placeholder with its count
                low, high = q or (1, 1)
                if atom[1] is None and high is None:
                    out.append("‹anything›")
                elif low == 0:
                    out.append("[" + _quantified(atom, 1, high) + "]")
                else:
                    out.append(_quantified(atom, low, high))
            elif q is None:
                out.append(atom)
            elif q == (0, 1):
                out.append(f"[{atom}]")
            else:
                raise _Unsupported  # a literal or group repeated: rare, shown as the regex
        if depth:
            raise _Unsupported  # unbalanced
        return "".join(out)

    def atom(self, depth: int) -> str | tuple[str, frozenset[str] | None]:
        c = self.peek()
        if not c:
            raise _Unsupported
        self.i += 1
        if c == "\\":
            nxt = self.peek()
            self.i += 1
            if nxt in _SIMPLE_ESCAPES:
                return ("class", _class_chars(_SIMPLE_ESCAPES[nxt]))
            if nxt.isalnum():
                raise _Unsupported  # \b, \s, backreferences...
            return nxt
        if c == "[":
            end = self.s.find("]", self.i + 1 if self.s[self.i : self.i + 1] == "]" else self.i)
            if end < 0:
                raise _Unsupported
            body = self.s[self.i : end]
            if body.startswith("^"):
                raise _Unsupported  # "anything but ...": not said simply
            self.i = end + 1
            return ("class", _class_chars(body))
        if c == ".":
            return ("class", None)
        if c == "(":
            if self.s.startswith("?:", self.i):
                self.i += 2
            elif self.peek() == "?":
                raise _Unsupported  # lookarounds, named groups
            inner = self.sequence(depth + 1)
            if self.peek() != ")":
                raise _Unsupported
            self.i += 1
            return inner
        if c in "*+?{|)":
            raise _Unsupported
        return c


def describe_pattern(regex: str) -> str | None:
    """The pattern in words (see the module docstring), or None when it is too involved to describe."""
    try:
        return _Reader(regex).sequence() or None
    except (_Unsupported, IndexError):
        return None

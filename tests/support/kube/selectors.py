"""Label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors (=, ==, !=) as the API parses them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.support.kube.errors import ApiError

_SET_RE = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if depth != 0:
        raise ApiError.bad_request(f"unable to parse requirement: unbalanced parentheses in {text!r}")
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse_labels(text: str | None) -> list[tuple[str, str, frozenset[str]]]:
    """`a=b,c!=d,e in (f,g),!h` -> [(key, op, values)] with op in = != in notin exists !exists."""
    requirements = []
    for part in _split(text or ""):
        if m := _SET_RE.match(part):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            requirements.append((m.group(1), m.group(2), values))
        elif m := _EQ_RE.match(part):
            op = "!=" if m.group(2) == "!=" else "="
            requirements.append((m.group(1), op, frozenset([m.group(3)])))
        elif m := _EXISTS_RE.match(part):
            requirements.append((m.group(2), "!exists" if m.group(1) else "exists", frozenset()))
        else:
            raise ApiError.bad_request(f"unable to parse requirement: {part.strip()!r}")
    return requirements


def parse_fields(text: str | None) -> list[tuple[str, str, str]]:
    """`metadata.name=x,status.phase!=Running` -> [(path, op, value)]."""
    requirements = []
    for part in _split(text or ""):
        m = _EQ_RE.match(part)
        if not m:
            raise ApiError.bad_request(f"invalid selector: {part.strip()!r}; can't understand it")
        requirements.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return requirements


def field_value(obj: dict, path: str) -> str:
    value = obj
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Selector:
    labels: tuple = ()
    fields: tuple = ()

    @classmethod
    def parse(cls, label_selector: str | None = None, field_selector: str | None = None) -> Selector:
        return cls(tuple(parse_labels(label_selector)), tuple(parse_fields(field_selector)))

    def matches(self, obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for key, op, values in self.labels:
            present = key in labels
            if op == "exists" and not present:
                return False
            if op == "!exists" and present:
                return False
            if op in ("=", "in") and (not present or labels[key] not in values):
                return False
            if op in ("!=", "notin") and present and labels[key] in values:
                return False
        for path, op, value in self.fields:
            if (field_value(obj, path) == value) != (op == "="):
                return False
        return True

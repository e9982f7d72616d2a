"""Label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors (=, ==, !=) as the API parses them.

Field selectors accept only the fields the real API server indexes for each kind (metadata.name and
metadata.namespace for all; more for pods, events, secrets, services, namespaces); any other field is a
400 BadRequest "field label not supported", as kube-apiserver 1.33 answers.
"""

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


# The field labels kube-apiserver 1.33 supports, by resource (pkg/registry/core/*/strategy.go).
SUPPORTED_FIELDS = {
    "pods": {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    },
    "events": {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "secrets": {"type"},
    "services": {"spec.clusterIP", "spec.type"},
    "namespaces": {"status.phase"},
}
COMMON_FIELDS = {"metadata.name", "metadata.namespace"}


def parse_fields(text: str | None, plural: str | None = None) -> list[tuple[str, str, str]]:
    """`metadata.name=x,status.phase!=Running` -> [(path, op, value)]; only supported fields of `plural`."""
    requirements = []
    for part in _split(text or ""):
        m = _EQ_RE.match(part)
        if not m:
            raise ApiError.bad_request(f"invalid selector: {part.strip()!r}; can't understand it")
        path = m.group(1)
        if plural is not None and path not in COMMON_FIELDS | SUPPORTED_FIELDS.get(plural, set()):
            raise ApiError.bad_request(f"field label not supported: {path[:100]}")
        requirements.append((path, "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return requirements


_FIELD_PATHS = {"source": "source.component"}  # what the server's field label stands for


def field_value(obj: dict, path: str) -> str:
    path = _FIELD_PATHS.get(path, path)
    value = obj
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Selector:
    labels: tuple = ()
    fields: tuple = ()

    @classmethod
    def parse(
        cls,
        label_selector: str | None = None,
        field_selector: str | None = None,
        *,
        plural: str | None = None,
    ) -> Selector:
        """`plural`: the resource listed, whose supported field labels limit the field selector."""
        return cls(tuple(parse_labels(label_selector)), tuple(parse_fields(field_selector, plural)))

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

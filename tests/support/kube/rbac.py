"""RBAC as kube-apiserver enforces a namespaced Role bound to a service account: verbs on resources.

`grant(token, rules, user)` binds the rules of a Role (rbac.authorization.k8s.io/v1 `rules`) to the
client presenting that bearer token; every other client is a cluster admin (the tests' own). A request
the rules do not allow is a 403 Forbidden with the API server's message. Discovery is open to all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.kube.errors import ApiError


@dataclass(frozen=True)
class Rule:
    api_groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]

    def allows(self, verb: str, resource: str, group: str = "") -> bool:
        return (
            (group in self.api_groups or "*" in self.api_groups)
            and (resource in self.resources or "*" in self.resources)
            and (verb in self.verbs or "*" in self.verbs)
        )


@dataclass(frozen=True)
class Subject:
    user: str  # e.g. system:serviceaccount:datalab:hub
    namespace: str  # a Role's rules apply in its own namespace only
    rules: tuple[Rule, ...]


def rules_of(role: dict) -> tuple[Rule, ...]:
    """The rules of a Role object, as data."""
    return tuple(
        Rule(frozenset(r.get("apiGroups") or []), frozenset(r.get("resources") or []), frozenset(r["verbs"]))
        for r in role.get("rules") or []
    )


def role_from_template(path: Path) -> dict:
    """The Role in a Helm template whose rules are literal YAML (template lines dropped, values blanked)."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("{{"):
            continue
        lines.append(re.sub(r"\{\{.*?\}\}", "templated", line))
    for doc in yaml.safe_load_all("\n".join(lines)):
        if doc and doc.get("kind") == "Role":
            return doc
    raise LookupError(f"no Role in {path}")


def verb_of(method: str, named: bool, watch: bool) -> str:
    """The RBAC verb of an HTTP request on a resource."""
    if method == "GET":
        return "get" if named else ("watch" if watch else "list")
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def authorize(subject: Subject | None, verb: str, resource: str, namespace: str, name: str | None) -> None:
    """Raise 403 unless `subject` (None: a cluster admin) may `verb` the `resource` in `namespace`."""
    if subject is None:
        return
    if namespace == subject.namespace and any(r.allows(verb, resource) for r in subject.rules):
        return
    plural = resource.split("/")[0]
    what = f'{plural} "{name}"' if name else plural
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    raise ApiError(
        403,
        "Forbidden",
        f'{what} is forbidden: User "{subject.user}" cannot {verb} resource "{resource}" in API group "" {where}',
        {"name": name, "kind": plural} if name else {"kind": plural},
    )

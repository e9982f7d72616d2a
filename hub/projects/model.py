"""Which of a user's IdP groups are projects, and where each project lives: pure functions on plain data.

A `ProjectRules` (from the `Projects` settings) says which groups are projects (a list, a prefix, or both)
and how a project's name becomes its bucket, prefix and Vault folder. Group names come from the IdP and may
hold anything: a name is mapped (lowercase, runs of other characters become '-') or refused with a message
that names the group. The same rules are read by the hub (what to show and mint), by `datalab up` (the
server policies of each project) and by the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_SHOWN = 80  # characters of a group name quoted in a message


class ProjectError(ValueError):
    """Settings or a group that cannot make a project; the message says which and why."""


def shown(text: str) -> str:
    """A group name from the IdP, bounded and escaped, for a message or a log line."""
    text = str(text)
    return repr(text[:MAX_SHOWN] + ("..." if len(text) > MAX_SHOWN else ""))


@dataclass(frozen=True)
class Project:
    """One project: the IdP group that makes it, where its data lives, the folder shown in `s3/`."""

    name: str
    group: str
    bucket: str
    prefix: str
    vault_dir: str

    @property
    def folder(self) -> str:
        return f"project-{self.name}"

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "group": self.group,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "vault_dir": self.vault_dir,
            "folder": self.folder,
        }


@dataclass(frozen=True)
class ProjectRules:
    """Which groups are projects and where they live (the `Projects` settings, as plain data)."""

    groups: tuple[str, ...] = ()
    group_prefix: str = ""
    names: dict[str, str] = field(default_factory=dict)  # group -> project name, overriding the mapping
    bucket_template: str = "project-{project}"
    prefix_template: str = ""
    vault_dir_template: str = "projects/{project}"

    @property
    def enabled(self) -> bool:
        return bool(self.groups or self.group_prefix)

    def is_project_group(self, group: str) -> bool:
        return group in self.groups or bool(self.group_prefix and group.startswith(self.group_prefix))


def map_name(group: str, prefix: str = "") -> str:
    """A project name from a group name: the prefix removed, lowercase, other characters as '-'."""
    base = group[len(prefix) :] if prefix and group.startswith(prefix) else group
    name = re.sub(r"[^a-z0-9]+", "-", base.strip("/").lower()).strip("-")
    if not NAME_RE.match(name):
        raise ProjectError(
            f"group {shown(group)} cannot be a project: its name maps to {shown(name)}, and a project name must "
            "be 1-40 lowercase letters, digits or '-' (set Projects.names to name it)"
        )
    return name


def _format(template: str, name: str, what: str) -> str:
    try:
        return template.format(project=name)
    except (KeyError, IndexError, ValueError) as e:
        raise ProjectError(f"Projects.{what} {template!r}: only {{project}} may be used ({e})") from None


def project_of(rules: ProjectRules, group: str) -> Project:
    """The project a group makes; ProjectError naming the group when its name or bucket is not valid."""
    name = rules.names.get(group) or map_name(group, rules.group_prefix)
    if not NAME_RE.match(name):
        raise ProjectError(f"Projects.names gives group {shown(group)} the name {name!r}, not a valid name")
    bucket = _format(rules.bucket_template, name, "bucket_template")
    if not BUCKET_RE.match(bucket) or ".." in bucket:
        raise ProjectError(f"group {shown(group)}: {bucket!r} is not a valid bucket name (bucket_template)")
    prefix = _format(rules.prefix_template, name, "prefix_template").strip("/")
    vault_dir = _format(rules.vault_dir_template, name, "vault_dir_template").strip("/")
    if any(p in ("", ".", "..") for p in vault_dir.split("/")) or any(
        p in (".", "..") for p in prefix.split("/")
    ):
        raise ProjectError(
            f"group {shown(group)}: the prefix or Vault folder of project {name!r} is not valid"
        )
    return Project(name, group, bucket, prefix + "/" if prefix else "", vault_dir)


def _overlap(a: Project, b: Project) -> bool:
    return a.bucket == b.bucket and (a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix))


def resolve(rules: ProjectRules, groups: Iterable[str]) -> tuple[list[Project], list[str]]:
    """The projects among `groups`, sorted by name, and one message per group refused.

    Two groups that map to the same project name, bucket or folder are both refused: neither may reach
    the other's data by being named like it.
    """
    found: list[Project] = []
    problems: list[str] = []
    for group in sorted(set(groups)):
        if not rules.is_project_group(group):
            continue
        try:
            found.append(project_of(rules, group))
        except ProjectError as e:
            problems.append(str(e))
    clashing: set[int] = set()
    for i, a in enumerate(found):
        for j in range(i + 1, len(found)):
            b = found[j]
            if a.name == b.name or _overlap(a, b) or a.vault_dir == b.vault_dir:
                clashing |= {i, j}
                problems.append(
                    f"groups {shown(a.group)} and {shown(b.group)} map to the same project location "
                    f"(s3://{a.bucket}/{a.prefix} and s3://{b.bucket}/{b.prefix}): both are refused"
                )
    kept = [p for i, p in enumerate(found) if i not in clashing]
    return sorted(kept, key=lambda p: p.name), problems


def check_rules(rules: ProjectRules, known_groups: Iterable[str] = ()) -> list[Project]:
    """At start: the listed (and known) groups' projects, or ProjectError naming every problem.

    Refused: templates that are not valid or that give every project one location (two projects on one
    bucket), a listed group whose name cannot be mapped, and two groups that map to one location.
    """
    if rules.enabled:
        probe = ProjectRules(
            names={"a": "probe-a", "b": "probe-b"},
            groups=("a", "b"),
            bucket_template=rules.bucket_template,
            prefix_template=rules.prefix_template,
            vault_dir_template=rules.vault_dir_template,
        )
        a, b = project_of(probe, "a"), project_of(probe, "b")
        if _overlap(a, b) or a.vault_dir == b.vault_dir:
            raise ProjectError(
                "Projects.bucket_template and prefix_template (or vault_dir_template) give every project "
                f"the same location (s3://{a.bucket}/{a.prefix}, {a.vault_dir}): put {{project}} in them"
            )
    projects, problems = resolve(rules, [*rules.groups, *known_groups])
    if problems:
        raise ProjectError("; ".join(problems))
    return projects

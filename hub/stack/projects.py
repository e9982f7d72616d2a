"""The projects of the one-machine datalab: every group of the IdP's accounts named `project-*`.

`datalab up` gives each one its server policies (SeaweedFS roles and statements, OpenBao policy, group and
role) at start; the hub finds the same projects in users' tokens. A group added later gets its policies at
the next start: until then its members are told that the S3 server is not set up for it.
"""

from __future__ import annotations

from ..projects.model import Project, ProjectRules, resolve
from . import seaweed
from .users import all_groups

RULES = ProjectRules(group_prefix=seaweed.PROJECT_PREFIX)


def known_projects(users: dict) -> tuple[list[Project], list[str]]:
    """The projects of the IdP's accounts, and one message per group that cannot be one."""
    return resolve(RULES, all_groups(users))

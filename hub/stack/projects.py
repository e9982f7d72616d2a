"""The projects of the one-machine datalab (every group of the IdP's accounts named `project-*`) and the
event datasets of its catalog.

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


def catalog_datasets(catalog_dir: str = "") -> list[dict]:
    """The event datasets of the catalog the hub will serve, with who reads and who writes each one
    (`datalab up` gives them their S3 statements; a catalog that does not load gives none: the hub
    reports it at start)."""
    from spawner.catalog import CatalogError, default_catalog_dir, load_catalog

    try:
        catalog = load_catalog(catalog_dir or default_catalog_dir())
    except CatalogError:
        return []
    found = []
    for plist in catalog.lists.values():
        readers = sorted({*plist.groups, *plist.organiser_groups})
        for d in plist.datasets:
            found.append(
                {
                    "bucket": d.bucket,
                    "prefix": d.prefix,
                    "readers": readers,
                    "writers": list(plist.organiser_groups),
                }
            )
    return found

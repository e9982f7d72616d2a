"""JupyterHub roles for the organisers of profile lists: one role per list that names organiser groups.

The role `datalab-organise-<list>` is given to the list's `organiser_groups`, with scopes filtered to the
list's participant groups: they may read those users and their servers and stop them (`delete:servers`:
not start them, not read their servers' state, not act as them). The organiser
page (hub.organise) further acts only on servers started *from that list*.

At startup the roles come from `c.JupyterHub.load_roles` (so JupyterHub creates the groups and removes
roles of lists that are gone); when the catalog is reloaded, `sync_roles` updates the database in place.
"""

from __future__ import annotations

import logging
from typing import Any

from jupyterhub import orm, roles

PREFIX = "datalab-organise-"

log = logging.getLogger("JupyterHub")

_synced: Any = None  # the catalog the database's organiser roles were last made from


def roles_made_from(catalog: Any) -> None:
    """Record that the roles match `catalog` (at startup JupyterHub makes them from load_roles)."""
    global _synced
    _synced = catalog


def sync_roles_if_changed(db: Any, catalog: Any) -> None:
    """`sync_roles` once per catalog object: cheap enough to call on every organiser page."""
    if _synced is not catalog:
        sync_roles(db, catalog)
        roles_made_from(catalog)


def role_name(list_name: str) -> str:
    return PREFIX + list_name


def role_specs(catalog: Any) -> list[dict[str, Any]]:
    """One load_roles entry per list with organisers (pure: catalog -> plain dicts)."""
    specs = []
    for name, plist in sorted(catalog.lists.items()):
        if not plist.organiser_groups:
            continue
        scopes = []
        for group in plist.groups:
            scopes += [
                f"read:users!group={group}",
                f"read:servers!group={group}",
                f"delete:servers!group={group}",
            ]
        specs.append(
            {
                "name": role_name(name),
                "description": f"Organise the profile list {name!r}: see and stop its participants' servers",
                "scopes": scopes,
                "groups": sorted(plist.organiser_groups),
            }
        )
    return specs


def merge_into_load_roles(existing: list[dict], specs: list[dict]) -> list[dict]:
    """`c.JupyterHub.load_roles` with our roles replacing any of the same name."""
    ours = {s["name"] for s in specs}
    return [r for r in existing if r.get("name") not in ours] + specs


def sync_roles(db: Any, catalog: Any) -> bool:
    """Make the database's organiser roles match the catalog (a reload); True if anything changed."""
    wanted = {s["name"]: s for s in role_specs(catalog)}
    changed = False
    for role in db.query(orm.Role).filter(orm.Role.name.startswith(PREFIX)).all():
        if role.name not in wanted:
            log.info("Removing role %s: its profile list has no organisers any more", role.name)
            db.delete(role)
            changed = True
    for name, spec in wanted.items():
        role = orm.Role.find(db, name)
        if role is None or sorted(role.scopes) != sorted(spec["scopes"]):
            role = roles.create_role(db, {k: v for k, v in spec.items() if k != "groups"}, commit=False)
            changed = True
        groups = []
        for group_name in spec["groups"]:
            group = orm.Group.find(db, group_name)
            if group is None:
                group = orm.Group(name=group_name)
                db.add(group)
            groups.append(group)
        if sorted(g.name for g in role.groups) != sorted(g.name for g in groups):
            role.groups = groups
            changed = True
    if changed:
        db.commit()
        log.info("Organiser roles updated from the catalog: %s", ", ".join(sorted(wanted)) or "none")
    return changed

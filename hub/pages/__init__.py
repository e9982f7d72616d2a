"""The Datalab pages on the hub: launch links, the organiser page, sharing. `hub.configure(c)` calls
`configure_pages(c)`, after the catalog check (and after any `c.JupyterHub.load_roles = [...]` of your own).

It registers (under /hub/): `datalab/launch[/{server}]` (launch), `datalab/organise[/{list}]`
(organise), `datalab/share[/{server}]` (sharing), `datalab/services/...` (the actions of My services,
the hub's home: services), `datalab/admin/services` (every user's servers, for admins: admin); adds
templates/ to the template path (JupyterHub's pages with the Datalab ones: home, spawn, login...); creates one
role per profile list with organisers (roles) and keeps them in step with catalog reloads; gives the
`user` role the scopes sharing needs (sharing.USER_SCOPES) unless `sharing_scopes=False`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..catalog import source_for
from ..user_role import extend_user_role
from . import admin, launch, organise, services, sharing
from .roles import merge_into_load_roles, role_specs, roles_made_from, sync_roles_if_changed

TEMPLATES = Path(__file__).parent / "templates"
# The landing page's texts (login.html); an operator sets their own in c.JupyterHub.template_vars.
BRANDING = {
    "datalab_name": "Datalab",
    "datalab_tagline": "Data science in your browser: pick a service, get to work, your data and secrets wired in.",
    "datalab_about": "",
}
log = logging.getLogger("JupyterHub")


class OrganisesAnything:
    """`template_vars["datalab_organises"]`: whether the page's user organises a list (the nav bar link)."""

    def __init__(self, source_factory):
        self.source_factory = source_factory

    def __call__(self, user: Any) -> bool:
        catalog = self.source_factory().catalog
        return bool(user is not None and catalog is not None and organise.organised_lists(catalog, user))


class MyServicesOf:
    """`template_vars["datalab_services"]`: the page's user's servers for home.html (hub.pages.services)."""

    def __init__(self, source_factory, config):
        self.source_factory, self.config = source_factory, config

    def expiration_of(self, username: str) -> str | None:
        from ..credentials.broker import get_broker

        return get_broker(self.config).latest_expiration(username)

    def __call__(self, user: Any) -> services.MyServices:
        return services.MyServices(user, self.source_factory, self.expiration_of)


async def _keep_roles_in_step(source_factory, catalog: Any, interval: float) -> None:
    """After a catalog reload, update the organiser roles in the hub's database (once the hub runs)."""
    from jupyterhub.app import JupyterHub

    synced = catalog
    while True:
        await asyncio.sleep(max(interval, 1.0))
        try:
            app = JupyterHub.instance()
            current = source_factory().catalog
            if getattr(app, "http_server", None) is None or current is None or current is synced:
                continue  # not started yet (JupyterHub loads the roles itself) or nothing new
            sync_roles_if_changed(app.db, current)
            synced = current
        except Exception:
            log.exception("Updating the organiser roles after a catalog reload failed")


_task: asyncio.Task | None = None


def configure_pages(c: Any, *, sharing_scopes: bool = True) -> None:
    """Register the pages, their templates and roles in the JupyterHub config `c` (see module docstring)."""
    global _task

    def source_factory():
        return source_for(c)

    c.JupyterHub.extra_handlers = [
        *list(c.JupyterHub.get("extra_handlers", [])),
        *launch.HANDLERS,
        *organise.handlers(source_factory),
        *sharing.HANDLERS,
        *services.HANDLERS,
        *admin.HANDLERS,
    ]
    paths = list(c.JupyterHub.get("template_paths", []))
    if str(TEMPLATES) not in paths:
        c.JupyterHub.template_paths = [*paths, str(TEMPLATES)]
    template_vars = dict(c.JupyterHub.template_vars) if "template_vars" in c.JupyterHub else {}
    template_vars["datalab_organises"] = OrganisesAnything(source_factory)
    template_vars["datalab_services"] = MyServicesOf(source_factory, c)
    for key, value in BRANDING.items():
        template_vars.setdefault(key, value)  # the operator's own, set before hub.configure, win
    c.JupyterHub.template_vars = template_vars
    catalog = source_factory().get()  # configure_catalog already refused an invalid one
    c.JupyterHub.load_roles = merge_into_load_roles(
        list(c.JupyterHub.get("load_roles", [])), role_specs(catalog)
    )
    roles_made_from(catalog)
    if sharing_scopes:
        extend_user_role(c, sharing.USER_SCOPES)
        sharing.fix_group_share_tokens()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # not inside the hub (a test of the config): no reload to follow
    if _task is None or _task.done():
        _task = loop.create_task(
            _keep_roles_in_step(source_factory, catalog, source_factory().check_interval)
        )

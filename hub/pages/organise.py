"""The organiser page: `/hub/datalab/organise` (the lists you organise) and `/hub/datalab/organise/{list}`.

For members of a list's `organiser_groups` (and admins): the participants (members of the list's groups),
the servers started *from that list* (service, start, last activity, cpu/memory/gpu), buttons to stop one
or all of them, a CSV export, the list's launch links and the problems of a refused change to its file.

Two checks guard every server shown or stopped: the list's organisers only (catalog), and JupyterHub's
scopes (the role from hub.pages.roles: `delete:servers!group=<participants>`), so an organiser of one
list can neither see nor stop the servers of another list's users (403). Which list a server came from
is the capacity record of the spawners (spawner.runtime.capacity.servers_from, kept in their state).
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jupyterhub import orm
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.utils import url_escape_path, url_path_join
from tornado import web

from spawner.runtime.capacity import servers_from

from ..catalog import problems_for
from .launch import launch_url
from .roles import sync_roles_if_changed

CSV_COLUMNS = ("user", "server", "service", "status", "started", "last_activity", "cpu", "memory_gib", "gpu")


@dataclass(frozen=True)
class ServerRow:
    user: str
    server: str
    service: str
    status: str
    started: datetime | None
    last_activity: datetime | None
    cpu: float
    memory_gib: float | None
    gpu: int

    @property
    def key(self) -> str:
        return f"{self.user}/{self.server}"

    def csv_values(self) -> list[str]:
        def when(t):
            return t.isoformat(timespec="seconds") + ("Z" if t and t.tzinfo is None else "") if t else ""

        mem = "" if self.memory_gib is None else f"{self.memory_gib:g}"
        return [self.user, self.server, self.service, self.status, when(self.started),
                when(self.last_activity), f"{self.cpu:g}", mem, str(self.gpu)]  # fmt: skip


def user_groups(user: Any) -> set[str]:
    return {getattr(g, "name", g) for g in (getattr(user, "groups", None) or [])}


def may_organise(user: Any, plist: Any) -> bool:
    """Admins, and members of the list's organiser groups."""
    return bool(getattr(user, "admin", False)) or bool(user_groups(user) & set(plist.organiser_groups))


def organised_lists(catalog: Any, user: Any) -> list[str]:
    return [name for name, plist in sorted(catalog.lists.items()) if may_organise(user, plist)]


def rows_csv(rows: list[ServerRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(row.csv_values())
    return out.getvalue()


def _status(spawner: Any) -> str:
    if spawner is None:
        return "unknown"
    if spawner.pending:
        return str(spawner.pending)  # spawn / stop / check
    return "running" if spawner.ready else "stopped"


def server_row(usage: Any, spawner: Any) -> ServerRow:
    """One server of the list, from its ledger entry and (when the hub holds it) its spawner."""
    orm_spawner = getattr(spawner, "orm_spawner", None)
    plan = getattr(spawner, "plan", None)
    memory = getattr(plan, "memory_gib", None)
    if memory is None:
        raw = (getattr(spawner, "user_options", None) or {}).get("memory")
        try:
            memory = float(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            memory = None
    return ServerRow(
        user=usage.user,
        server=usage.server,
        service=usage.service,
        status=_status(spawner),
        started=getattr(orm_spawner, "started", None),
        last_activity=getattr(orm_spawner, "last_activity", None),
        cpu=float(usage.cpu),
        memory_gib=memory,
        gpu=int(usage.gpu),
    )


class _CatalogPages(BaseHandler):
    """Shared by the organiser handlers: the hub's catalog source and the role sync after a reload."""

    def initialize(self, source_factory):
        self._source_factory = source_factory

    def catalog_and_source(self):
        source = self._source_factory()
        try:
            catalog = source.get()
        except Exception:  # never loaded a valid catalog: the hub would not have started
            raise web.HTTPError(503, "The service catalog is not available.") from None
        sync_roles_if_changed(self.db, catalog)
        return catalog, source

    def plist_for(self, catalog, name: str):
        plist = catalog.lists.get(name)
        if plist is None:
            raise web.HTTPError(404, f"No profile list {name!r}")
        if not may_organise(self.current_user, plist):
            raise web.HTTPError(403, f"You are not an organiser of the profile list {name!r}")
        return plist

    def rows(self, name: str, *, scope: str = "read:servers") -> list[ServerRow]:
        """The list's servers the current user's scopes cover."""
        out = []
        for usage, spawner in servers_from(name):
            if self.has_scope(f"{scope}!server={usage.user}/{usage.server}"):
                out.append(server_row(usage, spawner))
        return out

    def participants(self, plist) -> list[dict[str, Any]]:
        names: dict[str, set[str]] = {}
        for group_name in plist.groups:
            group = orm.Group.find(self.db, group_name)
            for member in group.users if group is not None else []:
                if self.has_scope(f"read:users:name!user={member.name}"):
                    names.setdefault(member.name, set()).add(group_name)
        return [{"name": n, "groups": sorted(g)} for n, g in sorted(names.items())]


class OrganiseIndexHandler(_CatalogPages):
    """GET: the lists the current user organises (everything for admins), and catalog problems."""

    @web.authenticated
    async def get(self):
        catalog, source = self.catalog_and_source()
        user = self.current_user
        lists = [
            {"name": n, "display_name": catalog.lists[n].display_name, "servers": len(servers_from(n))}
            for n in organised_lists(catalog, user)
        ]
        if not lists and not user.admin:
            raise web.HTTPError(403, "You are not an organiser of any profile list")
        page = await self.render_template(
            "datalab_organise_index.html",
            lists=lists,
            problems=[str(p) for p in problems_for(user, [source])],
        )
        self.finish(page)


class OrganiseListHandler(_CatalogPages):
    """GET the page of one list (or `/servers.csv`); POST `stop` with `server=user/name`... or `all=1`."""

    @web.authenticated
    async def get(self, name: str, what: str | None = None):
        if what not in (None, "servers"):
            raise web.HTTPError(405)
        catalog, source = self.catalog_and_source()
        plist = self.plist_for(catalog, name)
        rows = self.rows(name)
        if what == "servers":
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", f'attachment; filename="{name}-servers.csv"')
            return self.finish(rows_csv(rows))
        problems = [str(p) for p in problems_for(self.current_user, [source]) if Path(p.file).stem == name]
        base = self.hub.base_url
        origin = f"{self.request.protocol}://{self.request.host}"  # links are handed out: absolute
        links = [
            {
                "service": slug,
                "url": origin + launch_url(base, {"service": slug}),
                "start": origin + launch_url(base, {"service": slug}, autostart=True),
            }  # fmt: skip
            for slug in sorted(plist.services)
        ]
        page = await self.render_template(
            "datalab_organise.html",
            list_name=name,
            plist=plist,
            rows=rows,
            participants=self.participants(plist),
            problems=problems,
            links=links,
            stopped=self.get_argument("stopped", ""),
            stop_url=url_path_join(base, "datalab/organise", url_escape_path(name), "stop"),
            csv_url=url_path_join(base, "datalab/organise", url_escape_path(name), "servers.csv"),
        )
        self.finish(page)

    @web.authenticated
    async def post(self, name: str, action: str | None = None):
        if action != "stop":
            raise web.HTTPError(404)
        catalog, _ = self.catalog_and_source()
        self.plist_for(catalog, name)
        from_list = {f"{u.user}/{u.server}": u for u, _ in servers_from(name)}
        if self.get_argument("all", ""):
            keys = [k for k in sorted(from_list) if self.has_scope(f"delete:servers!server={k}")]
        else:
            keys = self.get_arguments("server")
            if not keys:
                raise web.HTTPError(400, "Say which server to stop (server=USER/NAME) or all=1")
        for key in keys:
            if key not in from_list:
                raise web.HTTPError(403, f"{key!r} is not a running server started from the list {name!r}")
            if not self.has_scope(f"delete:servers!server={key}"):
                raise web.HTTPError(403, f"You may not stop the server {key!r}")
        stopped = await asyncio.gather(*(self._stop(from_list[k]) for k in keys))
        self.log.info("%s stopped %d server(s) of the list %s", self.current_user.name, sum(stopped), name)
        self.redirect(url_path_join(self.hub.base_url, "datalab/organise", url_escape_path(name)) + (
            f"?stopped={sum(stopped)}"))  # fmt: skip

    async def _stop(self, usage) -> bool:
        user = self.find_user(usage.user)
        if user is None or usage.server not in user.spawners:
            return False
        spawner = user.spawners[usage.server]
        if spawner.pending or not spawner.active:
            return False  # starting or stopping already: not ours to interrupt
        await self.stop_single_user(user, usage.server)
        return True


def handlers(source_factory) -> list[tuple]:
    kw = {"source_factory": source_factory}
    return [
        (r"/datalab/organise/?", OrganiseIndexHandler, kw),
        (r"/datalab/organise/([a-z0-9-]+)/?", OrganiseListHandler, kw),
        (r"/datalab/organise/([a-z0-9-]+)/(servers)\.csv", OrganiseListHandler, kw),
        (r"/datalab/organise/([a-z0-9-]+)/(stop)", OrganiseListHandler, kw),
    ]

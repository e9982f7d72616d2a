"""My services: the hub's home for Datalab users, one card per server (default and named).

`home.html` (templates/) renders `datalab_services` (a template variable: `MyServices(user)`), so
JupyterHub's own `/hub/home` is the page; nothing is read until the template asks. A card says the
service and its icon, image, resources, PostgreSQL, git repository, when it started and was last active,
until when its credentials are valid (the broker's latest for the user: sessions renew theirs through
the hub), and, while it starts or after it failed, the progress steps, the reason and the last lines of
the session's log (`session_log_tail`: one machine, the session's log file; Kubernetes, the pod's events
from KubeSpawner's event reflector, which the chart's hub Role allows; pods/log it does not).

Actions: open; stop and restart with the same options (POST `/hub/datalab/services/{stop,restart}`, no
JavaScript needed; restart follows the server's launch link with `autostart=1`, so the options are
validated again against today's catalog); delete (JupyterHub's REST API, from the page's script); copy
the launch link; share (the share page). A new named server goes straight to the catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jupyterhub.handlers.base import BaseHandler
from jupyterhub.utils import format_exception, url_escape_path, url_path_join
from tornado import web

from .launch import launch_url

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$", re.ASCII)


@dataclass(frozen=True)
class ServerView:
    """One card of My services (and one row of the admin page), plain data."""

    user: str
    name: str  # "" for the default server
    status: str  # running | starting | stopping | failed | stopped
    service: str = ""
    service_name: str = ""
    icon: str = ""
    image: str = ""
    cpu: Any = None
    memory: Any = None
    gpu: Any = None
    storage: Any = None
    postgres: bool = False
    git_repository: str = ""
    started: datetime | None = None
    last_activity: datetime | None = None
    credentials_until: str = ""
    steps: tuple[str, ...] = ()
    failure: str = ""
    log_lines: tuple[str, ...] = ()
    log_title: str = "Last lines of the session's log"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or "Default server"

    @property
    def resources(self) -> str:
        parts = []
        if self.cpu not in (None, ""):
            parts.append(f"{_num(self.cpu)} CPU")
        if self.memory not in (None, ""):
            parts.append(f"{_num(self.memory)} GiB memory")
        if self.gpu not in (None, "", 0, "0"):
            parts.append(f"{_num(self.gpu)} GPU")
        if self.storage not in (None, ""):
            parts.append(f"{_num(self.storage)} GiB home")
        return " · ".join(parts)


def _num(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def status_of(spawner: Any) -> str:
    """running | starting | stopping | failed | stopped, from JupyterHub's spawner (or its orm row)."""
    pending = getattr(spawner, "pending", None)
    if pending == "spawn":
        return "starting"
    if pending == "stop":
        return "stopping"
    if getattr(spawner, "ready", False):
        return "running"
    future = getattr(spawner, "_spawn_future", None)
    if future is not None and future.done() and not future.cancelled() and future.exception() is not None:
        return "failed"
    return "stopped"


def failure_of(spawner: Any) -> str:
    future = getattr(spawner, "_spawn_future", None)
    if future is None or not future.done() or future.cancelled() or future.exception() is None:
        return ""
    message, _ = format_exception(future.exception())
    return message or "The server failed to start."


def plan_of(spawner: Any, options: dict[str, Any], validate=None) -> Any:
    """The server's launch plan: the current or last spawn's, else its options validated against today's
    catalog (a server started before the hub restarted); None when they no longer validate."""
    plan = getattr(spawner, "plan", None) or getattr(spawner, "last_plan", None)
    validate = validate or getattr(spawner, "validate", None)
    if plan is None and options and callable(validate):
        try:
            plan = validate(options)
        except Exception:
            plan = None
    return plan


def server_view(
    user_name: str, spawner: Any, offers: dict[str, Any], credentials_until: str = "", validate=None
) -> ServerView:
    """A server's card from its spawner (or orm row: a stopped server), the user's offers by service."""
    orm = getattr(spawner, "orm_spawner", spawner)
    options = dict(getattr(spawner, "user_options", None) or getattr(orm, "user_options", None) or {})
    plan = plan_of(spawner, options, validate)
    service = (plan.service if plan else None) or str(options.get("service") or "")
    offer = offers.get(service)
    status = status_of(spawner)
    tail = getattr(spawner, "session_log_tail", None)
    show_details = status in ("starting", "failed")
    return ServerView(
        user=user_name,
        name=orm.name or "",
        status=status,
        service=service,
        service_name=(plan.service_display_name if plan else None)
        or (offer.display_name if offer else service),
        icon=offer.icon if offer and offer.icon.startswith(("data:image/", "https://", "/")) else "",
        image=(plan.image if plan else None) or str(options.get("image") or ""),
        cpu=plan.cpu if plan else options.get("cpu"),
        memory=plan.memory_gib if plan else options.get("memory"),
        gpu=plan.gpu if plan else options.get("gpu"),
        storage=plan.storage_gib if plan else options.get("storage"),
        postgres=bool(plan.postgres) if plan else options.get("postgres") in (True, "true", "on", "1", "yes"),
        git_repository=(plan.git_repository if plan else options.get("git_repository")) or "",
        started=getattr(orm, "started", None),
        last_activity=getattr(orm, "last_activity", None),
        credentials_until=credentials_until if status == "running" else "",
        steps=tuple(getattr(spawner, "progress_log", ()) or ()) if show_details else (),
        failure=failure_of(spawner) if status == "failed" else "",
        log_lines=tuple(tail()) if show_details and callable(tail) else (),
        log_title=getattr(spawner, "session_log_title", None) or "Last lines of the session's log",
        options=options,
    )


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """'5 minutes ago' for the cards (JupyterHub's times are naive UTC)."""
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def _clock(iso: str | None) -> str:
    if not iso:
        return ""
    when = datetime.fromisoformat(iso).astimezone(UTC)
    same_day = when.date() == datetime.now(UTC).date()
    return when.strftime("%H:%M UTC" if same_day else "%Y-%m-%d %H:%M UTC")


class MyServices:
    """`template_vars["datalab_services"]`: the current user's cards, computed when the template asks."""

    def __init__(self, user: Any, source_factory, expiration_of=None):
        self.user = user
        self._source_factory = source_factory
        self._expiration_of = expiration_of or (lambda name: None)

    def offers(self) -> dict[str, Any]:
        try:
            spawner = self.user.spawner
            return {o.service: o for o in spawner.offers()}
        except Exception:  # not a catalog spawner, or no catalog: cards without icons
            return {}

    @property
    def servers(self) -> list[ServerView]:
        if self.user is None:
            return []
        offers = self.offers()
        until = _clock(self._expiration_of(self.user.name))
        validate = getattr(self.user.spawner, "validate", None)
        views = []
        for name, orm_spawner in sorted(self.user.orm_user.orm_spawners.items()):
            if name and not self.user.allow_named_servers:
                continue
            spawner = self.user.spawners[name] if name in self.user.spawners else orm_spawner
            views.append(server_view(self.user.name, spawner, offers, until, validate))
        if not any(v.name == "" for v in views):
            views.insert(0, ServerView(user=self.user.name, name="", status="stopped"))
        return views

    @staticmethod
    def ago(when: datetime | None) -> str:
        return ago(when)

    def links(self, view: ServerView, base_url: str, origin: str = "") -> dict[str, str]:
        """The card's URLs: open, catalog (start), pending, launch link, share."""
        user = url_escape_path(self.user.name)
        name = url_escape_path(view.name)
        options = {k: v for k, v in view.options.items() if v is not None}
        return {
            "open": self.user.server_url(view.name),
            "start": url_path_join(base_url, "spawn", user, name) if view.name else url_path_join(base_url, "spawn"),
            "pending": url_path_join(base_url, "spawn-pending", user, name),
            "launch": origin + launch_url(base_url, options, server_name=view.name) if options else "",
            "share": url_path_join(base_url, "datalab/share", name) if view.name else url_path_join(base_url, "datalab/share"),
        }  # fmt: skip


class ServiceActionHandler(BaseHandler):
    """POST `/hub/datalab/services/{stop,restart}` with `server=NAME` ('' is the default server)."""

    @web.authenticated
    async def post(self, action: str):
        user = self.current_user
        name = self.get_body_argument("server", "").strip()
        if name and not _NAME.fullmatch(name):
            raise web.HTTPError(400, "Not a server name")
        if not self.has_scope(f"servers!server={user.name}/{name}"):
            raise web.HTTPError(403, "You may not manage this server")
        if name and name not in user.orm_user.orm_spawners:
            raise web.HTTPError(404, f"You have no server called {name}")
        spawner = user.spawners[name]
        if spawner.pending:
            raise web.HTTPError(409, f"The server is busy ({spawner.pending}); try again in a moment")
        options = dict(spawner.user_options or {})
        if spawner.active:
            await self.stop_single_user(user, name)
        if action == "restart":
            self.log.info("%s restarts %s with the same options", user.name, spawner._log_name)
            return self.redirect(launch_url(self.hub.base_url, options, server_name=name, autostart=True))
        self.redirect(url_path_join(self.hub.base_url, "home"))


class NewServerHandler(BaseHandler):
    """GET `/hub/datalab/services/new?name=NAME`: a new named server goes straight to the catalog."""

    @web.authenticated
    async def get(self):
        name = self.get_argument("name", "").strip().lower()
        if not _NAME.fullmatch(name):
            raise web.HTTPError(400, "A server name is 1 to 63 lowercase letters, digits, '.', '_' or '-'")
        user = self.current_user
        self.redirect(url_path_join(self.hub.base_url, "spawn", user.escaped_name, url_escape_path(name)))


HANDLERS = [
    (r"/datalab/services/new/?", NewServerHandler),
    (r"/datalab/services/(stop|restart)", ServiceActionHandler),
]

"""The catalog side of a spawner, shared by every backend: offers resolved for the user's groups now,
the spawn form, and options from every way in (form, REST API, JupyterHub's /hub/spawn query, launch
links) validated into one LaunchPlan per spawn.

The plan is made once, in `run_pre_spawn_hook` (JupyterHub calls it for every spawn, right before
`start()`): the capacity reservation and the backend use that same plan, so a catalog reload between
the two cannot make them disagree. A launch link validates the options first and hands its plan over
(`offer_plan`), which is used when the spawn's options are the ones it validated.
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from traitlets import Callable, Float, List, Unicode, default
from traitlets.config import Configurable

from ..catalog import (
    Catalog,
    CatalogError,
    Offer,
    OptionsError,
    default_catalog_dir,
    resolve,
    validate_options,
)
from ..catalog.refs import git_clone_pin
from ..catalog.validate import git_repository_problem
from ..errors import SpawnException
from ..plan import LaunchPlan
from . import form
from .source import DEFAULT_CHECK_INTERVAL, CatalogSource, shared_source


class CatalogOptionsMixin(Configurable):
    """Catalog -> form, and options -> LaunchPlan (`self.plan`, set for every spawn before `start()`)."""

    catalog_dir = Unicode(
        help="""Directory of the service catalog (services/, lists/). Default: $DATALAB_CATALOG_DIR, else
        the installed copy, else the repository's profiles/. Re-read when its files change.""",
    ).tag(config=True)

    @default("catalog_dir")
    def _default_catalog_dir(self):
        return str(default_catalog_dir())

    image_registry = Unicode(
        None,
        allow_none=True,
        help="Image registry substituted for {registry} in catalog image names; None: catalog.yaml's `registry`.",
    ).tag(config=True)

    catalog_check_interval = Float(
        DEFAULT_CHECK_INTERVAL,
        min=0.0,
        help="""Seconds between checks of the catalog directory for changes (a valid change is used at
        once, an invalid one is refused and shown to admins). 0 checks at every use.""",
    ).tag(config=True)

    projects_provider = Callable(
        None,
        allow_none=True,
        help="""Callable `provider(spawner) -> list[str]`: the projects the spawner's user may start a server
        in (hub.configure sets the Projects settings' one). None: no project sessions.""",
    ).tag(config=True)

    git_allowed_hosts = List(
        Unicode(),
        help="""Repository hosts users may clone from although they are not public: host names, `*.suffix`
        wildcards, addresses or networks (`10.1.0.0/16`). By default a git_repository on a loopback,
        private or link-local host is refused, whether the URL writes it as an address, as localhost, or
        as a name that resolves to one (resolved by the hub at spawn; the clone then connects to the
        addresses checked, never resolving the name again). A host listed by name is trusted with its DNS:
        its clone resolves it. Applies to the catalog's own defaults too.""",
    ).tag(config=True)

    git_resolve_timeout = Float(
        5.0,
        help="""Seconds allowed to resolve a repository's host at spawn. A name that does not resolve from
        the hub does not stop the session; it starts without the clone, saying why.""",
    ).tag(config=True)

    plan: LaunchPlan | None = None  # the plan of the current spawn (None between spawns)
    last_plan: LaunchPlan | None = None  # the plan of the last spawn, kept after it ended (the hub's pages)
    _offered_plan: LaunchPlan | None = None

    # -- the catalog -------------------------------------------------------------------------------

    def catalog_source(self) -> CatalogSource:
        return shared_source(
            self.catalog_dir,
            registry=self.image_registry,
            check_interval=self.catalog_check_interval,
            logger=self.log,
        )

    def current_catalog(self) -> Catalog:
        """The catalog in force (reloaded if its files changed), or a 500 if no valid one ever loaded."""
        try:
            return self.catalog_source().get()
        except CatalogError:
            raise SpawnException(
                "The service catalog is invalid; the administrators have been told.",
                reason="catalog_invalid",
                status_code=500,
            ) from None

    def now(self) -> datetime:
        """The moment offers are resolved for (a method so tests can move time)."""
        return datetime.now(UTC)

    def user_groups(self) -> list[str]:
        return sorted(getattr(g, "name", g) for g in (getattr(self.user, "groups", None) or []))

    def user_projects(self) -> list[str]:
        """The projects this server's user may start a server in (the form's `project` choices)."""
        return list(self.projects_provider(self)) if self.projects_provider else []

    def offers(self) -> list[Offer]:
        """What this server's user is offered now (raises a 500 SpawnException if no catalog loads)."""
        return resolve(self.current_catalog(), self.user_groups(), self.now())

    # -- the form ----------------------------------------------------------------------------------

    def form_template_paths(self) -> list[str]:
        """Operator template directories searched before ours (KubeSpawner's setting on Kubernetes)."""
        return list(getattr(self, "additional_profile_form_template_paths", None) or [])

    def form_unavailable(self, offers: list[Offer]) -> dict[str, str]:
        """Services this backend cannot run here -> why (shown as greyed cards with the reason)."""
        return {}

    def form_notice(self, offers: list[Offer]) -> str:
        """HTML shown above the cards (a backend says what it cannot do here, and why)."""
        return ""

    def render_form(
        self, offers: list[Offer], previous: dict[str, Any] | None, refusal: form.Refusal | None = None
    ) -> str:
        """The catalog form for this backend, prefilled with `previous` (already validated options) or,
        after a refused submission, with what was typed and the message at its field."""
        env = form.make_environment(self.form_template_paths())
        return self.form_notice(offers) + form.render_form(
            offers,
            previous,
            environment=env,
            unavailable=self.form_unavailable(offers),
            refusal=refusal,
            projects=self.user_projects(),
        )

    @default("options_form")
    def _options_form_default(self):
        return self._render_catalog_form

    async def _render_catalog_form(self, spawner=None) -> str:
        offers = self.offers()
        refusal = take_refusal(self.user.name)
        previous = None
        if refusal is None and self.user_options:
            try:
                previous = self.validate(self.user_options, offers).user_options
            except SpawnException:
                previous = None  # stale options (catalog changed): fall back to the defaults
        return self.render_form(offers, previous, refusal)

    @default("options_from_form")
    def _options_from_form_default(self):
        return self._options_from_catalog_form

    def _options_from_catalog_form(self, formdata) -> dict[str, Any]:
        """The submitted form -> user_options, refused here (before anything starts) when invalid.

        JupyterHub then shows the form again with the message, rendering it with the user's *default*
        spawner whatever server was asked for, so the refusal (what was typed, the field, the message)
        is kept per user for that one rendering (`take_refusal`). Accepted, the options are the
        normalised ones (numbers, booleans), as the REST API and "restart with the same options" see them."""
        options = form.options_from_form(formdata)
        try:
            plan = self.validate(options)
        except SpawnException as e:
            keep_refusal(self.user.name, form.Refusal(options, getattr(e, "field", None), e.message))
            raise
        return dict(plan.user_options)

    def options_from_query(self, query_data):
        """JupyterHub's `/hub/spawn?service=...&cpu=2`: every key is kept, so an unknown one is refused
        by validation like on the REST API, never silently dropped."""
        return form.options_from_query(query_data)

    # -- options -> plan ---------------------------------------------------------------------------

    def validate(self, options: Any = None, offers: list[Offer] | None = None) -> LaunchPlan:
        """Options (default: user_options) -> LaunchPlan, or the SpawnException (400/403) callers see."""
        offers = self.offers() if offers is None else offers
        options = self.user_options if options is None else options
        try:
            return validate_options(
                offers,
                options or {},
                username=self.user.name,
                server_name=self.name,
                projects=self.user_projects(),
                git_allowed_hosts=self.git_allowed_hosts,
            )
        except OptionsError as e:
            reason = "forbidden_options" if e.status == 403 else "invalid_options"
            raise SpawnException(e.message, reason=reason, status_code=e.status, field=e.field) from None

    async def resolve_repository_host(self, host: str) -> list[str]:
        """The addresses `host` resolves to from the hub (off the event loop); [] when it does not resolve."""
        try:
            found = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM),
                self.git_resolve_timeout,
            )
        except (OSError, TimeoutError):
            return []  # not resolvable from here: nothing says it is private
        return [info[4][0] for info in found]

    async def check_git_repository(self, plan: LaunchPlan) -> dict[str, str] | None:
        """Refuse the plan's repository when its host name resolves to a non-public address (validation
        already refused hosts written as such). Both backends call it before anything is created, and give
        the clone the git configuration it returns, which pins the addresses checked here (None: the name
        did not resolve, so the clone must not run; refs.git_clone_pin)."""
        url = plan.git_repository
        if not url:
            return {}
        addresses = await self.resolve_repository_host(urlsplit(url).hostname or "")
        if why := git_repository_problem(url, addresses, self.git_allowed_hosts):
            raise SpawnException(why, reason="invalid_options", status_code=400, field="git_repository")
        return git_clone_pin(url, addresses, self.git_allowed_hosts)

    def offer_plan(self, plan: LaunchPlan) -> None:
        """A plan validated just before a spawn (a launch link): used if the spawn has its options."""
        self._offered_plan = plan

    def run_pre_spawn_hook(self):
        """Every spawn: the one plan (validated now, or the one offered for these options), then the place
        in its list's capacity, then the operator's own pre_spawn_hook."""
        plan, self._offered_plan = self._offered_plan, None
        if plan is None or plan.user_options != self.user_options:
            try:
                plan = self.validate()
            except SpawnException:
                self._forget_refused_options()
                raise
        self.plan = self.last_plan = plan
        self.claim_capacity(plan)
        try:
            return super().run_pre_spawn_hook()
        except BaseException:
            self.release_capacity()
            raise

    def _forget_refused_options(self) -> None:
        """JupyterHub saved the submitted options in its database before they reached us: a refused spawn
        keeps only the options of this server's last accepted spawn (none for a new one), never what was
        refused (three refused 10 MB requests once grew the database by 42 MB)."""
        orm_spawner = getattr(self, "orm_spawner", None)
        db = getattr(getattr(self, "user", None), "db", None)
        if orm_spawner is None or db is None:
            return
        kept = dict(self.last_plan.user_options) if self.last_plan else {}
        orm_spawner.user_options = kept
        db.commit()
        self.user_options = dict(kept)  # what the REST API shows and the form is prefilled with

    @default("apply_user_options")
    def _apply_user_options_default(self):
        # Without a hook JupyterHub logs every option name as sent ("Received unhandled user_options ...",
        # unescaped and unbounded); ours are validated, and refused with a bounded message, by
        # run_pre_spawn_hook.
        return lambda spawner, user_options: None

    def clear_state(self):
        super().clear_state()
        self.plan = None


# user name -> (monotonic time, refusal): the last refused form submission, shown once (see above).
_REFUSALS: dict[str, tuple[float, form.Refusal]] = {}
REFUSAL_TTL = 60.0


def keep_refusal(username: str, refusal: form.Refusal) -> None:
    now = time.monotonic()
    for name in [n for n, (t, _) in _REFUSALS.items() if now - t > REFUSAL_TTL]:
        del _REFUSALS[name]  # never grows beyond the users refused in the last minute
    _REFUSALS[username] = (now, refusal)


def take_refusal(username: str) -> form.Refusal | None:
    """The user's refused submission of the last REFUSAL_TTL seconds, once (None if there is none)."""
    kept = _REFUSALS.pop(username, None)
    if kept is None or time.monotonic() - kept[0] > REFUSAL_TTL:
        return None
    return kept[1]

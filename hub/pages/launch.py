"""Launch links: `/hub/datalab/launch[/{server}]?service=jupyter-python&cpu=2[&autostart=1]`.

A link handed out by an organiser opens the spawn form with the service and options filled in, or, with
`autostart=1`, starts the server at once (default server, or the named server in the path). The link's
options are validated by the user's spawner (`validate`, as for the form and the REST API) and the plan
is handed to the spawn (`offer_plan`), so the one plan is used; a tampered link (unknown key, value out of
bounds, a service not granted, a bad git URL) is refused with the reason on the spawn page (HTTP 400/403),
next to the field at fault, with the link's values kept, and nothing starts.

Why a handler of ours: JupyterHub's `/hub/spawn?...` starts a server as soon as it has any query argument,
so it cannot show a prefilled form; and a link must not name the user it is for.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from jupyterhub.handlers.pages import SpawnHandler
from jupyterhub.utils import url_escape_path, url_path_join
from tornado import web
from tornado.httputil import url_concat

from spawner.errors import SpawnException
from spawner.runtime import form

from . import compat

# Query arguments that are not options: the launch itself, and JupyterHub's own.
RESERVED = ("autostart", "next", "display_name")
_TRUE = ("1", "true", "yes", "on")


def split_query(arguments: dict[str, list[bytes]]) -> tuple[dict[str, Any], bool]:
    """Query arguments -> (options for validate_options, autostart). Every other key is kept, so an
    unknown one is refused by validation rather than silently ignored."""
    decoded = {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in arguments.items()}
    autostart = (decoded.get("autostart") or [""])[-1].strip().lower() in _TRUE
    options = form.options_from_query({k: v for k, v in decoded.items() if k not in RESERVED})
    return options, autostart


def launch_url(
    base_url: str, options: dict[str, Any], *, server_name: str = "", autostart: bool = False
) -> str:
    """The launch link for these options (the JavaScript of the spawn form builds the same)."""
    path = (
        url_path_join(base_url, "datalab/launch", url_escape_path(server_name))
        if server_name
        else (url_path_join(base_url, "datalab/launch"))
    )
    query = {
        k: ("true" if v is True else "false" if v is False else v)
        for k, v in options.items()
        if v is not None
    }
    if autostart:
        query["autostart"] = "1"
    return f"{path}?{urlencode(query)}" if query else path


class LaunchHandler(SpawnHandler):
    """GET a launch link: validate it for the current user, then show the prefilled form or start."""

    @web.authenticated
    async def get(self, server_name: str | None = None):
        user = self.current_user
        server_name = server_name or ""
        if server_name:
            await compat.check_named_server(self, user, server_name)
        elif not self.allow_named_servers and user.running:
            return self.redirect(self.get_next_url(user, default=user.server_url("")))
        spawner = compat.get_spawner(user, server_name)
        if spawner.ready:
            return self.redirect(user.server_url(server_name))
        # the spawn-pending page (without the link's options in its URL), keeping JupyterHub's `next`
        pending_url = url_path_join(
            self.hub.base_url, "spawn-pending", user.escaped_name, url_escape_path(server_name)
        )
        if self.get_argument("next", ""):
            pending_url = url_concat(pending_url, {"next": self.get_next_url(user)})
        if spawner.active:
            return self.redirect(pending_url)
        if not hasattr(spawner, "offer_plan"):
            raise web.HTTPError(501, "Launch links need the Datalab catalog spawner.")

        options, autostart = split_query(self.request.query_arguments)
        offers = spawner.offers()
        try:
            plan = spawner.validate(options, offers)
        except SpawnException as e:
            self.log.warning("Refused launch link for %s: %s", spawner._log_name, e.message)
            self.set_status(e.status_code)
            message = f"This launch link was refused: {e.message}"
            refusal = form.Refusal(options, getattr(e, "field", None), e.message)
            page = await self._render(user, spawner, server_name, offers, None, message, refusal)
            return self.finish(page)
        if autostart and self.request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate":
            # an <img>/fetch from another site must not start servers: only a followed link does
            self.log.warning("Launch link for %s: autostart ignored for a %s request", spawner._log_name,
                             self.request.headers.get("Sec-Fetch-Mode"))  # fmt: skip
            autostart = False
        if autostart:
            spawner.handler = self
            spawner.offer_plan(plan)
            return await compat.spawn(self, user, server_name, spawner, pending_url, dict(plan.user_options))
        self.finish(await self._render(user, spawner, server_name, offers, plan.user_options, ""))

    async def _render(self, user, spawner, server_name, offers, previous, message, refusal=None) -> str:
        """JupyterHub's spawn page around our form (prefilled with `previous`, or with a refused link's
        values and the message at its field), posting to /hub/spawn."""
        html = spawner.render_form(offers, previous, refusal)
        action = url_path_join(self.hub.base_url, "spawn", user.escaped_name, url_escape_path(server_name))
        return await self.render_template(
            "spawn.html",
            for_user=user,
            auth_state=await user.get_auth_state(),
            spawner_options_form=html,
            error_message=message,
            html_error_message="",
            url=url_concat(action, {"_xsrf": self.xsrf_token.decode("ascii")}),
            spawner=spawner,
        )


HANDLERS = [(r"/datalab/launch/?", LaunchHandler), (r"/datalab/launch/([^/]+)/?", LaunchHandler)]

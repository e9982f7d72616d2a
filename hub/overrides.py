"""Datalab's handlers in place of JupyterHub's own for a route, whichever authenticator the hub uses.

JupyterHub routes a request to the first handler whose pattern matches, in the order: the authenticator's
handlers, its own pages and API (`jupyterhub.handlers.default_handlers`, `jupyterhub.apihandlers.
default_handlers`), then `c.JupyterHub.extra_handlers`. An extra handler never replaces one of JupyterHub's,
and a guard given by one authenticator is lost when the chart's values choose another. `install` puts the
guards at the head of JupyterHub's own lists, which `JupyterHub.init_handlers` reads when the hub starts,
after its configuration: every hub that calls `hub.configure(c)` has them.

Each guard subclasses the upstream handler of its route; a JupyterHub that no longer serves that route
with that class stops the hub at configuration, naming it, rather than starting without the guard.
"""

from __future__ import annotations

from collections.abc import Iterable


def _upstream_lists() -> list[list]:
    from jupyterhub import apihandlers, handlers

    return [handlers.default_handlers, apihandlers.default_handlers]


def install(guards: Iterable[tuple[str, type]]) -> None:
    """Serve each (route, handler) before JupyterHub's own handler of that route (idempotent)."""
    for route, guard in guards:
        for rules in _upstream_lists():
            upstream = [rule for rule in rules if rule[0] == route and rule[1] is not guard]
            if upstream:
                break
        else:
            raise RuntimeError(f"JupyterHub serves no {route} any more: {guard.__name__} cannot guard it")
        for rule in upstream:
            if not issubclass(guard, rule[1]):
                raise RuntimeError(
                    f"JupyterHub serves {route} with {rule[1].__name__}: {guard.__name__} no longer guards it"
                )
        rules[:] = [(route, guard), *[rule for rule in rules if not (rule[0] == route and rule[1] is guard)]]


def datalab_guards() -> list[tuple[str, type]]:
    """The guards every datalab hub has: spawn request sizes, tokens of another user with the credentials
    scope."""
    from . import spawn_limits
    from .credentials.grants import TokenRequestGuard

    return [*spawn_limits.handlers(), (r"/api/users/([^/]+)/tokens", TokenRequestGuard)]

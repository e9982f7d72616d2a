"""Capacity and window end of profile lists, inside the hub process, for every backend.

- Capacity: every spawn (form, REST API, launch link) reserves the server's place in the process's
  ledger before its backend starts, or is refused (HTTP 429) naming the cap and what runs. The place is
  released when JupyterHub clears the spawner's state (when a server stops, when its start fails, and
  before a new start), and kept in the spawner's state so a restarted hub counts servers still running.
- Window end: a periodic task *in the hub process* stops the servers whose list's window ended more
  than `window_end_grace` seconds ago. In-process rather than a JupyterHub service over the REST API
  because only the hub process knows which list a server came from (the ledger); a service would have
  to re-derive it from user_options and a catalog that may have changed since the start. It stops a
  server the way the hub does when a server dies: proxy route first, then `User.stop`.

`servers_from(list)` is what the hub's pages read (the organiser page); the ledger itself stays private.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from traitlets import Float
from traitlets.config import Configurable

from ..catalog import CatalogError
from ..catalog.capacity import CapacityLedger, Usage
from ..catalog.window import due
from ..errors import SpawnException
from ..plan import LaunchPlan

_STATE_KEY = "datalab_usage"

_LEDGER = CapacityLedger()
_window_task: asyncio.Task | None = None
log = logging.getLogger("datalab.catalog")


def servers_from(list_name: str | None = None) -> list[tuple[Usage, Any]]:
    """The servers started from a profile list (every list: None) in this hub process, with their spawners
    (None for a server whose spawner this process does not hold), sorted by user and server name."""
    return [(u, _LEDGER.holder(u.key)) for u in sorted(_LEDGER.running(list_name), key=lambda u: u.key)]


class CapacityMixin(Configurable):
    """Mixed into every catalog spawner (spawner.runtime.mixin): reserve, release and remember a place."""

    window_end_grace = Float(
        600.0,
        min=0.0,
        help="""Seconds after the end of a profile list's window before the servers started from that
        list are stopped (users can save their work). Starting new servers stops at the end itself.""",
    ).tag(config=True)

    window_check_interval = Float(
        30.0,
        min=0.1,
        help="Seconds between the hub's checks for servers whose profile list's window (plus grace) ended.",
    ).tag(config=True)

    _usage: Usage | None = None

    def claim_capacity(self, plan: LaunchPlan) -> None:
        """Reserve this server's place in its list, or raise the 429 SpawnException naming the cap."""
        catalog = self.catalog_source().catalog
        plist = catalog.lists.get(plan.profile_list) if catalog else None
        usage = Usage(
            user=self.user.name,
            server=self.name,
            list_name=plan.profile_list,
            cpu=float(plan.cpu),
            gpu=int(plan.gpu),
            service=plan.service,
            window_end=plist.window.end if plist and plist.window else None,
        )
        why = _LEDGER.reserve(usage, plist.capacity if plist else None, holder=self)
        if why is not None:
            self.log.warning("Not starting %s: %s", self._log_name, why)
            raise SpawnException(why, reason="capacity", status_code=429)
        self._usage = usage
        _ensure_window_task(self)

    def release_capacity(self) -> None:
        if self._usage is not None:
            _LEDGER.release(self._usage.key, holder=self)
            self._usage = None

    def get_state(self):
        state = super().get_state()
        if self._usage is not None:
            state[_STATE_KEY] = self._usage.to_state()
        return state

    def load_state(self, state):
        super().load_state(state)
        data = (state or {}).get(_STATE_KEY)
        if data and self._usage is None:
            try:
                usage = Usage.from_state(self.user.name, self.name, data)
            except (KeyError, TypeError, ValueError) as e:
                self.log.warning("Ignoring unreadable capacity state of %s: %r", self._log_name, e)
                return
            _LEDGER.restore(usage, holder=self)
            self._usage = usage
            _ensure_window_task(self)

    def clear_state(self):
        super().clear_state()
        self.release_capacity()


def _ensure_window_task(spawner: CapacityMixin) -> None:
    """Start the process's window-end task (once), if there is an event loop (the hub's)."""
    global _window_task
    if _window_task is not None and not _window_task.done():
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no hub here (a command line tool): nothing to enforce
    _window_task = loop.create_task(_enforce_windows(spawner.window_check_interval))


async def _enforce_windows(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await stop_ended_servers()
        except Exception:
            log.exception("Checking profile list windows failed; trying again in %ss", interval)


async def stop_ended_servers() -> list[str]:
    """Stop every running server whose list's window ended at least its grace ago; the messages."""
    stops, messages = [], []
    for usage, spawner in servers_from():
        if spawner is None or spawner.pending or not getattr(spawner, "server", None):
            continue  # starting or stopping already: looked at again next time
        source = spawner.catalog_source()
        try:
            catalog = source.get()
        except CatalogError:
            catalog = source.catalog
        grace = timedelta(seconds=spawner.window_end_grace)
        for item in due([usage], catalog, spawner.now(), grace):
            message = item.message()
            spawner.log.warning("%s", message)
            messages.append(message)
            stops.append(_stop(spawner))
    await asyncio.gather(*stops)
    return messages


async def _stop(spawner) -> None:
    """What the hub does when a server dies: remove its proxy route, then stop it and clean up."""
    user = spawner.user
    try:
        proxy = user.settings.get("proxy")
        if proxy is not None:
            await proxy.delete_user(user, spawner.name)
        await user.stop(spawner.name)
    except Exception:
        spawner.log.exception("Could not stop %s at the end of its list's window", spawner._log_name)

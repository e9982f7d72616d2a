"""When must a server started from a profile list stop? At the end of the list's window plus a grace.

Pure: the hub's periodic task (spawner.runtime.capacity) asks `due()` for each running server and stops
those it returns. The window is the list's *current* one (an organiser who extends the event in the
catalog extends the running servers too); if the list left the catalog, the window recorded when the
server started applies; a list without a window never ends its servers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .capacity import Usage

if TYPE_CHECKING:
    from .load import Catalog


@dataclass(frozen=True)
class Due:
    usage: Usage
    window_end: datetime
    stop_at: datetime

    def message(self) -> str:
        u = self.usage
        server = f"{u.user}'s server {u.server!r}" if u.server else f"{u.user}'s server"
        return (
            f"Stopping {server} ({u.service or 'a service'} from profile list {u.list_name!r}): "
            f"the list's window ended at {self.window_end.isoformat()} (stop at {self.stop_at.isoformat()})"
        )


def window_end(usage: Usage, catalog: Catalog | None) -> datetime | None:
    plist = catalog.lists.get(usage.list_name) if catalog is not None else None
    if plist is not None:
        return plist.window.end if plist.window else None
    return usage.window_end


def due(running: Iterable[Usage], catalog: Catalog | None, now: datetime, grace: timedelta) -> list[Due]:
    """The running servers whose list's window ended at least `grace` before `now`."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    out = []
    for usage in running:
        end = window_end(usage, catalog)
        if end is not None and end + grace <= now:
            out.append(Due(usage, end, end + grace))
    return out

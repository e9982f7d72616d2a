"""Capacity of a profile list: may one more server start, given the servers of the list already running?

`refusal()` is the pure decision (running servers + request -> None or the message naming the cap and
what runs). `CapacityLedger` is the hub process's record of the servers started from each list: a spawn
reserves its place synchronously (check and record with no `await` in between, so on the hub's single
event loop 20 simultaneous spawns against a cap of 10 get exactly 10 places) and releases it when the
server stops or its start fails. Plain data, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .checks import fmt
from .model import Capacity


@dataclass(frozen=True)
class Usage:
    """One server started from a list, with what it counts against the list's caps."""

    user: str
    server: str
    list_name: str
    cpu: float = 0.0
    gpu: int = 0
    service: str = ""
    window_end: datetime | None = None  # the list's window end when the server started

    @property
    def key(self) -> tuple[str, str]:
        return (self.user, self.server)

    def to_state(self) -> dict[str, Any]:
        """JSON for the spawner's state, so a restarted hub counts servers that are still running."""
        return {
            "list": self.list_name,
            "cpu": self.cpu,
            "gpu": self.gpu,
            "service": self.service,
            "window_end": self.window_end.isoformat() if self.window_end else None,
        }

    @classmethod
    def from_state(cls, user: str, server: str, data: dict[str, Any]) -> Usage:
        end = data.get("window_end")
        return cls(
            user=user,
            server=server,
            list_name=str(data["list"]),
            cpu=float(data.get("cpu") or 0),
            gpu=int(data.get("gpu") or 0),
            service=str(data.get("service") or ""),
            window_end=datetime.fromisoformat(end) if end else None,
        )


def _servers(n: int) -> str:
    return f"{n} server{'s' if n != 1 else ''}"


def refusal(cap: Capacity | None, request: Usage, running: Iterable[Usage]) -> str | None:
    """None if `request` fits the caps of its list, else why not (the cap and what is running)."""
    if cap is None:
        return None
    mine = [u for u in running if u.list_name == request.list_name and u.key != request.key]
    where = f"profile list {request.list_name!r}"
    if cap.servers_per_user is not None:
        own = [u for u in mine if u.user == request.user]
        if len(own) >= cap.servers_per_user:
            names = ", ".join(repr(u.server) if u.server else "the default server" for u in own)
            return (
                f"{where} allows {_servers(cap.servers_per_user)} per user; "
                f"{request.user} has {len(own)} running ({names})"
            )
    if cap.servers_total is not None and len(mine) >= cap.servers_total:
        verb = "is" if len(mine) == 1 else "are"
        return f"{where} allows {_servers(cap.servers_total)} in total; {len(mine)} {verb} running"
    if cap.cpu_total is not None:
        used = sum(u.cpu for u in mine)
        if used + request.cpu > cap.cpu_total + 1e-9:
            return (
                f"{where} allows {fmt(cap.cpu_total)} CPU cores in total; {fmt(used)} are in use by "
                f"{_servers(len(mine))} and this server asks for {fmt(request.cpu)}"
            )
    if cap.gpu_total is not None and request.gpu:
        used = sum(u.gpu for u in mine)
        if used + request.gpu > cap.gpu_total:
            return (
                f"{where} allows {cap.gpu_total} GPUs in total; {used} are in use by "
                f"{_servers(len(mine))} and this server asks for {request.gpu}"
            )
    return None


class CapacityLedger:
    """The servers of every list in this hub process, by (user, server name); see the module docstring."""

    def __init__(self) -> None:
        self._usage: dict[tuple[str, str], Usage] = {}
        self._holders: dict[tuple[str, str], Any] = {}

    def reserve(self, request: Usage, cap: Capacity | None, holder: Any = None) -> str | None:
        """Record `request` if it fits; return the refusal message otherwise. Never awaits: atomic."""
        why = refusal(cap, request, self._usage.values())
        if why is None:
            self._usage[request.key] = request
            self._holders[request.key] = holder
        return why

    def restore(self, usage: Usage, holder: Any = None) -> None:
        """Record a server that is already running (after a hub restart): no cap applies."""
        self._usage[usage.key] = usage
        self._holders[usage.key] = holder

    def release(self, key: tuple[str, str], holder: Any = None) -> Usage | None:
        """Forget a stopped (or failed) server; only its holder releases it when one is given."""
        if holder is not None and self._holders.get(key) not in (None, holder):
            return None
        self._holders.pop(key, None)
        return self._usage.pop(key, None)

    def running(self, list_name: str | None = None) -> list[Usage]:
        return [u for u in self._usage.values() if list_name is None or u.list_name == list_name]

    def holder(self, key: tuple[str, str]) -> Any:
        return self._holders.get(key)

    def __len__(self) -> int:
        return len(self._usage)

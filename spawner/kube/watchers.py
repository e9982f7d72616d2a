"""KubeSpawner's pod and event watchers, started when the hub starts rather than at the first spawn.

KubeSpawner keeps one pod reflector per namespace (and one event reflector, with `events_enabled`), shared
by every spawner on the class, and starts them lazily in the first spawn's `_start` (or a poll): that spawn
waits for the first list of all pods and events, and in a cold burst of spawns under load that list can
time out. `start_watchers` starts them through KubeSpawner's own `_start_watching_pods` and
`_start_watching_events`, on a stand-in spawner of the hub's class and config (no user's), so they are the
very reflectors spawns look up (same namespace, selectors and key). It never raises, and never cancels
a list in progress (a cancelled first list would leave spawns waiting for it forever):
- a first list slower than `slow_after` seconds is logged as a warning; the hub does not wait for it, a
  spawn meanwhile waits for that same list;
- a failed one is logged as a warning and its reflector is dropped, so the next spawn starts a new one as
  before (KubeSpawner would hand it the failed reflector, which never sees a pod); so is one that failed
  before (a poll of a running server, at hub start), which KubeSpawner hands to this start too. With
  `enable_user_namespaces` KubeSpawner exits the hub when its reflector fails to start; at hub start the
  hub keeps running instead.

KubeSpawner private methods used (checked on 7.0.0 and 7.1.0, pinned in tests/spawner/kube/test_seams.py):
`_start_watching_pods`, `_start_watching_events`. Public ones: the class's `reflectors`, the spawner's
`pod_reflector` / `event_reflector`, a reflector's `first_load_future` and `watch_task`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .offline import make_spawner

SLOW_AFTER = 10.0
STAND_IN_USER = "hub-start"  # only names the stand-in's (never created) pod; reflectors are per namespace


def _why(error: BaseException) -> str:
    """What went wrong, bounded, without the API's response body (it may quote values)."""
    status = getattr(error, "status", None)
    if status is not None:
        return f"the Kubernetes API answered {status} {getattr(error, 'reason', '') or ''}".strip()
    if isinstance(error, SystemExit):
        return "KubeSpawner could not start it (its error is logged above)"
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def _outcome(start) -> BaseException | None:
    try:
        reflector = await start()
    except (Exception, SystemExit) as e:  # SystemExit: KubeSpawner's sys.exit with enable_user_namespaces
        return e
    loaded = reflector.first_load_future
    if reflector.watch_task is None and loaded.done():  # an earlier start that failed (a poll's), handed on
        return (None if loaded.cancelled() else loaded.exception()) or RuntimeError("its first list failed")
    return None


def _drop_failed(spawner: Any, kind: str) -> None:
    """Forget a reflector whose first list failed, so that the next spawn starts a new one."""
    reflector = spawner.pod_reflector if kind == "pods" else spawner.event_reflector
    if reflector is None or reflector.watch_task is not None or not reflector.first_load_future.done():
        return  # running, or a newer one still starting
    if not reflector.first_load_future.cancelled():
        reflector.first_load_future.exception()  # retrieved: asyncio does not log it again
    shared = type(spawner).reflectors
    for key, value in list(shared.items()):
        if value is reflector:
            del shared[key]


async def start_watchers(
    spawner_class: type, config: Any, log: logging.Logger | logging.LoggerAdapter, *, slow_after=SLOW_AFTER
) -> bool:
    """Start the shared pod (and event) reflectors of `spawner_class` under `config`; True when all run."""
    try:
        spawner = make_spawner(username=STAND_IN_USER, config=config, spawner_class=spawner_class)
    except Exception as e:
        log.warning("Not watching Kubernetes pods at hub start: %s. Spawns start watching them.", _why(e))
        return False
    if not getattr(spawner, "watch_from_hub_start", True):
        return False
    where = "all namespaces" if spawner.enable_user_namespaces else f"namespace {spawner.namespace}"
    starts = {"pods": spawner._start_watching_pods}
    if spawner.events_enabled:
        starts["events"] = spawner._start_watching_events
    began = time.monotonic()
    tasks = {kind: asyncio.ensure_future(_outcome(start)) for kind, start in starts.items()}
    _, pending = await asyncio.wait(tasks.values(), timeout=slow_after)
    if pending:
        kinds = " and ".join(kind for kind, task in tasks.items() if task in pending)
        log.warning(
            "The Kubernetes API has not answered the first list of %s in %s after %g s; the hub runs "
            "without it, and spawns wait for it",
            kinds,
            where,
            slow_after,
        )
        await asyncio.wait(pending)
    failed = {kind: error for kind, task in tasks.items() if (error := task.result()) is not None}
    for kind, error in failed.items():
        _drop_failed(spawner, kind)
        log.warning(
            "Could not start watching %s in %s at hub start: %s. The hub runs; the next spawn tries again.",
            kind,
            where,
            _why(error),
        )
    if failed:
        return False
    log.info(
        "Watching %s in %s since hub start (first list in %.1f s)",
        " and ".join(tasks),
        where,
        time.monotonic() - began,
    )
    return True

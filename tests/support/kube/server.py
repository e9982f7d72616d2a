"""KubeEmulator: the API server, kubelet and garbage collector on one asyncio loop in a background thread.

Test code talks to it over HTTP like any client, inspects `.store` directly, and injects faults
(`fail`, `hang`, `drop_connections`). Usable as a context manager.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from pathlib import Path

import yaml
from aiohttp import web

from tests.support.kube.api import Api
from tests.support.kube.faults import Fault, Faults
from tests.support.kube.gc import GarbageCollector
from tests.support.kube.kubelet import Kubelet
from tests.support.kube.scheduler import MAX_PODS
from tests.support.kube.store import Store
from tests.support.kube.watch import Watches


class KubeEmulator:
    def __init__(
        self,
        *,
        host="127.0.0.1",
        port: int = 0,
        fast: bool = False,
        namespaces=("default",),
        workdir=None,
        start_delay: float = 0.1,
        node_env: dict[str, str] | None = None,
        max_pods: int = MAX_PODS,
    ):
        """`node_env`: environment every container process gets, as the node's images would carry it
        (e.g. GIT_SSL_CAINFO for an organisation's CA); `max_pods`: how many pods the node holds at once
        (more stay Pending, unschedulable)."""
        self.host = host
        self.port = port
        self.fast = fast
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kube-emulator-"))
        self.store = Store(namespaces)
        self.faults = Faults()
        self.watches = Watches(self.store)
        self.api = Api(self.store, self.faults, self.watches)
        self.kubelet = Kubelet(
            self.store, self.workdir, fast=fast, start_delay=start_delay, node_env=node_env, max_pods=max_pods
        )
        self.gc = GarbageCollector(self.store)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------------------

    def _call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> KubeEmulator:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kube-emulator", daemon=True)
        self._thread.start()
        self._call(self._astart())
        return self

    async def _astart(self) -> None:
        await self._open()
        self._tasks = [asyncio.create_task(self.kubelet.run()), asyncio.create_task(self.gc.run())]

    async def _open(self) -> None:
        self._runner = web.AppRunner(self.api.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.api.port = self.port

    def _abort_connections(self) -> None:
        self.watches.close_all()
        server = self._runner.server if self._runner else None
        for transport in list(getattr(server, "_connections", {}).values()):
            transport.abort()

    async def _close(self) -> None:
        self._abort_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _astop(self) -> None:
        await self._close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:  # requests still hanging (fault injection)
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving, stop every container process, remove the work directory if it was ours."""
        if self._loop is None:
            return
        try:
            self._call(self._astop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = None
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- for tests -----------------------------------------------------------------------------------

    def grant(self, token: str, role: dict, *, namespace: str = "default", account: str = "hub") -> None:
        """Clients presenting `token` get only `role`'s rules, in `namespace`, as service account `account`."""
        from tests.support.kube.rbac import Subject, rules_of

        user = f"system:serviceaccount:{namespace}:{account}"
        self.api.subjects[token] = Subject(user, namespace, rules_of(role))

    def write_kubeconfig(self, path, namespace: str = "default", *, token: str = "emulator") -> Path:
        """A kubeconfig pointing at this emulator (for KUBECONFIG, kubectl and kubernetes_asyncio).

        The default token is a cluster admin's; pass one given to `grant` to act under a Role."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
                }
            ],
            "current-context": "emulator",
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config))
        return path

    def fail(self, method=None, path=".*", *, status=500, count=1) -> Fault:
        """The next `count` requests matching verb and path (regex) answer `status` (-1: until cleared)."""
        return self.faults.add(method=method, path=path, action="error", status=status, count=count)

    def hang(self, method=None, path=".*", *, seconds=3600.0, count=1) -> Fault:
        """The next `count` matching requests get no answer for `seconds`."""
        return self.faults.add(method=method, path=path, action="hang", seconds=seconds, count=count)

    def late(self, method=None, path=".*", *, seconds=3600.0, count=1) -> Fault:
        """The next `count` matching requests are carried out at once and answered after `seconds` (a slow
        answer: what the request did stands even when the client gives up waiting)."""
        return self.faults.add(method=method, path=path, action="late", seconds=seconds, count=count)

    def drop_connections(self, down_seconds: float = 0.0) -> None:
        """Drop every open connection (watches included); with down_seconds, also refuse new ones that long.

        The objects are kept: this is an API server restart as clients see it.
        """

        async def restart():
            if down_seconds <= 0:
                self._abort_connections()
                return
            await self._close()
            await asyncio.sleep(down_seconds)
            await self._open()

        self._call(restart(), timeout=down_seconds + 30)

    def objects(
        self, plural: str, namespace: str | None = "default", label_selector: str | None = None
    ) -> list[dict]:
        from tests.support.kube.selectors import Selector

        return self.store.list(plural, namespace, Selector.parse(label_selector))[0]

"""The kubelet of the emulator's one node: pods go Pending -> scheduled (scheduler.py) -> Running, with events.

Each pod gets its own loopback address (scheduler.py); containers run as local processes (containers.py
says which), in kubelet order: init containers one after the other to completion, then the containers,
each ready when its exec readiness probe passes. With `fast`, every container is pretended and a tiny
in-loop HTTP stub answers on the main container's port, so a hub sees the server come up.
A pod whose referenced Secret/ConfigMap or key is missing waits, with a CreateContainerConfigError (env) or
FailedMount (volume) event, until it appears. Graceful deletion stops the processes, then removes the pod.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.kube import containers, stub
from tests.support.kube import status as pod_status
from tests.support.kube.errors import ApiError
from tests.support.kube.scheduler import MAX_PODS, Scheduler, event
from tests.support.kube.store import Change, Store, now_iso
from tests.support.procs import ManagedProcess

log = logging.getLogger("kube-emulator.kubelet")


@dataclass
class PodRuntime:
    uid: str
    root: Path
    ip: str = ""
    started: bool = False
    bound: bool = False  # on the node (counts towards max_pods)
    unschedulable: bool = False  # found the node full (FailedScheduling reported)
    terminating: bool = False
    reported: str = ""
    waiting_on: tuple[str, str] | None = None  # (plural, name) of the missing Secret/ConfigMap
    bound_at: float | None = None  # loop time the kubelet first saw the pod bound to its node
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    init: ManagedProcess | None = None  # the init container running now
    messages: dict[str, str] = field(default_factory=dict)  # termination messages of init containers
    stub: stub.StubServer | None = None


class Kubelet:
    def __init__(
        self,
        store: Store,
        workdir: Path,
        *,
        fast: bool = False,
        start_delay: float = 0.1,
        node_env=None,
        max_pods: int = MAX_PODS,
    ):
        self.store = store
        self.node_env = dict(node_env or {})
        self.workdir = Path(workdir)
        self.fast = fast
        # Like a real node (sandbox, network, image), containers are set up a moment after the pod is bound;
        # objects a client creates right after the pod (its Secret) are there by then, as in a cluster.
        self.start_delay = start_delay
        self.runtimes: dict[tuple[str, str], PodRuntime] = {}
        self.scheduler = Scheduler(store, max_pods)
        self._dirty: set[tuple[str, str]] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- plumbing ------------------------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if change.plural == "pods":
            meta = change.obj["metadata"]
            self._mark({(meta["namespace"], meta["name"])})
        elif change.plural in ("secrets", "configmaps"):
            ref = (change.plural, change.obj["metadata"]["name"])
            self._mark(
                {
                    k
                    for k, rt in list(self.runtimes.items())
                    if rt.waiting_on == ref and k[0] == change.obj["metadata"]["namespace"]
                }
            )

    def _mark(self, keys) -> None:
        if not keys or self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._add_dirty, keys)
        except RuntimeError:
            pass

    def _add_dirty(self, keys) -> None:
        self._dirty.update(keys)
        self._wake.set()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.store.subscribe(self._on_change)
        pods, _ = self.store.list("pods")
        self._dirty.update((p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods)
        last_check = 0.0
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                except TimeoutError:
                    pass
                self._wake.clear()
                if self._loop.time() - last_check >= 0.5:
                    last_check = self._loop.time()
                    self._check_processes()
                dirty, self._dirty = self._dirty, set()
                if self._on_node() < self.scheduler.max_pods:  # room again: the scheduler retries
                    dirty.update(k for k, rt in self.runtimes.items() if rt.unschedulable)
                for key in sorted(dirty):
                    try:
                        self.reconcile(key)
                    except ApiError as e:  # the pod changed or went meanwhile: the next event retries
                        log.debug("kubelet: %s: %s", key, e)
                    except Exception:
                        log.exception("kubelet failed on pod %s", key)
        finally:
            self.store.unsubscribe(self._on_change)
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop every process this kubelet started (the emulator is going away)."""
        for key in list(self.runtimes):
            await self._teardown(key, self.runtimes.pop(key))

    # -- the pod lifecycle ---------------------------------------------------------------------------

    def reconcile(self, key: tuple[str, str]) -> None:
        pod = self.store.find("pods", *key)
        runtime = self.runtimes.get(key)
        if runtime and (pod is None or pod["metadata"]["uid"] != runtime.uid) and not runtime.terminating:
            self._spawn_task(self._teardown(key, self.runtimes.pop(key)))
            runtime = None
        if pod is None:
            return
        meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
        if runtime is None:
            if status.get("phase") in ("Succeeded", "Failed"):
                return
            runtime = PodRuntime(meta["uid"], self.workdir / "pods" / f"{key[0]}.{key[1]}.{meta['uid'][:8]}")
            self.runtimes[key] = runtime
        runtime.bound = runtime.bound or bool(spec.get("nodeName"))
        if meta.get("deletionTimestamp"):
            if not runtime.terminating:
                runtime.terminating = True
                self._spawn_task(self._terminate(key, pod, runtime))
            return
        if not spec.get("nodeName"):
            runtime.bound = self.scheduler.schedule(pod, self._on_node(), runtime.unschedulable)
            runtime.unschedulable = not runtime.bound
            return
        if runtime.started or status.get("phase") in ("Succeeded", "Failed"):
            return
        now = self._loop.time()
        if runtime.bound_at is None:
            runtime.bound_at = now
        if now < runtime.bound_at + self.start_delay:
            self._loop.call_later(runtime.bound_at + self.start_delay - now, self._add_dirty, {key})
            return
        missing = containers.check_references(self.store, pod)
        if missing is not None:
            runtime.waiting_on = missing.ref
            if runtime.reported != missing.message:
                runtime.reported = missing.message
                self.event(pod, missing.reason, missing.message, "Warning")
                self._set_waiting(
                    pod,
                    missing.reason if missing.reason != "FailedMount" else "ContainerCreating",
                    missing.message,
                )
            return
        self._start(pod, runtime)

    def _on_node(self) -> int:
        return sum(1 for rt in self.runtimes.values() if rt.bound)

    def _set_waiting(self, pod: dict, reason: str, message: str) -> None:
        def waiting(p):
            p["status"]["containerStatuses"] = [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": reason, "message": message}},
                }
                for c in p["spec"]["containers"]
            ]

        self.store.update("pods", pod["metadata"]["namespace"], pod["metadata"]["name"], waiting)

    def _start(self, pod: dict, runtime: PodRuntime) -> None:
        runtime.ip = runtime.ip or self.scheduler.allocate_ip({rt.ip for rt in self.runtimes.values()})
        runtime.started = True
        if self.fast:
            spec = pod["spec"]
            for container in (spec.get("initContainers") or []) + spec["containers"]:
                self._container_events(pod, container)
            runtime.stub = stub.open_stub(runtime.ip, stub.main_port(spec["containers"][0]), self._spawn_task)
            self._set_running(pod, runtime, now_iso(), set())
        else:
            self._spawn_task(self._run(pod, runtime))

    def _container_events(self, pod: dict, container: dict, started: bool = True) -> None:
        name, image = container["name"], container.get("image")
        self.event(pod, "Pulling", f'Pulling image "{image}"', field_path=name)
        self.event(pod, "Pulled", f'Successfully pulled image "{image}" in 12ms', field_path=name)
        self.event(pod, "Created", f"Created container {name}", field_path=name)
        if started:
            self.event(pod, "Started", f"Started container {name}", field_path=name)

    def _launch(self, pod: dict, container: dict, command: tuple[str, list[str]], runtime: PodRuntime):
        """One container of the pod as a local process, in the pod's IP, root and PVCs."""
        return containers.launch(
            self.store,
            pod,
            container,
            command,
            runtime.ip,
            runtime.root,
            self.workdir / "pvcs",
            self.node_env,
        )

    def _alive(self, key, runtime: PodRuntime) -> bool:
        return self.runtimes.get(key) is runtime and not runtime.terminating

    async def _run(self, pod: dict, runtime: PodRuntime) -> None:
        try:
            await self._run_containers(pod, runtime)
        except Exception:
            log.exception("kubelet failed to run pod %s", pod["metadata"]["name"])

    async def _run_containers(self, pod: dict, runtime: PodRuntime) -> None:
        """Kubelet order: each init container to completion (retried with back-off when it fails), then
        every container; a container with an exec readiness probe is ready once the probe passes."""
        meta, spec = pod["metadata"], pod["spec"]
        key = (meta["namespace"], meta["name"])
        for container in spec.get("initContainers") or []:
            delay = 1.0
            while True:
                self._container_events(pod, container)
                command = containers.local_command(container)
                if command is None:
                    break
                proc = runtime.init = self._launch(pod, container, command, runtime)
                await asyncio.get_running_loop().run_in_executor(None, proc.proc.wait)  # teardown kills it
                if not self._alive(key, runtime):
                    return  # the teardown stops it
                runtime.init = None
                proc.stop(1)
                code = proc.proc.returncode
                runtime.messages[container["name"]] = containers.termination_message(runtime.root, container)
                if code == 0:
                    break
                message = f"Back-off restarting failed init container {container['name']} (exit code {code})"
                self.event(pod, "BackOff", message, "Warning", field_path=container["name"])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
        started = now_iso()
        probes: dict[str, list[str]] = {}
        for container in spec["containers"]:
            self._container_events(pod, container)
            command = containers.local_command(container)
            if command is not None:
                runtime.processes[container["name"]] = self._launch(pod, container, command, runtime)
            probe = ((container.get("readinessProbe") or {}).get("exec") or {}).get("command")
            if command is not None and (argv := containers.probe_argv(probe or [], runtime.ip)):
                probes[container["name"]] = argv
        if not self._alive(key, runtime):
            return
        self._set_running(pod, runtime, started, set(probes))
        while probes and self._alive(key, runtime):
            await asyncio.sleep(0.5)
            for name, argv in list(probes.items()):
                probe = await asyncio.create_subprocess_exec(
                    *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
                )
                if await probe.wait() == 0:
                    del probes[name]
            if self._alive(key, runtime):
                self._set_running(pod, runtime, started, set(probes))

    def _set_running(self, pod: dict, runtime: PodRuntime, started: str, unready: set[str]) -> None:
        meta = pod["metadata"]
        self.store.update(
            "pods",
            meta["namespace"],
            meta["name"],
            pod_status.running(runtime.ip, started, unready, runtime.messages),
        )

    def _check_processes(self) -> None:
        """A container process that exited ends the pod (no restarts): Succeeded on 0, else Failed."""
        for key, runtime in list(self.runtimes.items()):
            if runtime.terminating or not runtime.processes:
                continue
            exited = {name: p.proc.returncode for name, p in runtime.processes.items() if not p.alive()}
            if not exited:
                continue
            pod = self.store.find("pods", *key)
            if pod is None or pod["metadata"]["uid"] != runtime.uid:
                continue
            code = next(iter(exited.values()))
            log.warning("kubelet: pod %s/%s container exited with %s", *key, code)

            def ended(p, exited=exited):
                status = p["status"]
                status["phase"] = "Succeeded" if all(c == 0 for c in exited.values()) else "Failed"
                for cs in status.get("containerStatuses") or []:
                    if cs["name"] in exited:
                        cs.update(
                            ready=False,
                            started=False,
                            state={
                                "terminated": {
                                    "exitCode": exited[cs["name"]],
                                    "reason": "Error" if exited[cs["name"]] else "Completed",
                                    "finishedAt": now_iso(),
                                }
                            },
                        )
                status["conditions"] = [
                    c if c["type"] not in ("Ready", "ContainersReady") else {**c, "status": "False"}
                    for c in status.get("conditions", [])
                ]

            self.store.update("pods", *key, ended)
            self._spawn_task(self._teardown(key, self.runtimes.pop(key)))

    async def _terminate(self, key, pod: dict, runtime: PodRuntime) -> None:
        grace = pod["metadata"].get("deletionGracePeriodSeconds") or 0
        for container in pod["spec"]["containers"]:
            if runtime.started:
                self.event(
                    pod, "Killing", f"Stopping container {container['name']}", field_path=container["name"]
                )
        await self._teardown(key, runtime, grace)
        current = self.store.find("pods", *key)
        if current is not None and current["metadata"]["uid"] == runtime.uid:
            try:
                self.store.remove("pods", *key)
            except ApiError:
                pass
        if self.runtimes.get(key) is runtime:
            del self.runtimes[key]

    async def _teardown(self, key, runtime: PodRuntime, grace: float = 0) -> None:
        if runtime.stub is not None:
            runtime.stub.close()
            runtime.stub = None
        procs = list(runtime.processes.values()) + ([runtime.init] if runtime.init else [])
        runtime.processes.clear()
        runtime.init = None
        if procs:
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(None, p.stop, max(grace, 1)) for p in procs))
        if runtime.root.exists():
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: shutil.rmtree(runtime.root, ignore_errors=True)
            )

    def _spawn_task(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def event(self, pod: dict, reason: str, message: str, type_: str = "Normal", *, field_path=None):
        event(self.store, pod, reason, message, type_, field_path=field_path)

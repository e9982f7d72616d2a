"""The hub watches pods and events from its start (spawner/kube/watchers.py, scheduled by hub.configure):
a real JupyterHub against the Kubernetes API emulator lists and watches them before anyone spawns, the
first spawn uses those watchers, and a hub whose Kubernetes API is down, slow or refusing still starts,
says so, and its next spawn watches again."""

from __future__ import annotations

import logging

import pytest
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner
from traitlets.config import Config

from spawner.kube.offline import make_spawner, offline_kube_config
from spawner.kube.spawner import CatalogSpawner
from spawner.kube.watchers import start_watchers
from tests.helm.values import hub_role
from tests.support.hub import KUBE_CATALOG_CONFIG, run_hub
from tests.support.kube import KubeEmulator
from tests.support.procs import free_port, wait_until

pytestmark = pytest.mark.timeout(120)

POD_LIST = "/api/v1/namespaces/default/pods?fieldSelector=&labelSelector=component%3Dsingleuser-server"
EVENT_LIST = "/api/v1/namespaces/default/events?fieldSelector=involvedObject.kind%3DPod"
USER = "ana"  # in datalab-users: the default list offers jupyter-python


def served(emu, method: str, prefix: str) -> list[tuple[str, str, int]]:
    """The requests the emulator answered (status -1: by a fault), watches left out."""
    return [
        r
        for r in list(emu.faults.requests)
        if r[0] == method and r[1].startswith(prefix) and "watch=" not in r[1]
    ]


def add_user(hub) -> None:
    assert hub.api("POST", f"/users/{USER}").status_code == 201
    assert hub.api("POST", "/groups/datalab-users", json={"users": [USER]}).status_code in (200, 201)


def spawn_and_wait(hub) -> None:
    r = hub.spawn(USER, {"service": "jupyter-python"})
    assert r.status_code in (201, 202), r.text
    # well within start_timeout: a spawn handed a dead watcher would wait all of it for its pod, then fail
    hub.wait_server(USER, timeout=30)


def test_the_hub_lists_and_watches_pods_and_events_before_any_spawn(tmp_path):
    with KubeEmulator(fast=True, workdir=tmp_path / "kube") as emu:
        emu.grant("hub-service-account", hub_role())  # the chart's Role: list and watch are granted
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig", token="hub-service-account")
        with run_hub(tmp_path / "hub", KUBE_CATALOG_CONFIG, env={"KUBECONFIG": str(kubeconfig)}) as hub:
            wait_until(lambda: emu.watches.opened["pods"] and emu.watches.opened["events"], what="watches")
            assert [status for _, _, status in served(emu, "GET", POD_LIST)][:1] == [200]
            assert served(emu, "GET", EVENT_LIST)
            assert not served(emu, "POST", "/api/v1/namespaces/default/pods")
            wait_until(lambda: "Watching pods and events in namespace default since hub start" in hub.log())

            add_user(hub)
            spawn_and_wait(hub)
            # the spawn used the hub's pod watcher: KubeSpawner logs this once per watcher it starts
            assert hub.log().count("watching for pods with label selector") == 1, hub.log()[-3000:]


def test_a_hub_whose_kubernetes_api_is_down_starts_and_its_first_spawn_watches(tmp_path):
    port = free_port()  # nothing listens there yet
    kubeconfig = KubeEmulator(port=port).write_kubeconfig(tmp_path / "kubeconfig")
    with run_hub(tmp_path / "hub", KUBE_CATALOG_CONFIG, env={"KUBECONFIG": str(kubeconfig)}) as hub:
        message = "Could not start watching pods in namespace default at hub start: "
        wait_until(lambda: message in hub.log(), what="the warning")
        assert "The hub runs; the next spawn tries again." in hub.log()
        add_user(hub)
        with KubeEmulator(fast=True, port=port, workdir=tmp_path / "kube") as emu:  # the API is back
            spawn_and_wait(hub)
            assert served(emu, "GET", POD_LIST)
            assert emu.objects("pods", label_selector=f"hub.jupyter.org/username={USER}")


@pytest.fixture
def kube_config(tmp_path):
    """A hub's config for an in-process emulator; the reflectors started are stopped after the test."""
    with KubeEmulator(fast=True, workdir=tmp_path / "kube") as emu:
        c = Config()
        c.KubeSpawner.k8s_api_host = emu.url
        c.KubeSpawner.namespace = "default"
        with offline_kube_config():
            yield emu, c


@pytest.fixture
async def stop_reflectors():
    yield
    await KubeSpawner._stop_all_reflectors()


async def test_a_slow_first_list_is_waited_for_without_the_hub_and_said(kube_config, stop_reflectors, caplog):
    emu, c = kube_config
    emu.late("GET", r"/pods\?fieldSelector=&labelSelector=[^&]*$", seconds=1.5)  # the first list answers late
    log = logging.getLogger("test-watchers")
    with caplog.at_level(logging.INFO, logger="test-watchers"):
        assert await start_watchers(CatalogSpawner, c, log, slow_after=0.3)
    assert (
        "The Kubernetes API has not answered the first list of pods in namespace default after 0.3 s; "
        "the hub runs without it, and spawns wait for it" in caplog.text
    )
    assert "Watching pods and events in namespace default since hub start" in caplog.text


async def test_a_refused_first_list_is_said_and_the_next_spawn_lists_again(
    kube_config, stop_reflectors, caplog
):
    emu, c = kube_config
    c.KubeSpawner.events_enabled = False
    emu.fail("GET", r"/pods\?fieldSelector=&labelSelector=[^&]*$", status=403)
    log = logging.getLogger("test-watchers")
    assert not await start_watchers(CatalogSpawner, c, log)
    assert (
        "Could not start watching pods in namespace default at hub start: the Kubernetes API answered "
        "403 Forbidden. The hub runs; the next spawn tries again." in caplog.text
    )
    assert not served(emu, "GET", "/api/v1/namespaces/default/events")  # events_enabled = False
    # what a spawn does first: it gets a watcher that has listed the pods, not the one that failed
    spawner = make_spawner(username="ada", config=c)
    reflector = await spawner._start_watching_pods()
    assert reflector.first_load_future.exception() is None and reflector.watch_task is not None
    assert [status for _, _, status in served(emu, "GET", POD_LIST)][:2] == [-1, 200]


async def test_a_watcher_that_failed_before_the_hub_start_one_is_replaced(
    kube_config, stop_reflectors, caplog
):
    emu, c = kube_config
    c.KubeSpawner.events_enabled = False
    # a poll of a running server at hub start (JupyterHub's init_spawners) got there first, and failed
    emu.fail("GET", r"/pods\?fieldSelector=&labelSelector=[^&]*$", status=500)
    with pytest.raises(ApiException):
        await make_spawner(username="ada", config=c)._start_watching_pods()
    assert not await start_watchers(CatalogSpawner, c, logging.getLogger("test-watchers"))
    said = "Could not start watching pods in namespace default at hub start: the Kubernetes API answered 500"
    assert said in caplog.text
    reflector = await make_spawner(username="ada", config=c)._start_watching_pods()  # the next spawn's
    assert reflector.watch_task is not None
    assert [status for _, _, status in served(emu, "GET", POD_LIST)] == [-1, 200]


async def test_with_user_namespaces_a_failed_first_list_does_not_stop_the_hub(
    kube_config, stop_reflectors, caplog
):
    emu, c = kube_config
    # one watcher for all namespaces: KubeSpawner exits on failure
    c.KubeSpawner.enable_user_namespaces = True
    c.KubeSpawner.events_enabled = False
    emu.fail("GET", r"^/api/v1/pods\?", status=403)
    assert not await start_watchers(CatalogSpawner, c, logging.getLogger("test-watchers"))  # no SystemExit
    assert (
        "Could not start watching pods in all namespaces at hub start: KubeSpawner could not start it"
        in caplog.text
    )
    assert [status for method, path, status in emu.faults.requests if path.startswith("/api/v1/pods?")] == [
        -1
    ]

"""CatalogSpawner's spawn path against the Kubernetes API emulator (fast kubelet, no processes).

The real KubeSpawner machinery (reflectors, PVC, pod, events) talks HTTP to the emulator, which
validates every object strictly. Checks what a spawn leaves in the cluster: pod, Secret owned by the
pod, PVC; that a failed spawn leaves nothing it created behind (and never an older home); progress.
"""

import asyncio
import base64
import json

import pytest
from kubespawner import KubeSpawner
from traitlets.config import Config

from spawner.errors import SpawnException
from spawner.kube.offline import make_spawner, offline_kube_config
from spawner.plan import SessionCredentials
from tests.support.kube import KubeEmulator

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def kube():
    with KubeEmulator(fast=True) as emulator:
        yield emulator


@pytest.fixture
async def spawn(kube):
    """Factory of CatalogSpawners talking to the emulator; reflectors are stopped after the test."""

    def factory(username, user_options, *, credentials=None, server_name=""):
        c = Config()
        c.KubeSpawner.k8s_api_host = kube.url
        c.KubeSpawner.namespace = "default"
        c.KubeSpawner.start_timeout = 20
        c.KubeSpawner.k8s_api_request_timeout = 3
        c.KubeSpawner.k8s_api_request_retry_timeout = 6
        with offline_kube_config():
            return make_spawner(
                username=username,
                groups=["datalab-users"],
                server_name=server_name,
                user_options=user_options,
                credentials=credentials,
                api_token=f"API-TOKEN-OF-{username}-0123456789",
                config=c,
            )

    yield factory
    kube.faults.clear()
    await KubeSpawner._stop_all_reflectors()


def only(items):
    assert len(items) == 1, items
    return items[0]


async def wait_until(predicate, limit=10.0):
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_spawn_creates_pod_owned_secret_and_pvc_then_stop_removes_pod_and_secret(kube, spawn):
    credentials = SessionCredentials(
        env={"AWS_S3_ENDPOINT": "https://s3.example.org"},
        secret_files={"credentials.json": json.dumps({"s3": {"secret_access_key": "S3-SECRET-abcdefgh"}})},
        warnings=("Vault is not reachable: no Vault token in this session",),
    )
    spawner = spawn(
        "ada", {"service": "jupyter-python", "postgres": True, "cpu": "2"}, credentials=credentials
    )
    spawner.start()
    events = []

    values = []

    async def follow():
        async for event in spawner.progress():
            events.append(event["message"])
            values.append(event["progress"])

    follower = asyncio.ensure_future(follow())
    url = await spawner._start_future
    await asyncio.wait_for(follower, 10)
    assert url.startswith("http://127.") and url.endswith(":8888")

    pod = only(kube.objects("pods", label_selector="hub.jupyter.org/username=ada"))
    secret = only(kube.objects("secrets", label_selector="hub.jupyter.org/username=ada"))
    pvc = only(kube.objects("persistentvolumeclaims", label_selector="hub.jupyter.org/username=ada"))
    assert pod["metadata"]["labels"]["datalab.io/service"] == "jupyter-python"
    assert pod["metadata"]["labels"]["datalab.io/profile-list"] == "default"
    assert pod["status"]["phase"] == "Running"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    assert set(secret["data"]) == {"jupyterhub-api-token", "postgres-password", "credentials.json"}
    assert base64.b64decode(secret["data"]["jupyterhub-api-token"]).decode() == spawner.api_token
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"
    stored = json.dumps(pod)
    for value in spawner._secret_values.values():
        assert value not in stored
    assert "S3-SECRET" not in stored and spawner.api_token not in stored

    assert any(m.startswith("Options accepted: JupyterLab") for m in events)
    assert any("Vault is not reachable" in m for m in events)
    assert any("Storing the session's secrets" in m for m in events)
    assert any("Created container" in m or "Started" in m for m in events), events
    assert values == sorted(values), list(
        zip(values, events, strict=True)
    )  # our steps and the pod's events: one bar

    await spawner.stop(now=True)
    assert not kube.objects("pods", label_selector="hub.jupyter.org/username=ada")
    await wait_until(lambda: not kube.objects("secrets", label_selector="hub.jupyter.org/username=ada"))
    assert kube.objects("persistentvolumeclaims", label_selector="hub.jupyter.org/username=ada")  # home kept


async def test_invalid_options_create_nothing(kube, spawn):
    spawner = spawn("bert", {"service": "jupyter-python", "memory": 512})
    before = len(kube.faults.requests)
    with pytest.raises(SpawnException) as info:
        await spawner.start()
    assert info.value.status_code == 400 and "memory" in info.value.message
    writes = [r for r in list(kube.faults.requests)[before:] if r[0] in ("POST", "PUT", "PATCH")]
    assert writes == []


async def test_failed_secret_leaves_nothing_behind(kube, spawn):
    spawner = spawn("cleo", {"service": "jupyter-python"})
    kube.fail("POST", r"/namespaces/default/secrets", status=500, count=-1)
    with pytest.raises(SpawnException, match="could not create Secret") as info:
        await spawner.start()
    assert info.value.status_code == 503 and "Nothing was left behind" in info.value.message
    selector = "hub.jupyter.org/username=cleo"
    await wait_until(lambda: not kube.objects("pods", label_selector=selector))
    assert not kube.objects("secrets", label_selector=selector)


async def test_failed_spawn_keeps_the_home_of_an_earlier_session(kube, spawn):
    first = spawn("dora", {"service": "jupyter-python"})
    await first.start()
    await first.stop(now=True)
    selector = "hub.jupyter.org/username=dora"
    home = only(kube.objects("persistentvolumeclaims", label_selector=selector))

    again = spawn("dora", {"service": "jupyter-python"})  # a fresh spawner: state lost, PVC exists
    kube.fail("POST", r"/namespaces/default/pods", status=500, count=-1)
    with pytest.raises(Exception):  # noqa: B017 - the API's 500 surfaces as KubeSpawner raises it
        await again.start()
    kept = only(kube.objects("persistentvolumeclaims", label_selector=selector))
    assert kept["metadata"]["uid"] == home["metadata"]["uid"]
    assert not kube.objects("pods", label_selector=selector)
    await wait_until(lambda: not kube.objects("secrets", label_selector=selector))  # the first one, by GC


async def test_failed_pod_deletes_the_pvc_this_spawn_created(kube, spawn):
    spawner = spawn("emil", {"service": "rstudio"})
    kube.fail("POST", r"/namespaces/default/pods", status=500, count=-1)
    with pytest.raises(Exception):  # noqa: B017
        await spawner.start()
    assert not kube.objects("persistentvolumeclaims", label_selector="hub.jupyter.org/username=emil")


async def test_stale_secret_of_an_earlier_pod_is_replaced(kube, spawn):
    spawner = spawn("fay", {"service": "jupyter-python"})
    await spawner.start()
    old_secret = only(kube.objects("secrets", label_selector="hub.jupyter.org/username=fay"))
    # the hub lost track of the pod: a new spawn of the same server finds the pod and its Secret
    again = spawn("fay", {"service": "jupyter-python", "cpu": "1.5"})
    await again.start()
    pod = only(kube.objects("pods", label_selector="hub.jupyter.org/username=fay"))
    await wait_until(lambda: len(kube.objects("secrets", label_selector="hub.jupyter.org/username=fay")) == 1)
    secret = only(kube.objects("secrets", label_selector="hub.jupyter.org/username=fay"))
    assert secret["metadata"]["uid"] != old_secret["metadata"]["uid"]
    assert secret["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    assert base64.b64decode(secret["data"]["jupyterhub-api-token"]).decode() == again.api_token
    await again.stop(now=True)


def secret_hangs(kube, spawner, monkeypatch) -> bool:
    """The cancel comes while the spawn still retries a Secret the API never answers."""
    kube.hang("POST", r"/namespaces/default/secrets", seconds=30, count=-1)
    return True


def pod_answer_late(kube, spawner, monkeypatch) -> bool:
    """The cancel comes after the API made the pod but before its answer came back."""
    kube.late("POST", r"/namespaces/default/pods", seconds=30)
    return True


def cancel_with_pod_answer(kube, spawner, monkeypatch) -> bool:
    """The cancel comes at the moment the pod's answer does (Python 3.11's wait_for then lost the cancel,
    and the spawn went on to start the session)."""
    create = spawner.api.create_namespaced_pod

    async def create_then_cancel(*args, **kwargs):
        created = await create(*args, **kwargs)
        spawner._start_future.cancel()
        return created

    monkeypatch.setattr(spawner.api, "create_namespaced_pod", create_then_cancel)
    return False


@pytest.mark.parametrize("timing", [secret_hangs, pod_answer_late, cancel_with_pod_answer])
async def test_spawn_cancelled_by_the_hub_timeout_cleans_up(kube, spawn, monkeypatch, timing):
    """JupyterHub cancels start() when start_timeout passes: whenever the cancel comes, the start ends
    cancelled and what the spawn made is deleted."""
    spawner = spawn("gus", {"service": "vscode-python"})
    spawner.k8s_api_request_retry_timeout = 120  # the spawn must not give up on its own before the cancel
    cancel_here = timing(kube, spawner, monkeypatch)
    spawner.start()
    selector = "hub.jupyter.org/username=gus"
    if cancel_here:
        await wait_until(lambda: kube.objects("pods", label_selector=selector), limit=30)
        spawner._start_future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await spawner._start_future
    # deletion is asynchronous (and slow on a loaded machine: 10 s was once not enough)
    await wait_until(lambda: not kube.objects("pods", label_selector=selector), limit=30)
    assert not kube.objects("persistentvolumeclaims", label_selector=selector)  # created by this spawn
    assert not kube.objects("secrets", label_selector=selector)
    assert spawner._pvc_exists is False


async def test_pvc_found_after_a_timed_out_create_is_ours_only_if_this_spawn_made_it(kube, spawn):
    """A 409 after a timed-out create: the spawn's annotation tells its own new PVC from an older home."""
    spawner = spawn("hal", {"service": "jupyter-python"})
    await spawner.load_user_options()
    spawner._spawn_id = "spawn-1"
    spawner._created = {"pod": False, "secret": False, "pvc": False, "pvc_timeout": True}
    pvc = spawner.get_pvc_manifest()
    body = spawner.api.api_client.sanitize_for_serialization(pvc)
    await spawner.api.create_namespaced_persistent_volume_claim(
        "default", body
    )  # as if the timed-out POST won
    assert await spawner._make_create_pvc_request(pvc, 5) is True
    assert spawner._created["pvc"] is True

    spawner._spawn_id = "spawn-2"  # a later spawn finds the same PVC: an older home, never deleted
    spawner._created = {"pod": False, "secret": False, "pvc": False, "pvc_timeout": True}
    assert await spawner._make_create_pvc_request(spawner.get_pvc_manifest(), 5) is True
    assert spawner._created["pvc"] is False
    await spawner.api.delete_namespaced_persistent_volume_claim(pvc.metadata.name, "default")


async def started_claims(kube, spawner) -> set[str]:
    """The PVCs the pod of `spawner`'s user mounts, once it has started."""
    spawner.start()
    await spawner._start_future
    pod = only(kube.objects("pods", label_selector=f"hub.jupyter.org/username={spawner.user.name}"))
    return {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }


async def test_a_server_in_a_project_mounts_a_home_of_its_own_never_the_owners(kube, spawn):
    spawner = spawn("bea", {"service": "jupyter-python", "project": "demo"}, server_name="team")
    spawner.projects_provider = lambda s: ["demo"]
    claims = await started_claims(kube, spawner)
    assert claims == {"claim-bea--team--project-demo"}, claims
    await spawner.stop(now=True)
    personal = spawn("bea", {"service": "jupyter-python"}, server_name="team")
    personal.pvc_name = spawner.pvc_name  # as KubeSpawner restores it from the server's state
    personal.projects_provider = lambda s: ["demo"]
    claims = await started_claims(kube, personal)
    assert claims == {"claim-bea--team"}, claims
    await personal.stop(now=True)

"""The Kubernetes API emulator behaves like an API server for the clients we use (kubernetes_asyncio,
KubeSpawner's reflector, kubectl): errors, validation, selectors, watches, garbage collection, faults.
The node (scheduler and kubelet) has test_kube_kubelet.py."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest
import requests
from kubernetes_asyncio import client, watch

from tests.support.kube import KubeEmulator
from tests.support.kube.selectors import Selector
from tests.support.procs import wait_until
from tests.support_tests.kube_objects import pod, post, secret


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", {"a", "b"}),
        ("app==web,tier!=db", {"a"}),
        ("tier in (db, cache)", {"b", "c"}),
        ("tier notin (db),app", {"a"}),
        ("tier", {"b", "c"}),
        ("!tier", {"a"}),
        ("", {"a", "b", "c"}),
    ],
)
def test_label_selectors(selector, expected):
    objs = {
        "a": {"metadata": {"labels": {"app": "web"}}},
        "b": {"metadata": {"labels": {"app": "web", "tier": "db"}}},
        "c": {"metadata": {"labels": {"tier": "cache"}}},
    }
    parsed = Selector.parse(selector)
    assert {k for k, o in objs.items() if parsed.matches(o)} == expected


def test_create_sets_server_fields_and_duplicates_are_409(emu):
    r = post(emu, "configmaps", {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    assert r.status_code == 201, r.text
    meta = r.json()["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and int(meta["resourceVersion"]) > 0

    again = post(emu, "configmaps", {"metadata": {"name": "settings"}})
    assert again.status_code == 409
    assert again.json()["reason"] == "AlreadyExists" and again.json()["kind"] == "Status"

    generated = post(emu, "configmaps", {"metadata": {"generateName": "cfg-"}}).json()["metadata"]["name"]
    assert generated.startswith("cfg-") and len(generated) > 4

    missing = requests.get(f"{emu.url}/api/v1/namespaces/default/secrets/nope", timeout=10)
    assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"


def test_unknown_fields_are_dropped_with_a_warning_and_refused_only_when_strict(emu):
    bad = pod("typo")
    bad["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    bad["spec"]["colour"] = "red"
    r = post(emu, "pods", bad)
    assert r.status_code == 201, r.text
    warnings = r.raw.headers.getlist("Warning")
    assert warnings == [
        '299 - "unknown field \\"spec.colour\\""',
        '299 - "unknown field \\"spec.containers[0].imagePullPolicyy\\""',
    ]
    stored = emu.store.find("pods", "default", "typo")
    assert "colour" not in stored["spec"] and "imagePullPolicyy" not in stored["spec"]["containers"][0]

    bad["metadata"]["name"] = "typo-strict"
    r = requests.post(
        f"{emu.url}/api/v1/namespaces/default/pods",
        params={"fieldValidation": "Strict"},
        json=bad,
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest", r.text
    assert 'strict decoding error: unknown field "spec.colour"' in r.json()["message"]
    assert emu.store.find("pods", "default", "typo-strict") is None

    r = requests.post(
        f"{emu.url}/api/v1/namespaces/default/configmaps",
        params={"fieldValidation": "Ignore"},
        json={"metadata": {"name": "quiet"}, "extra": 1},
        timeout=10,
    )
    assert r.status_code == 201 and "Warning" not in r.headers


def test_invalid_values_are_422_whatever_the_field_validation(emu):
    r = post(
        emu,
        "persistentvolumeclaims",
        {"metadata": {"name": "home"}, "spec": {"resources": {"requests": {"storage": None}}}},
    )
    assert r.status_code == 422, r.text
    bad = pod("wrong-type")
    bad["spec"]["containers"][0]["ports"] = "8888"
    r = post(emu, "pods", bad)
    assert r.status_code == 422 and r.json()["reason"] == "Invalid", r.text
    assert "spec.containers.0.ports" in r.json()["message"]


def test_field_selectors_only_on_the_fields_the_server_supports(emu):
    base = f"{emu.url}/api/v1/namespaces/default"
    ok = requests.get(f"{base}/pods", params={"fieldSelector": "status.phase=Running"}, timeout=10)
    assert ok.status_code == 200, ok.text
    for plural, field in (
        ("pods", "metadata.labels"),
        ("persistentvolumeclaims", "status.phase"),
        ("events", "message"),
    ):
        r = requests.get(f"{base}/{plural}", params={"fieldSelector": f"{field}=x"}, timeout=10)
        assert r.status_code == 400, (plural, field, r.text)
        assert r.json()["message"] == f"field label not supported: {field}"
    watch = requests.get(
        f"{base}/pods", params={"watch": "true", "fieldSelector": "spec.containers=x"}, timeout=10
    )
    assert watch.status_code == 400


def test_a_role_limits_what_its_token_may_do(emu, tmp_path):
    role = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create"]}]}
    emu.grant("limited", role, account="hub")
    headers = {"Authorization": "Bearer limited"}
    base = f"{emu.url}/api/v1/namespaces/default"
    r = requests.post(f"{base}/pods", json=pod("rbac-ok"), headers=headers, timeout=10)
    assert r.status_code == 201, r.text
    r = requests.patch(
        f"{base}/pods/rbac-ok",
        json={"metadata": {"labels": {"a": "b"}}},
        headers={**headers, "Content-Type": "application/merge-patch+json"},
        timeout=10,
    )
    assert r.status_code == 403 and r.json()["reason"] == "Forbidden"
    assert r.json()["message"] == (
        'pods "rbac-ok" is forbidden: User "system:serviceaccount:default:hub" cannot patch resource "pods" '
        'in API group "" in the namespace "default"'
    )
    assert requests.get(f"{base}/secrets", headers=headers, timeout=10).status_code == 403
    assert requests.get(f"{base}/pods?watch=true", headers=headers, timeout=10).status_code == 403
    assert (
        requests.get(f"{emu.url}/api/v1/namespaces/other/pods", headers=headers, timeout=10).status_code
        == 403
    )
    assert requests.get(f"{emu.url}/version", headers=headers, timeout=10).status_code == 200
    assert requests.get(f"{base}/secrets", timeout=10).status_code == 200, "other clients are admins"


async def test_list_with_label_and_field_selectors(emu, core):
    for name, labels in (
        ("sel-a", {"component": "singleuser-server", "user": "ann"}),
        ("sel-b", {"component": "other"}),
    ):
        await core.create_namespaced_pod("default", pod(name, labels))
    pods = await core.list_namespaced_pod(
        "default", label_selector="component=singleuser-server,user in (ann,bob)"
    )
    assert [p.metadata.name for p in pods.items] == ["sel-a"]
    pods = await core.list_namespaced_pod("default", field_selector="metadata.name=sel-b")
    assert [p.metadata.name for p in pods.items] == ["sel-b"]
    events = await core.list_namespaced_event(
        "default", field_selector="involvedObject.kind=Pod,involvedObject.name=sel-a"
    )
    assert "Scheduled" in {e.reason for e in events.items} or wait_until(
        lambda: any(
            e["reason"] == "Scheduled"
            for e in emu.objects("events")
            if e["involvedObject"]["name"] == "sel-a"
        )
    )


async def test_watch_resumes_from_resource_version_and_ends_on_timeout(emu, core):
    await core.create_namespaced_config_map("default", {"metadata": {"name": "w1", "labels": {"w": "yes"}}})
    listed = await core.list_namespaced_config_map("default", label_selector="w=yes")
    rv = listed.metadata.resource_version
    await core.create_namespaced_config_map("default", {"metadata": {"name": "w2", "labels": {"w": "yes"}}})
    await core.patch_namespaced_config_map("w1", "default", {"metadata": {"labels": {"w": "no"}}})

    seen = []
    start = time.monotonic()
    async with watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        label_selector="w=yes",
        resource_version=rv,
        timeout_seconds=1,
    ) as stream:
        async for event in stream:
            seen.append((event["type"], event["raw_object"]["metadata"]["name"]))
    # Only what happened after rv; w1 stopped matching, so this watcher sees it deleted.
    assert seen == [("ADDED", "w2"), ("DELETED", "w1")]
    assert 0.9 < time.monotonic() - start < 5


def test_a_watch_from_a_forgotten_resource_version_gets_410():
    with KubeEmulator(fast=True) as small:
        small.store._history = type(small.store._history)(maxlen=3)
        for i in range(6):
            post(small, "configmaps", {"metadata": {"name": f"c{i}"}})
        r = requests.get(
            f"{small.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2&timeoutSeconds=1",
            timeout=10,
        )
        assert '"code": 410' in r.text and '"type": "ERROR"' in r.text


def test_garbage_collection_follows_owner_references(emu):
    owner = post(emu, "pods", pod("gc-owner")).json()
    assert post(emu, "secrets", secret("gc-owned", {"k": "v"}, owner=owner)).status_code == 201
    ghost = {"metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}}
    assert post(emu, "secrets", secret("gc-orphan", {"k": "v"}, owner=ghost)).status_code == 201
    wait_until(lambda: emu.store.find("secrets", "default", "gc-orphan") is None)
    assert emu.store.find("secrets", "default", "gc-owned") is not None

    r = requests.delete(f"{emu.url}/api/v1/namespaces/default/pods/gc-owner?gracePeriodSeconds=0", timeout=10)
    assert r.status_code == 200
    wait_until(lambda: emu.store.find("secrets", "default", "gc-owned") is None)


def test_owner_references_changed_by_a_patch_count_for_garbage_collection(emu):
    owner = post(emu, "pods", pod("gc-patched-owner")).json()
    assert post(emu, "secrets", secret("gc-freed", {"k": "v"}, owner=owner)).status_code == 201
    assert post(emu, "secrets", secret("gc-adopted", {"k": "v"})).status_code == 201
    merge = {"Content-Type": "application/merge-patch+json"}
    url = f"{emu.url}/api/v1/namespaces/default/secrets"
    freed = {"metadata": {"ownerReferences": None}}
    requests.patch(f"{url}/gc-freed", json=freed, headers=merge, timeout=10).raise_for_status()
    ghost = secret(
        "x", {}, owner={"metadata": {"name": "gone", "uid": "00000000-0000-0000-0000-00000000000a"}}
    )
    adopted = {"metadata": {"ownerReferences": ghost["metadata"]["ownerReferences"]}}
    requests.patch(f"{url}/gc-adopted", json=adopted, headers=merge, timeout=10).raise_for_status()
    wait_until(lambda: emu.store.find("secrets", "default", "gc-adopted") is None)  # its new owner is gone

    r = requests.delete(
        f"{emu.url}/api/v1/namespaces/default/pods/gc-patched-owner?gracePeriodSeconds=0", timeout=10
    )
    assert r.status_code == 200
    time.sleep(0.5)  # the collector runs within 0.05 s of a deletion
    assert emu.store.find("secrets", "default", "gc-freed") is not None  # no longer owned: kept


def test_injected_faults_and_dropped_connections(emu):
    emu.fail("GET", r"/secrets", count=1)
    url = f"{emu.url}/api/v1/namespaces/default/secrets"
    assert requests.get(url, timeout=10).status_code == 500
    assert requests.get(url, timeout=10).status_code == 200

    emu.hang("GET", r"/configmaps\b", seconds=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{emu.url}/api/v1/namespaces/default/configmaps", timeout=0.5)

    with requests.get(f"{url}?watch=true", stream=True, timeout=10) as stream:
        emu.drop_connections(down_seconds=0.3)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):  # cut mid-stream, as in a restart
            for _ in stream.iter_lines():
                pass
    assert requests.get(url, timeout=10).status_code == 200  # objects kept, serving again


async def test_kubespawner_reflector_recovers_after_the_api_server_drops_connections(emu):
    from kubespawner.reflector import ResourceReflector

    previous = client.Configuration.get_default_copy()
    client.Configuration.set_default(client.Configuration(host=emu.url))  # what load_config() does

    class Pods(ResourceReflector):
        kind = "pods"

    reflector = Pods(namespace="default", labels={"reflect": "me"}, timeout_seconds=1)
    await reflector.start()
    try:
        post(emu, "pods", pod("not-reflected", {"reflect": "no"}))
        post(emu, "pods", pod("reflected-1", {"reflect": "me"}))
        await asyncio.to_thread(wait_until, lambda: "default/reflected-1" in reflector.resources)
        await asyncio.to_thread(emu.drop_connections, 0.5)
        post(emu, "pods", pod("reflected-2", {"reflect": "me"}))
        await asyncio.to_thread(wait_until, lambda: "default/reflected-2" in reflector.resources, 15)
        assert "default/not-reflected" not in reflector.resources
        phase = reflector.resources["default/reflected-2"].get("status", {}).get("phase")
        assert phase in ("Pending", "Running")
    finally:
        await reflector.stop()
        client.Configuration.set_default(previous)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_pods(emu):
    post(emu, "pods", pod("for-kubectl"))
    wait_until(lambda: emu.store.get("pods", "default", "for-kubectl")["status"]["phase"] == "Running")
    out = subprocess.run(
        ["kubectl", "--server", emu.url, "get", "pods", "for-kubectl"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "for-kubectl" in out.stdout and "Running" in out.stdout

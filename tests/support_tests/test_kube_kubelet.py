"""The emulator's node as a cluster's would behave: the scheduler binds pods while there is room, the
kubelet waits for what a pod references, runs it, and deletes it gracefully."""

from __future__ import annotations

import base64
import time

import pytest
import requests

from tests.support.kube import KubeEmulator
from tests.support.procs import wait_until
from tests.support_tests.kube_objects import pod, post, secret


def test_kubelet_waits_for_a_missing_secret(emu):
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "late", "key": "token"}}}]
    post(emu, "pods", pod("waiter", env=env))

    def reasons():
        return {e["reason"] for e in emu.objects("events") if e["involvedObject"]["name"] == "waiter"}

    wait_until(lambda: "CreateContainerConfigError" in reasons())
    time.sleep(0.3)
    waiter = emu.store.get("pods", "default", "waiter")
    assert waiter["status"]["phase"] == "Pending"
    assert (
        waiter["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    )

    post(emu, "secrets", secret("late", {"other": "x"}))  # the key is still missing
    wait_until(
        lambda: any(
            "couldn't find key token" in e["message"]
            for e in emu.objects("events")
            if e["involvedObject"]["name"] == "waiter"
        )
    )
    assert emu.store.get("pods", "default", "waiter")["status"]["phase"] == "Pending"

    requests.patch(
        f"{emu.url}/api/v1/namespaces/default/secrets/late",
        json={"data": {"token": base64.b64encode(b"t").decode()}},
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=10,
    ).raise_for_status()
    running = wait_until(
        lambda: (p := emu.store.get("pods", "default", "waiter"))["status"]["phase"] == "Running" and p
    )
    assert running["status"]["podIP"].startswith("127.")
    assert all(c["ready"] for c in running["status"]["containerStatuses"])
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= reasons()
    # Fast mode: a stub answers on the pod's own address in place of the server.
    assert wait_until(lambda: requests.get(f"http://{running['status']['podIP']}:8888/", timeout=5).ok)
    requests.delete(f"{emu.url}/api/v1/namespaces/default/pods/waiter", timeout=10).raise_for_status()
    wait_until(lambda: emu.store.find("pods", "default", "waiter") is None)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{running['status']['podIP']}:8888/", timeout=5)


def test_graceful_pod_deletion_marks_then_removes(emu, core):
    post(emu, "pods", pod("graceful"))
    wait_until(lambda: emu.store.get("pods", "default", "graceful")["status"]["phase"] == "Running")
    seen = []

    def record(change):
        if change.plural == "pods":
            seen.append((change.type, change.obj))

    emu.store.subscribe(record)
    try:
        r = requests.delete(
            f"{emu.url}/api/v1/namespaces/default/pods/graceful", json={"gracePeriodSeconds": 5}, timeout=10
        )
        assert r.status_code == 200 and r.json()["metadata"]["deletionTimestamp"]
        wait_until(lambda: emu.store.find("pods", "default", "graceful") is None)
    finally:
        emu.store.unsubscribe(record)
    types = [t for t, o in seen if o["metadata"]["name"] == "graceful"]
    assert types[0] == "MODIFIED" and types[-1] == "DELETED"
    assert seen[0][1]["metadata"]["deletionGracePeriodSeconds"] == 5
    killing = [
        e
        for e in emu.objects("events")
        if e["involvedObject"]["name"] == "graceful" and e["reason"] == "Killing"
    ]
    assert killing


def test_a_full_node_leaves_pods_pending_until_one_leaves():
    with KubeEmulator(fast=True, max_pods=2) as small:
        for name in ("first", "second", "third"):
            assert post(small, "pods", pod(name)).status_code == 201
        for name in ("first", "second"):
            wait_until(lambda n=name: small.store.get("pods", "default", n)["status"]["phase"] == "Running")

        def failed_scheduling():
            return [
                e
                for e in small.objects("events")
                if e["involvedObject"]["name"] == "third" and e["reason"] == "FailedScheduling"
            ]

        [event] = wait_until(failed_scheduling)
        assert event["type"] == "Warning" and "Too many pods" in event["message"]
        time.sleep(0.5)  # the scheduler does not bind it meanwhile, nor report it again
        third = small.store.get("pods", "default", "third")
        assert third["status"]["phase"] == "Pending" and not third["spec"].get("nodeName")
        [condition] = third["status"]["conditions"]
        assert (condition["type"], condition["status"], condition["reason"]) == (
            "PodScheduled",
            "False",
            "Unschedulable",
        )
        assert len(failed_scheduling()) == 1

        requests.delete(f"{small.url}/api/v1/namespaces/default/pods/first", timeout=10).raise_for_status()
        running = wait_until(
            lambda: (p := small.store.get("pods", "default", "third"))["status"]["phase"] == "Running" and p
        )
        second = small.store.get("pods", "default", "second")
        assert running["spec"]["nodeName"] and running["status"]["podIP"] != second["status"]["podIP"]

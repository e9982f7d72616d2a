"""Objects and calls the emulator's tests share: a pod, a Secret (optionally owned), a POST."""

from __future__ import annotations

import base64

import requests


def pod(name, labels=None, **container):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "busybox", **container}]},
    }


def secret(name, data, owner=None):
    meta = {"name": name}
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
        ]
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": encoded}


def post(emu, plural, body, ns="default"):
    return requests.post(f"{emu.url}/api/v1/namespaces/{ns}/{plural}", json=body, timeout=10)

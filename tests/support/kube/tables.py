"""Server-side printing (`as=Table`) so `kubectl get` shows the usual columns."""

from __future__ import annotations

from datetime import UTC, datetime


def _age(obj: dict) -> str:
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "<unknown>"
    seconds = int(
        (datetime.now(UTC) - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _pod_cells(pod: dict) -> list:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    total = len(pod.get("spec", {}).get("containers") or [])
    status = pod.get("status", {}).get("phase", "Unknown")
    for s in statuses:
        if waiting := (s.get("state") or {}).get("waiting"):
            status = waiting.get("reason", status)
    if pod["metadata"].get("deletionTimestamp"):
        status = "Terminating"
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    return [f"{ready}/{total}", status, restarts, _age(pod), pod.get("status", {}).get("podIP", "<none>")]


COLUMNS = {
    "pods": [
        ("Ready", "string"),
        ("Status", "string"),
        ("Restarts", "integer"),
        ("Age", "string"),
        ("IP", "string"),
    ],
    "events": [("Reason", "string"), ("Object", "string"), ("Message", "string")],
}


def _cells(plural: str, obj: dict) -> list:
    if plural == "pods":
        return _pod_cells(obj)
    if plural == "events":
        involved = obj.get("involvedObject", {})
        return [
            obj.get("reason", ""),
            f"{involved.get('kind', '').lower()}/{involved.get('name', '')}",
            obj.get("message", ""),
        ]
    return [_age(obj)]


def table(plural: str, items: list[dict], rv: int) -> dict:
    columns = [("Name", "string")] + COLUMNS.get(plural, [("Age", "string")])
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(rv)},
        "columnDefinitions": [
            {"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n, "priority": 0}
            for n, t in columns
        ],
        "rows": [
            {
                "cells": [obj["metadata"]["name"], *_cells(plural, obj)],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
            for obj in items
        ],
    }

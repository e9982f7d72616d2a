"""What the kubelet writes: pod conditions, container statuses, the Running status, events (plain data)."""

from __future__ import annotations

import uuid

from tests.support.kube.store import now_iso


def condition(type_: str, status: str = "True") -> dict:
    return {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": now_iso()}


def container_status(container: dict, state: dict, ready: bool) -> dict:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": f"docker-pullable://{container.get('image', '')}",
        "containerID": f"containerd://{uuid.uuid4().hex}",
        "ready": ready,
        "started": ready,
        "restartCount": 0,
        "state": state,
        "lastState": {},
    }


def running(ip: str, started: str, unready: set[str], messages: dict[str, str] | None = None):
    """An update for a pod whose containers all run; those in `unready` have not passed their probe yet;
    `messages`: the init containers' termination messages."""

    def update(p: dict) -> None:
        spec = p["spec"]
        status = p.setdefault("status", {})
        ready = "False" if unready else "True"
        status.update(
            phase="Running",
            podIP=ip,
            podIPs=[{"ip": ip}],
            hostIP="127.0.0.1",
            hostIPs=[{"ip": "127.0.0.1"}],
            startTime=started,
            conditions=[
                condition("PodReadyToStartContainers"),
                condition("Initialized"),
                condition("Ready", ready),
                condition("ContainersReady", ready),
                condition("PodScheduled"),
            ],
            containerStatuses=[
                container_status(c, {"running": {"startedAt": started}}, c["name"] not in unready)
                for c in spec["containers"]
            ],
        )
        statuses = []
        for c in spec.get("initContainers") or []:
            done = {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}
            if (messages or {}).get(c["name"]):
                done["message"] = messages[c["name"]]
            statuses.append(container_status(c, {"terminated": done}, True))
        if statuses:
            status["initContainerStatuses"] = statuses

    return update


def event(
    pod: dict, reason: str, message: str, type_: str, field_path: str | None, source: str, node: str
) -> dict:
    meta = pod["metadata"]
    involved = {
        "kind": "Pod",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": "v1",
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if field_path:
        involved["fieldPath"] = f"spec.containers{{{field_path}}}"
    now = now_iso()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": source, "host": node},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "eventTime": None,
        "count": 1,
        "reportingComponent": source,
        "reportingInstance": node,
    }

"""The scheduler of the emulator's one node: binds pods while the node has room, and the node's pod addresses.

The node stands for a cluster's capacity: `max_pods` pods at once (1,000 by default; a real node's
kubelet default is 110, a cluster has several). A pod that finds the node full stays Pending, unscheduled,
with a FailedScheduling event, as the real scheduler leaves it, and is bound once a pod has left the node.
Each pod gets its own loopback address, from a block of four random 127.A.B.0/24 networks per emulator, so
parallel test runs never collide.
"""

from __future__ import annotations

import random

from tests.support.kube import status as pod_status
from tests.support.kube.store import Store

NODE = "emulator-node"
MAX_PODS = 1000
_NETWORKS = 4  # /24 networks of pod addresses: 1,016 addresses
FULL = (
    "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)


def event(
    store: Store,
    pod: dict,
    reason: str,
    message: str,
    type_: str = "Normal",
    *,
    field_path=None,
    source="kubelet",
) -> None:
    """Record an event about `pod`, as the component `source` of the node would."""
    store.create(
        "events",
        pod["metadata"]["namespace"],
        pod_status.event(pod, reason, message, type_, field_path, source, NODE),
    )


class Scheduler:
    def __init__(self, store: Store, max_pods: int = MAX_PODS):
        if not 0 < max_pods <= _NETWORKS * 254:
            raise ValueError(f"max_pods must be between 1 and {_NETWORKS * 254}")
        self.store = store
        self.max_pods = max_pods
        a, b = random.randint(1, 250), random.randrange(0, 256 - _NETWORKS, _NETWORKS)
        self._addresses = [f"127.{a}.{b + n}.{host}" for n in range(_NETWORKS) for host in range(1, 255)]
        self._next = 0

    def schedule(self, pod: dict, on_node: int, reported: bool) -> bool:
        """Bind `pod` when fewer than max_pods are `on_node`: True. Else mark it unschedulable (with a
        FailedScheduling event, unless `reported` already): False."""
        meta = pod["metadata"]
        if on_node >= self.max_pods:
            if not reported:

                def unschedulable(p):
                    condition = {**pod_status.condition("PodScheduled", "False"), "reason": "Unschedulable"}
                    p.setdefault("status", {})["conditions"] = [{**condition, "message": FULL}]
                    p["status"]["phase"] = "Pending"

                self.store.update(
                    "pods", meta["namespace"], meta["name"], unschedulable, rv=meta["resourceVersion"]
                )
                event(self.store, pod, "FailedScheduling", FULL, "Warning", source="default-scheduler")
            return False

        def bind(p):
            p["spec"]["nodeName"] = NODE
            p.setdefault("status", {})["conditions"] = [pod_status.condition("PodScheduled")]

        self.store.update("pods", meta["namespace"], meta["name"], bind, rv=meta["resourceVersion"])
        message = f"Successfully assigned {meta['namespace']}/{meta['name']} to {NODE}"
        event(self.store, pod, "Scheduled", message, source="default-scheduler")
        return True

    def allocate_ip(self, used: set[str]) -> str:
        """A pod address no pod in `used` has (the next one round the block, so one is not soon reused)."""
        for _ in range(len(self._addresses)):
            ip = self._addresses[self._next]
            self._next = (self._next + 1) % len(self._addresses)
            if ip not in used:
                return ip
        raise RuntimeError("the emulator's node ran out of pod addresses")

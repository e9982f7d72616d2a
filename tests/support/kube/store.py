"""The emulator's object store: namespaced objects, one global resourceVersion counter, a bounded history.

Stored objects are never mutated in place (every write stores a new dict), so the snapshots kept in the
history and handed to watchers can be shared without copying, and so can lists the API only serializes
(`shared=True`). Other readers get deep copies. The uids and the objects with owners are indexed, so garbage
collection does not walk every object (events pile up as on a real server).
Thread-safe: the HTTP server, the kubelet and test code (another thread) all use it.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.support.kube.errors import ApiError
from tests.support.kube.selectors import Selector


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()


RESOURCES = {
    r.plural: r
    for r in (
        Resource("pods", "Pod", "pod", short_names=("po",)),
        Resource("services", "Service", "service", short_names=("svc",)),
        Resource("secrets", "Secret", "secret"),
        Resource(
            "persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim", short_names=("pvc",)
        ),
        Resource("events", "Event", "event", short_names=("ev",)),
        Resource("configmaps", "ConfigMap", "configmap", short_names=("cm",)),
        Resource("serviceaccounts", "ServiceAccount", "serviceaccount", short_names=("sa",)),
        Resource("namespaces", "Namespace", "namespace", namespaced=False, short_names=("ns",)),
    )
}


@dataclass(frozen=True)
class Change:
    """One write, as a watch sees it: ADDED, MODIFIED or DELETED, with the object after (or at) the write."""

    rv: int
    plural: str
    type: str
    obj: dict
    old: dict | None = None


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource(plural: str) -> Resource:
    try:
        return RESOURCES[plural]
    except KeyError:
        raise ApiError.not_found(
            plural, "", message=f"the server could not find the requested resource ({plural})"
        ) from None


class Store:
    def __init__(self, namespaces=("default",), history: int = 20000):
        self._lock = threading.RLock()
        self._objects: dict[str, dict[tuple[str, str], dict]] = {p: {} for p in RESOURCES}
        self._rv = 0
        self._history: deque[Change] = deque(maxlen=history)
        self._subscribers: list[Callable[[Change], None]] = []
        self._uids: set[str] = set()
        self._owned: dict[tuple[str, str, str], dict] = {}  # (plural, namespace, name) -> object with owners
        for ns in namespaces:
            self.create("namespaces", "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    # -- reads ---------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def get(self, plural: str, namespace: str, name: str) -> dict:
        with self._lock:
            obj = self._objects[resource(plural).plural].get((namespace, name))
            if obj is None:
                raise ApiError.not_found(plural, name)
            return copy.deepcopy(obj)

    def find(self, plural: str, namespace: str, name: str) -> dict | None:
        """Like get() but None when absent (for test code and the kubelet)."""
        try:
            return self.get(plural, namespace, name)
        except ApiError:
            return None

    def list(
        self, plural: str, namespace: str | None = None, selector: Selector | None = None, *, shared=False
    ) -> tuple[list, int]:
        """Matching objects and the resourceVersion the list is consistent with. Deep copies, unless
        `shared`: the stored snapshots themselves, for a caller that only serializes them."""
        with self._lock:
            items = [
                obj
                for (ns, _), obj in self._objects[resource(plural).plural].items()
                if (namespace is None or ns == namespace) and (selector is None or selector.matches(obj))
            ]
            return (items if shared else copy.deepcopy(items)), self._rv

    def uids(self) -> set[str]:
        """The uid of every stored object."""
        with self._lock:
            return set(self._uids)

    def owned_objects(self) -> list[tuple[str, dict]]:
        """(plural, object) for every object with ownerReferences; shared snapshots, do not mutate."""
        with self._lock:
            return [(plural, obj) for (plural, _, _), obj in self._owned.items()]

    # -- writes --------------------------------------------------------------------------------------

    def _commit(self, plural: str, kind: str, obj: dict, old: dict | None) -> dict:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if kind == "DELETED":
            self._objects[plural].pop(key, None)
            self._uids.discard(obj["metadata"]["uid"])
        else:
            self._objects[plural][key] = obj
            self._uids.add(obj["metadata"]["uid"])
        if kind != "DELETED" and obj["metadata"].get("ownerReferences"):
            self._owned[(plural, *key)] = obj
        else:
            self._owned.pop((plural, *key), None)
        change = Change(self._rv, plural, kind, obj, old)
        self._history.append(change)
        for callback in list(self._subscribers):
            callback(change)
        return copy.deepcopy(obj)

    def create(self, plural: str, namespace: str, obj: dict) -> dict:
        """Store a new object: name (or generateName), uid, creationTimestamp; 409 when the name is taken."""
        res = resource(plural)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        with self._lock:
            if res.namespaced:
                if ("", namespace) not in self._objects["namespaces"]:
                    raise ApiError.not_found("namespaces", namespace)
                meta["namespace"] = namespace
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise ApiError.invalid(
                        res.kind, "", "metadata.name: Required value: name or generateName is required"
                    )
                for _ in range(100):
                    candidate = meta["generateName"] + uuid.uuid4().hex[:5]
                    if (namespace, candidate) not in self._objects[plural]:
                        meta["name"] = candidate
                        break
            key = (meta.get("namespace", ""), meta["name"])
            if key in self._objects[plural]:
                raise ApiError.already_exists(plural, meta["name"])
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_iso()
            meta.pop("deletionTimestamp", None)
            return self._commit(plural, "ADDED", obj, None)

    def update(
        self, plural: str, namespace: str, name: str, change: Callable[[dict], dict | None], *, rv=None
    ) -> dict:
        """Apply `change` to a copy of the stored object (it may return a new object) and store it (MODIFIED).

        `rv`, when given, must match the stored resourceVersion (optimistic concurrency: 409 Conflict).
        """
        res = resource(plural)
        with self._lock:
            old = self._objects[plural].get((namespace, name))
            if old is None:
                raise ApiError.not_found(plural, name)
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise ApiError.conflict(
                    plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            new = copy.deepcopy(old)
            new = change(new) or new
            for field in ("uid", "creationTimestamp", "namespace", "name", "deletionTimestamp"):
                if field in old["metadata"]:
                    new.setdefault("metadata", {})[field] = old["metadata"][field]
            if not res.namespaced:
                new["metadata"].pop("namespace", None)
            return self._commit(plural, "MODIFIED", new, old)

    def remove(self, plural: str, namespace: str, name: str) -> dict:
        """Remove the object now (DELETED). Graceful deletion is the caller's business (see api.delete)."""
        with self._lock:
            old = self._objects[resource(plural).plural].get((namespace, name))
            if old is None:
                raise ApiError.not_found(plural, name)
            return self._commit(plural, "DELETED", copy.deepcopy(old), old)

    def mark_deleting(self, plural: str, namespace: str, name: str, grace_seconds: int) -> dict:
        """Set deletionTimestamp (graceful deletion): the object stays until the kubelet finishes it."""
        with self._lock:
            old = self._objects[plural].get((namespace, name))
            if old is None:
                raise ApiError.not_found(plural, name)
            if old["metadata"].get("deletionTimestamp"):
                return copy.deepcopy(old)
            new = copy.deepcopy(old)
            new["metadata"]["deletionTimestamp"] = now_iso()
            new["metadata"]["deletionGracePeriodSeconds"] = grace_seconds
            return self._commit(plural, "MODIFIED", new, old)

    def delete(self, plural: str, namespace: str, name: str, grace_seconds: int | None = None) -> dict:
        """Delete as the API does: a pod on a node is marked (graceful) for the kubelet; the rest go now."""
        if plural == "pods":
            with self._lock:
                pod = self._objects["pods"].get((namespace, name))
                if pod is None:
                    raise ApiError.not_found(plural, name)
                if grace_seconds is None:
                    grace_seconds = pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
                running = pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
                if int(grace_seconds) > 0 and pod.get("spec", {}).get("nodeName") and running:
                    return self.mark_deleting(plural, namespace, name, int(grace_seconds))
        return self.remove(plural, namespace, name)

    # -- watching ------------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Change], None], *, since: int | None = None) -> list[Change]:
        """Call `callback(change)` on every later write (under the store lock: keep it quick).

        With `since`, also return the history after that resourceVersion, atomically with the subscription;
        410 Gone when that part of the history was already dropped.
        """
        with self._lock:
            replay: list[Change] = []
            if since is not None and since < self._rv:
                if not self._history or self._history[0].rv > since + 1:
                    raise ApiError.gone(f"too old resource version: {since} ({self._rv})")
                replay = [c for c in self._history if c.rv > since]
            self._subscribers.append(callback)
            return replay

    def unsubscribe(self, callback) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

"""What a Kubernetes spawn creates, and the clean-up of a failed one: SpawnSteps, a part of CatalogSpawner.

The per-server Secret is created right after the pod exists, owned by it (the uid comes from the create
response); a failed spawn deletes what it created (pod, Secret, a PVC it created; never an older home) and
fails with a 503 that says which step failed. It uses CatalogSpawner's pod_names(),
get_session_secret_manifest(), plan, _parts and report_progress().

Request timeouts use `asyncio.timeout`, not `wait_for`: on Python 3.11, `wait_for` returns an answer that
arrives with a cancel and loses the cancel (the hub's start_timeout), and the spawn goes on.

KubeSpawner private methods and attributes used (checked on KubeSpawner 7.0.0 and 7.1.0; the versions are
pinned in tests/spawner/kube/test_seams.py):
- `_make_create_pod_request`: create the Secret owned by the pod as soon as the pod exists;
- `_make_create_pvc_request`: remember whether this spawn created the home PVC (an older home is kept);
- `_start`: delete what a failed spawn created;
- `_pvc_exists`: set to False when a failed spawn deleted the PVC it created, so the next start makes it
  again (7.1's `_start` skips creating a PVC it believes exists).
"""

from __future__ import annotations

import asyncio
import secrets

from jupyterhub.utils import exponential_backoff
from kubernetes_asyncio.client.rest import ApiException

from ..errors import SpawnException
from . import clone

CREATED_BY_SPAWN = "datalab.io/created-by-spawn"


class _StepFailed(Exception):
    """A Kubernetes call of ours failed; `what` says which and the API's status (never its body)."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class SpawnSteps:
    """The steps of KubeSpawner's `_start` that CatalogSpawner replaces (it lists this class before KubeSpawner)."""

    _spawn_id = ""
    _created: dict[str, bool] | None = None

    async def _start(self):
        self._spawn_id = secrets.token_hex(8)
        self._created = {"pod": False, "secret": False, "pvc": False}
        try:
            url = await super()._start()
        except (ApiException, TimeoutError, _StepFailed) as e:
            # Say what failed (never the API's body: it may quote values); a bare 500 tells the user nothing.
            left = await self._clean_up_failed_start()
            if isinstance(e, ApiException):
                why = f"the Kubernetes API answered {e.status} {e.reason}"
            elif isinstance(e, _StepFailed):
                why = e.what
            else:
                why = str(e) or "a Kubernetes API request timed out"
            if left:
                outcome = f"{', '.join(left)} could not be deleted (the administrators must remove it)"
            else:
                outcome = "nothing was left behind; try again later"
            message = f"Could not start the session: {why}. {outcome[0].upper()}{outcome[1:]}."
            raise SpawnException(message, reason="kubernetes_api", status_code=503) from None
        except (Exception, asyncio.CancelledError):
            await self._clean_up_failed_start()
            raise
        if asyncio.current_task().cancelling():
            # Cancelled (the hub's start_timeout), but a step swallowed it: Python 3.11's wait_for returns a
            # result that arrives with the cancel. Undo the start as for any other cancel.
            await self._clean_up_failed_start()
            raise asyncio.CancelledError
        self._report_clone_outcome()
        return url

    def _report_clone_outcome(self) -> None:
        """The git clone's outcome (its init container's termination message) as a progress step."""
        if not (self.plan and self.plan.git_repository):
            return
        pods = getattr(getattr(self, "pod_reflector", None), "pods", None) or {}
        outcome = clone.clone_outcome(pods.get(f"{self.namespace}/{self.pod_name}"))
        if outcome:
            self.report_progress(f"Git: {outcome}")

    async def _make_create_pvc_request(self, pvc, request_timeout):
        """Create the home PVC, remembering whether this spawn created it (an older home is kept)."""
        self.report_progress(f"Preparing the persistent home {pvc.metadata.name} ({self._parts.storage})")
        try:
            async with asyncio.timeout(request_timeout):
                await self.api.create_namespaced_persistent_volume_claim(namespace=self.namespace, body=pvc)
        except TimeoutError:
            return False  # it may exist now: the 409 of the retry tells, by our annotation
        except ApiException as e:
            if e.status not in (403, 409):
                raise
            try:
                existing = await self.api.read_namespaced_persistent_volume_claim(
                    pvc.metadata.name, self.namespace
                )
            except ApiException:
                if e.status == 403:
                    raise e from None  # e.g. quota exceeded and no such PVC
                raise
            annotations = existing.metadata.annotations or {}
            if annotations.get(CREATED_BY_SPAWN) == self._spawn_id:
                self._created["pvc"] = True  # our own earlier attempt, which timed out, made it
            return True
        self._created["pvc"] = True
        return True

    async def _make_create_pod_request(self, pod_manifest, request_timeout):
        """Create the pod, then at once its Secret, owned by the pod (uid from the create response)."""
        self.report_progress("Creating the session's pod")
        # Counted as made from the moment it is asked for: a cancel (the hub's start_timeout) can come after
        # the API made it and before its answer arrives. Deleting a pod that is not there is a 404: gone.
        self._created["pod"] = True
        try:
            async with asyncio.timeout(request_timeout):
                created = await self.api.create_namespaced_pod(self.namespace, pod_manifest)
        except TimeoutError:
            return False
        except ApiException as e:
            if e.status != 409:
                raise
            self.log.info("Found an existing pod %s, deleting it before trying again", self.pod_name)
            await self.stop(True)
            return False
        await self._create_session_secret(created.metadata.uid)
        return True

    async def _create_session_secret(self, pod_uid: str) -> None:
        manifest = self.get_session_secret_manifest(pod_uid)
        name = manifest["metadata"]["name"]
        self.report_progress(f"Storing the session's secrets in Secret {name}")

        async def attempt() -> bool:
            try:
                async with asyncio.timeout(self.k8s_api_request_timeout):
                    await self.api.create_namespaced_secret(self.namespace, manifest)
            except TimeoutError:
                return False
            except ApiException as e:
                if e.status != 409:
                    # never relay the API's body: it may quote the Secret's (encoded) values
                    raise _StepFailed(
                        f"could not create Secret {name} (the Kubernetes API answered {e.status} {e.reason})"
                    ) from None
                # a Secret left by an earlier pod of this server (or our own timed-out attempt): replace it
                await self._delete_quietly("secret", name)
                return False
            return True

        await exponential_backoff(
            attempt, f"Could not create Secret {name}", timeout=self.k8s_api_request_retry_timeout
        )
        self._created["secret"] = True

    async def _delete_quietly(self, kind: str, name: str) -> bool:
        """Delete one object; True when it is gone. Errors are logged, never raised."""
        delete = getattr(self.api, f"delete_namespaced_{kind}")
        kwargs = {"grace_period_seconds": 0} if kind == "pod" else {}
        try:
            async with asyncio.timeout(self.k8s_api_request_timeout):
                await delete(name=name, namespace=self.namespace, **kwargs)
        except ApiException as e:
            if e.status == 404:
                return True
            self.log.warning("Could not delete %s/%s: %s %s", kind, name, e.status, e.reason)
            return False
        except (TimeoutError, OSError) as e:
            self.log.warning("Could not delete %s/%s: %r", kind, name, e)
            return False
        return True

    async def _clean_up_failed_start(self) -> list[str]:
        """Remove what this failed spawn created, so nothing half-made stays behind; what could not be."""
        created = self._created or {}
        names = self.pod_names()
        todo = []
        if created.get("pod"):
            todo.append(("pod", names.pod))
        if created.get("secret") or created.get("pod"):
            todo.append(("secret", names.secret))
        if created.get("pvc"):
            todo.append(("persistent_volume_claim", names.pvc))
        left = []
        for kind, name in todo:
            self.log.info("Spawn of %s failed: deleting %s/%s it created", self._log_name, kind, name)
            try:
                await exponential_backoff(
                    lambda kind=kind, name=name: self._delete_quietly(kind, name),
                    f"Could not delete {kind}/{name}",
                    timeout=max(self.k8s_api_request_timeout, 5),
                )
            except TimeoutError:
                self.log.error("Gave up deleting %s/%s after a failed spawn", kind, name)
                left.append(f"{kind.replace('_', ' ')} {name}")
                continue
            if kind == "persistent_volume_claim":
                self._pvc_exists = False
        return left

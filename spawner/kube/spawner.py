"""CatalogSpawner: a KubeSpawner whose form, options and pod come from the catalog and its launch plan.

The catalog side (form, options from every way in, one plan per spawn, capacity, credentials seam,
progress) is spawner.runtime's CatalogMixin, shared with the local backend. What is Kubernetes here:
- `load_user_options` (the first thing KubeSpawner's `_start` does): the spawn's plan, the session's
  credentials and the pod's parts (spawner.kube.pod);
- `get_pod_manifest` / `get_env` / `get_pvc_manifest` (public KubeSpawner methods): KubeSpawner builds
  the pod from the operator's config with the plan's parts laid over it for this call only;
- the per-server Secret's manifest. What a spawn creates, and the clean-up of a failed one, is
  spawner.kube.spawn's SpawnSteps (its docstring lists the KubeSpawner private methods it overrides).

KubeSpawner private methods and attributes used here (checked on KubeSpawner 7.0.0 and 7.1.0; the versions
are pinned in tests/spawner/kube/test_seams.py):
- `_build_common_labels`, `_expand_all`, `_sorted_dict_values`: KubeSpawner's helpers, called, not replaced;
- `_start_future`: read by spawner.runtime.progress until the start is over (set by KubeSpawner's `start`).
JupyterHub's `Spawner._log_name` (a private property) names the server in log lines.
"""

from __future__ import annotations

import json
import secrets
from contextlib import contextmanager
from typing import Any

from kubespawner import KubeSpawner
from traitlets import Bool, Float, Unicode, default

from ..plan import SessionCredentials
from ..runtime import form
from ..runtime.mixin import CatalogMixin
from . import pod
from .spawn import CREATED_BY_SPAWN, SpawnSteps


def _escape_braces(obj: Any) -> Any:
    """KubeSpawner formats strings in volumes/containers with user properties: keep ours literal."""
    if isinstance(obj, str):
        return obj.replace("{", "{{").replace("}", "}}")
    if isinstance(obj, list):
        return [_escape_braces(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _escape_braces(v) for k, v in obj.items()}
    return obj


PROJECT_CLAIM = "--project-"


def project_claim(claim: str, project: str) -> str:
    """The home PVC of a spawn: the server's own (`claim`, as KubeSpawner named it), or for a server in a
    project a claim of its own, so a visitor of a shared project server never mounts the owner's home."""
    personal = claim.split(PROJECT_CLAIM)[0]
    return f"{personal}{PROJECT_CLAIM}{project}" if project else personal


class CatalogSpawner(CatalogMixin, SpawnSteps, KubeSpawner):
    """A KubeSpawner that offers the Datalab catalog and starts pods from validated launch plans."""

    home_mount_path = Unicode(
        "/home/jovyan",
        help="Where the persistent home PVC is mounted in the session container (and repositories cloned).",
    ).tag(config=True)

    git_clone_image = Unicode(
        "",
        help="""Image of the init container that clones `git_repository` (it needs `sh` and `git`).
        Empty: the session's own image, so the clone belongs to the session's user.""",
    ).tag(config=True)

    cpu_guarantee_fraction = Float(
        1.0,
        min=0.01,
        max=1.0,
        help="CPU request as a fraction of the chosen CPU (the limit). Below 1 overcommits nodes.",
    ).tag(config=True)

    mem_guarantee_fraction = Float(
        1.0,
        min=0.01,
        max=1.0,
        help="Memory request as a fraction of the chosen memory (the limit). Below 1 overcommits nodes.",
    ).tag(config=True)

    secret_name_suffix = Unicode(
        ".datalab",
        help="""Suffix of the per-server Secret's name (`<pod name><suffix>`). The default contains a dot,
        which pod names never do, so it cannot collide with another server's objects.""",
    ).tag(config=True)

    watch_from_hub_start = Bool(
        True,
        help="""Start KubeSpawner's pod and event watchers when the hub starts (spawner.kube.watchers; with
        `hub.configure(c)`), so that their first list of every pod and event is done before the first
        spawn. The hub never waits for it. False: the first spawn starts them, as KubeSpawner does.""",
    ).tag(config=True)

    @default("profile_list")
    def _profile_list_default(self):
        return lambda spawner: form.offers_as_profile_list(spawner.offers())

    # -- user_options -> plan -> parts -------------------------------------------------------------

    credentials: SessionCredentials | None = None
    _parts: pod.PodParts | None = None
    _secret_values: dict[str, str] | None = None

    def pod_names(self) -> pod.PodNames:
        return pod.PodNames(
            pod=self.pod_name,
            namespace=self.namespace,
            secret=f"{self.pod_name}{self.secret_name_suffix}",
            pvc=self.pvc_name,
            server=self.name or "",
        )

    async def load_user_options(self):
        """The spawn's plan (made by run_pre_spawn_hook, or by offline.build_manifests; validated here
        only when neither made one), its credentials, and the pod's parts."""
        if self.plan is None:
            self.plan = self.validate()
        plan = self.plan
        self.pvc_name = project_claim(self.pvc_name, plan.project)
        git_pin = await self.check_git_repository(plan)
        self.report_progress(f"Options accepted: {plan.service_display_name} from {plan.profile_list}")
        credentials = await self.session_credentials()
        self.credentials = credentials
        self._parts = pod.build_pod_parts(
            plan,
            self.pod_names(),
            credentials,
            home_mount_path=self.home_mount_path,
            git_image=self.git_clone_image or None,
            git_pin=git_pin,
            cpu_guarantee_fraction=self.cpu_guarantee_fraction,
            mem_guarantee_fraction=self.mem_guarantee_fraction,
            secret_file_mode=0o440 if self.fs_gid is not None else 0o444,
            run_as=self.uid if isinstance(self.uid, int) else None,
        )
        self._secret_values = pod.build_secret_data(
            plan,
            self.api_token or "",
            credentials,
            postgres_password=secrets.token_urlsafe(24) if plan.postgres else None,
        )
        self.storage_pvc_ensure = bool(self._parts.storage)

    # -- manifests ---------------------------------------------------------------------------------

    def _require_parts(self) -> pod.PodParts:
        if self._parts is None:
            raise RuntimeError("load_user_options() must run before building manifests")
        return self._parts

    @contextmanager
    def _plan_applied(self):
        """Lay the plan's parts over the operator's KubeSpawner config for one manifest build."""
        p = self._require_parts()
        values = {
            "image": p.image,
            "default_url": p.default_url,
            "cpu_limit": p.cpu_limit,
            "cpu_guarantee": p.cpu_guarantee,
            "mem_limit": p.mem_limit,
            "mem_guarantee": p.mem_guarantee,
            "extra_resource_limits": {**self.extra_resource_limits, **p.extra_resource_limits},
            "node_selector": {**self.node_selector, **p.node_selector},
            "tolerations": list(self._sorted_dict_values(self.tolerations)) + p.tolerations,
            "volumes": list(self._sorted_dict_values(self.volumes)) + _escape_braces(p.volumes),
            "volume_mounts": list(self._sorted_dict_values(self.volume_mounts))
            + _escape_braces(p.volume_mounts),
            "init_containers": list(self._sorted_dict_values(self.init_containers))
            + _escape_braces(p.init_containers),
            "extra_containers": list(self._sorted_dict_values(self.extra_containers))
            + _escape_braces(p.sidecars),
            "extra_labels": {**self.extra_labels, **_escape_braces(p.labels)},
            "storage_capacity": p.storage or self.storage_capacity,
        }
        saved = {name: getattr(self, name) for name in values}
        try:
            for name, value in values.items():
                setattr(self, name, value)
            yield p
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    def get_env(self):
        """KubeSpawner's env with the API token replaced by Secret references, plus the plan's env."""
        env = super().get_env()
        if self._parts is None:
            return env
        secret = self.pod_names().secret
        for name in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"):
            env[name] = pod.secret_env(secret, pod.API_TOKEN_KEY)
        env.update(self._parts.env)
        return env

    async def get_pod_manifest(self):
        with self._plan_applied():
            manifest = await super().get_pod_manifest()
        self._check_no_secret_in(manifest)
        return manifest

    def get_pvc_manifest(self):
        with self._plan_applied():
            pvc = super().get_pvc_manifest()
        if self._spawn_id:  # lets a retry after a timeout tell "created by this spawn" from an older home
            pvc.metadata.annotations[CREATED_BY_SPAWN] = self._spawn_id
        return pvc

    def get_session_secret_manifest(self, owner_uid: str | None) -> dict[str, Any]:
        """The per-server Secret (owned by the pod whose uid is given) holding every secret value."""
        labels = self._build_common_labels(self._expand_all(self.extra_labels))
        labels.update({k: v for k, v in self._require_parts().labels.items()})
        return pod.secret_manifest(
            self.pod_names(), self._secret_values or {}, owner_uid=owner_uid, labels=labels
        )

    def _check_no_secret_in(self, manifest) -> None:
        """Refuse to create a pod whose spec would carry a secret value in clear (defence in depth)."""
        text = json.dumps(self.api.api_client.sanitize_for_serialization(manifest))
        for key, value in (self._secret_values or {}).items():
            if len(value) >= 8 and value in text:
                raise RuntimeError(f"refusing to create the pod: the secret {key!r} would appear in its spec")

    session_log_title = "The pod's latest Kubernetes events"

    def session_log_tail(self, lines: int = 30) -> list[str]:
        """The pod's latest Kubernetes events, from KubeSpawner's event reflector: the chart's hub Role
        may read events but not pods/log, so these are what My services can show of a start."""
        try:
            events = list(self.events)
        except Exception:
            return []
        out = []
        for e in events[-lines:]:
            source = (e.get("involvedObject") or {}).get("fieldPath") or ""
            where = f" ({source})" if source else ""
            line = f"{e.get('type') or ''} {e.get('reason') or ''}{where}: {e.get('message') or ''}"
            out.append(" ".join(line.split())[:400])
        return out

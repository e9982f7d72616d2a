"""Build a CatalogSpawner's manifests with no cluster: for `datalab profiles render` and unit tests.

KubeSpawner's constructor loads a Kubernetes client configuration (in-cluster, else a kubeconfig) and
fails when there is none. Building manifests never talks to the API server, so when no configuration
exists we point the client at a local address that is never contacted, and put everything back after.
The manifests come from the very code the hub runs (CatalogSpawner.load_user_options and friends).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kubernetes_asyncio.client import Configuration

from ..plan import LaunchPlan, SessionCredentials

_UNUSED_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: offline, user: {}}]
contexts: [{name: offline, context: {cluster: offline, user: offline, namespace: default}}]
current-context: offline
"""
PLACEHOLDER_POD_UID = "00000000-0000-0000-0000-000000000000"


def _has_kube_config() -> bool:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return all(Path(p).is_file() for p in path.split(os.pathsep) if p)


@contextmanager
def offline_kube_config() -> Iterator[None]:
    """Let KubeSpawner be constructed where no cluster is configured; restore the global state after."""
    from kubernetes_asyncio.config import kube_config
    from kubespawner import clients

    if _has_kube_config():
        yield
        return
    saved_default = Configuration.get_default_copy()
    saved_location = kube_config.KUBE_CONFIG_DEFAULT_LOCATION  # read from $KUBECONFIG at import
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config"
        path.write_text(_UNUSED_KUBECONFIG)
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(path)
        clients.load_config.cache_clear()
        try:
            yield
        finally:
            kube_config.KUBE_CONFIG_DEFAULT_LOCATION = saved_location
            clients.load_config.cache_clear()
            Configuration.set_default(saved_default)


def offline_user(name: str, groups: Iterable[str] = ()) -> SimpleNamespace:
    """The few attributes of a JupyterHub user a spawner reads."""
    return SimpleNamespace(
        name=name,
        id=1,
        escaped_name=name,
        url=f"/user/{name}/",
        groups=[SimpleNamespace(name=g) for g in groups],
    )


def offline_hub() -> SimpleNamespace:
    return SimpleNamespace(
        public_host="", url="http://hub:8081/hub/", base_url="/hub/", api_url="http://hub:8081/hub/api"
    )


@dataclass
class Manifests:
    """What the spawner would create for one set of options (plain Kubernetes JSON dicts)."""

    plan: LaunchPlan
    pod: dict[str, Any]
    secret: dict[str, Any]
    pvc: dict[str, Any] | None
    secret_values: dict[str, str] = field(repr=False, default_factory=dict)


def make_spawner(
    *,
    username: str,
    groups: Iterable[str] = (),
    server_name: str = "",
    user_options: Mapping[str, Any] | None = None,
    config: Any = None,
    credentials: SessionCredentials | None = None,
    api_token: str = "offline-placeholder-token",
    spawner_class: type | None = None,
):
    """A CatalogSpawner for one user with no hub and no cluster (call inside `offline_kube_config()`
    and a running event loop)."""
    from .spawner import CatalogSpawner

    cls = spawner_class or CatalogSpawner
    kwargs: dict[str, Any] = {
        "user": offline_user(username, groups),
        "hub": offline_hub(),
        "orm_spawner": SimpleNamespace(name=server_name, display_name=server_name, server=None),
        "_mock": True,
    }
    if config is not None:
        kwargs["config"] = config
    spawner = cls(**kwargs)
    spawner.api_token = api_token
    spawner.user_options = dict(user_options or {})
    if credentials is not None:

        async def fixed_credentials(spawner) -> SessionCredentials:
            return credentials

        spawner.credentials_provider = fixed_credentials  # reported as a progress step like the broker's
    return spawner


async def build_manifests(spawner) -> Manifests:
    """Validate the spawner's user_options and return the pod, Secret and PVC it would create.

    Raises the same SpawnException (400/403) a spawn would. The plan is made as run_pre_spawn_hook makes
    it for a spawn, without reserving capacity (nothing starts).
    """
    spawner.plan = spawner.validate()
    await spawner.load_user_options()
    api_client = spawner.api.api_client
    pod = api_client.sanitize_for_serialization(await spawner.get_pod_manifest())
    pod["metadata"].setdefault("namespace", spawner.namespace)
    secret = spawner.get_session_secret_manifest(PLACEHOLDER_POD_UID)
    pvc = None
    if spawner.storage_pvc_ensure:
        pvc = api_client.sanitize_for_serialization(spawner.get_pvc_manifest())
        pvc["metadata"].setdefault("namespace", spawner.namespace)
    return Manifests(
        plan=spawner.plan, pod=pod, secret=secret, pvc=pvc, secret_values=dict(spawner._secret_values)
    )

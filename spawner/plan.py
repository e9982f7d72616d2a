"""The launch plan: plain data saying everything a backend needs to start one session.

The catalog validates submitted options into a LaunchPlan (pure, no I/O); backends turn
the same plan into a pod (CatalogSpawner) or local processes (the one-machine backend).
Nothing in here talks to Kubernetes, S3, Vault or the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The option names, which are also the keys of `user_options` for the form, the REST API and launch links.
OPTION_NAMES = ("image", "cpu", "memory", "gpu", "storage", "git_repository", "postgres")

# Kind of service -> the URL the session opens on.
DEFAULT_URLS = {"jupyter": "/lab", "rstudio": "/rstudio", "vscode": "/vscode"}


@dataclass(frozen=True)
class PostgresSidecar:
    """A PostgreSQL server next to the session; its password is a secret, never in the plan's env."""

    image: str
    database: str = "datalab"
    user: str = "datalab"
    port: int = 5432
    storage_gib: float = 1.0


@dataclass(frozen=True)
class LaunchPlan:
    """What to start, decided from the catalog, the user and their options.

    Units: `cpu` in cores, `memory_gib`, `storage_gib` in GiB (binary), `gpu` a count.
    `env` holds non-secret variables only; values that are secrets are named in `secret_env_keys`
    and generated or fetched by the backend into the per-server Secret (or a 0600 file locally).
    """

    username: str
    server_name: str  # "" for the default server
    service: str  # service slug, e.g. "jupyter-python"
    service_display_name: str
    profile_list: str  # the profile list that granted the service
    kind: str  # jupyter | rstudio | vscode
    image: str
    default_url: str
    cpu: float
    memory_gib: float
    gpu: int = 0
    storage_gib: float | None = None  # persistent home size; None = no persistent home
    git_repository: str | None = None  # cloned into the home at start
    postgres: PostgresSidecar | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    secret_env_keys: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    user_options: dict[str, Any] = field(default_factory=dict)  # the validated, normalised options


@dataclass(frozen=True)
class SessionCredentials:
    """What the credential broker hands a backend at spawn (the contract between hub/ and spawner/).

    `env` is non-secret (endpoints, region, bucket, Vault address...) and may go into the pod spec;
    `secret_files` (name -> content, e.g. "credentials.json") go only into the per-server Secret,
    mounted read-only at /var/run/datalab/ (Kubernetes) or written 0600 (local backend);
    `warnings` are shown in the spawn progress (an optional integration that failed).
    """

    env: dict[str, str] = field(default_factory=dict)
    secret_files: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

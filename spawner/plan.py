"""The launch plan: plain data saying everything a backend needs to start one session.

The catalog validates submitted options into a LaunchPlan (pure, no I/O); backends turn
the same plan into a pod (CatalogSpawner) or local processes (the one-machine backend).
Nothing in here talks to Kubernetes, S3, Vault or the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# The option names, which are also the keys of `user_options` for the form, the REST API and launch links.
OPTION_NAMES = ("image", "cpu", "memory", "gpu", "storage", "git_repository", "postgres")

# Labels every session's objects carry (pods, Secrets), from the plan.
LABEL_SERVICE = "datalab.io/service"
LABEL_PROFILE_LIST = "datalab.io/profile-list"

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
    Secrets are not part of the plan: backends generate them (the PostgreSQL password) or get them
    from the credentials provider (SessionCredentials), into the per-server Secret or a 0600 file.
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
    labels: dict[str, str] = field(default_factory=dict)
    user_options: dict[str, Any] = field(default_factory=dict)  # the validated, normalised options
    project: str = ""  # a project session: the project's credentials and home only ("" = personal)


# The secret document of a session (the credentials contract, jupyter_s3_ext.credentials.document).
CREDENTIALS_FILE = "credentials.json"


def repository_folder(url: str) -> str:
    """The folder of the home a repository is cloned into: its last path segment without `.git`, made safe."""
    path = urlsplit(url).path if "://" in url else url.rsplit(":", 1)[-1]
    name = path.rstrip("/").rsplit("/", 1)[-1]
    name = name[:-4] if name.endswith(".git") else name
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name).strip(".-")
    return name or "repository"


@dataclass(frozen=True)
class SessionCredentials:
    """What the credentials provider hands a backend at spawn (the contract between hub/ and spawner/).

    `env` is non-secret (endpoints, region, bucket, Vault address...) and may go into the pod spec;
    `secret_files` (name -> content, e.g. CREDENTIALS_FILE) go only into the per-server Secret,
    mounted read-only at /var/run/datalab/ (Kubernetes) or written 0600 (local backend), which then
    points DATALAB_CREDENTIALS_FILE at CREDENTIALS_FILE;
    `warnings` are shown in the spawn progress (an optional integration that failed);
    `summary` says in words what the session got (no secret value), for the spawn progress and the hub's
    pages; `expiration` is when the first of them expires (ISO 8601, UTC; None: they do not, or none).
    """

    env: dict[str, str] = field(default_factory=dict)
    secret_files: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    summary: str = ""
    expiration: str | None = None

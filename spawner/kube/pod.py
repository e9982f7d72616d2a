"""Pod layout from a launch plan: plain functions on plain data, no I/O (like kubespawner's objects.py).

`build_pod_parts` turns a LaunchPlan (+ the names KubeSpawner chose, + the session's non-secret
credentials) into what the pod needs: main-container settings, env (secrets only by `secretKeyRef`),
the PostgreSQL sidecar, the git init container, volumes and labels. `build_secret_data` and
`secret_manifest` make the per-server Secret that holds every secret value; the pod only references it.

Choices:
- The Postgres sidecar keeps its data on the home PVC, in `~/.datalab/postgres/<server>` (`default` for
  the default server; the same folder as on one machine): it survives stops, restarts and the idle
  culler, is created and owned like the home (a failed spawn deletes a home only when it made it, so never
  an existing database), and goes away only with the home or when its owner deletes the folder. It runs as
  the session's user when the uid is known, so that folder is the user's. Without a persistent home its
  data is an `emptyDir` (gone at stop). It listens on 127.0.0.1 only: only the session's containers reach it.
  So it trusts connections there (POSTGRES_HOST_AUTH_METHOD=trust): the password is new at every spawn, and a
  database kept from an earlier one still has that one's password; the pod is the boundary.
- The git init container runs the session's image by default (same user id, so the clone belongs to the
  user; our images ship git), clones only when the target folder is absent or empty, never puts a token
  in the URL and never blocks the session: a failed clone is reported in its log and recorded in a small
  status volume the session reads (DATALAB_STATUS_DIR), which shows it to the user (spawner/kube/clone.py).
- Without a persistent home, a cloned repository lives in an `emptyDir` mounted at its folder.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from ..plan import CREDENTIALS_FILE, LaunchPlan, SessionCredentials, repository_folder
from .clone import STATUS_MOUNT_PATH, STATUS_VOLUME, git_init_container

SECRET_MOUNT_PATH = "/var/run/datalab"
API_TOKEN_KEY = "jupyterhub-api-token"
POSTGRES_PASSWORD_KEY = "postgres-password"
HOME_VOLUME = "datalab-home"
SECRETS_VOLUME = "datalab-secrets"
POSTGRES_VOLUME = "postgres-data"
GIT_VOLUME = "git-repository"
GIB = 1024**3

_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


@dataclass(frozen=True)
class PodNames:
    """Names KubeSpawner chose for this server's objects (and the server's name, '' for the default)."""

    pod: str
    namespace: str
    secret: str
    pvc: str
    server: str = ""


def postgres_data_dir(home_mount_path: str, server_name: str) -> str:
    """Where the server's database lives in its home (the local backend uses the same folder)."""
    return f"{home_mount_path.rstrip('/')}/.datalab/postgres/{server_name or 'default'}"


@dataclass(frozen=True)
class PodParts:
    """Everything the plan adds to KubeSpawner's pod, as Kubernetes JSON (camelCase) dicts."""

    image: str
    default_url: str
    cpu_limit: float
    cpu_guarantee: float
    mem_limit: int  # bytes
    mem_guarantee: int  # bytes
    extra_resource_limits: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    env: dict[str, Any]  # name -> str value, or {"valueFrom": ...}
    volumes: list[dict[str, Any]]
    volume_mounts: list[dict[str, Any]]
    init_containers: list[dict[str, Any]]
    sidecars: list[dict[str, Any]]
    labels: dict[str, str]
    storage: str | None  # home PVC size as a quantity, None = no persistent home
    secret_keys: tuple[str, ...] = field(default=())  # the keys the pod references in the Secret


def gib_quantity(gib: float) -> str:
    """2 -> '2Gi', 0.5 -> '512Mi' (a Kubernetes quantity, exact in MiB)."""
    mib = round(gib * 1024)
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


def secret_env(secret_name: str, key: str) -> dict[str, Any]:
    """An env entry whose value Kubernetes reads from the Secret (never written in the pod spec)."""
    return {"valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def _env_list(env: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, value in env.items():
        out.append({"name": name, **value} if isinstance(value, dict) else {"name": name, "value": value})
    return out


def postgres_sidecar(
    plan: LaunchPlan,
    secret_name: str,
    *,
    data_dir: str | None = None,
    home_mount_path: str = "/home/jovyan",
    run_as: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The PostgreSQL container, and its own volume when it has no home to keep its data in (`data_dir`
    None); ready when `pg_isready` answers."""
    pg = plan.postgres
    assert pg is not None
    if not pg.image:
        raise ValueError(f"{plan.service} offers PostgreSQL but its catalog entry names no postgres image")
    port = str(pg.port)
    container = {
        "name": "postgres",
        "image": pg.image,
        "args": ["postgres", "-c", "listen_addresses=127.0.0.1", "-p", port],
        "env": _env_list(
            {
                "POSTGRES_USER": pg.user,
                "POSTGRES_DB": pg.database,
                "POSTGRES_PASSWORD": secret_env(secret_name, POSTGRES_PASSWORD_KEY),
                "POSTGRES_HOST_AUTH_METHOD": "trust",
                "PGDATA": data_dir or "/var/lib/postgresql/data/pgdata",
                "PGHOST": "127.0.0.1",
                "PGPORT": port,
                "PGUSER": pg.user,
                "PGDATABASE": pg.database,
                "PGPASSWORD": secret_env(secret_name, POSTGRES_PASSWORD_KEY),
            }
        ),
        "ports": [{"name": "postgres", "containerPort": pg.port}],
        "readinessProbe": {
            "exec": {
                "command": ["pg_isready", "-h", "127.0.0.1", "-p", port, "-U", pg.user, "-d", pg.database]
            },
            "initialDelaySeconds": 2,
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 6,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": [{"name": POSTGRES_VOLUME, "mountPath": "/var/lib/postgresql/data"}],
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if run_as is not None:
        container["securityContext"]["runAsUser"] = run_as
    if data_dir is not None:
        container["volumeMounts"] = [{"name": HOME_VOLUME, "mountPath": home_mount_path}]
        return container, None
    volume = {"name": POSTGRES_VOLUME, "emptyDir": {"sizeLimit": gib_quantity(pg.storage_gib)}}
    return container, volume


def build_pod_parts(
    plan: LaunchPlan,
    names: PodNames,
    credentials: SessionCredentials | None = None,
    *,
    home_mount_path: str = "/home/jovyan",
    git_image: str | None = None,
    git_pin: dict[str, str] | None = None,
    cpu_guarantee_fraction: float = 1.0,
    mem_guarantee_fraction: float = 1.0,
    secret_file_mode: int = 0o444,
    run_as: int | None = None,
) -> PodParts:
    """What the pod needs for this plan. Secret values never appear here, only Secret references.

    `run_as`: the session's uid (the sidecar runs as it, so the database's files are the user's)."""
    credentials = credentials or SessionCredentials()
    home_mount_path = home_mount_path.rstrip("/") or "/"
    env: dict[str, Any] = dict(credentials.env)
    secret_keys: list[str] = [API_TOKEN_KEY]

    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    init_containers: list[dict[str, Any]] = []
    sidecars: list[dict[str, Any]] = []

    if plan.storage_gib:
        volumes.append({"name": HOME_VOLUME, "persistentVolumeClaim": {"claimName": names.pvc}})
        mounts.append({"name": HOME_VOLUME, "mountPath": home_mount_path})

    if plan.git_repository:
        folder = repository_folder(plan.git_repository)
        clone_dir = f"{home_mount_path}/{folder}"
        if plan.storage_gib:
            init_containers.append(
                git_init_container(plan, clone_dir, HOME_VOLUME, home_mount_path, git_image, git_pin)
            )
        else:
            volumes.append({"name": GIT_VOLUME, "emptyDir": {}})
            mounts.append({"name": GIT_VOLUME, "mountPath": clone_dir})
            init_containers.append(
                git_init_container(plan, clone_dir, GIT_VOLUME, clone_dir, git_image, git_pin)
            )
        env["DATALAB_GIT_REPOSITORY"] = plan.git_repository
        volumes.append({"name": STATUS_VOLUME, "emptyDir": {"sizeLimit": "1Mi"}})
        mounts.append({"name": STATUS_VOLUME, "mountPath": STATUS_MOUNT_PATH, "readOnly": True})
        env["DATALAB_STATUS_DIR"] = STATUS_MOUNT_PATH

    if plan.postgres:
        data_dir = postgres_data_dir(home_mount_path, names.server) if plan.storage_gib else None
        container, volume = postgres_sidecar(
            plan, names.secret, data_dir=data_dir, home_mount_path=home_mount_path, run_as=run_as
        )
        sidecars.append(container)
        if volume is not None:
            volumes.append(volume)
        pg = plan.postgres
        env.update(
            {
                "PGHOST": "127.0.0.1",
                "PGPORT": str(pg.port),
                "PGUSER": pg.user,
                "PGDATABASE": pg.database,
                "PGPASSWORD": secret_env(names.secret, POSTGRES_PASSWORD_KEY),
            }
        )
        secret_keys.append(POSTGRES_PASSWORD_KEY)

    files = sorted(credentials.secret_files)
    if files:
        for name in files:
            if not _SECRET_KEY.match(name) or name in (API_TOKEN_KEY, POSTGRES_PASSWORD_KEY):
                raise ValueError(f"invalid secret file name {name!r}")
        volumes.append(
            {
                "name": SECRETS_VOLUME,
                "secret": {
                    "secretName": names.secret,
                    "items": [{"key": name, "path": name} for name in files],
                    "defaultMode": secret_file_mode,
                },
            }
        )
        mounts.append({"name": SECRETS_VOLUME, "mountPath": SECRET_MOUNT_PATH, "readOnly": True})
        secret_keys.extend(files)
        if CREDENTIALS_FILE in files:
            env["DATALAB_CREDENTIALS_FILE"] = f"{SECRET_MOUNT_PATH}/{CREDENTIALS_FILE}"

    labels = dict(plan.labels)
    mem = int(plan.memory_gib * GIB)
    return PodParts(
        image=plan.image,
        default_url=plan.default_url,
        cpu_limit=plan.cpu,
        cpu_guarantee=round(plan.cpu * cpu_guarantee_fraction, 3),
        mem_limit=mem,
        mem_guarantee=int(mem * mem_guarantee_fraction),
        extra_resource_limits={"nvidia.com/gpu": str(plan.gpu)} if plan.gpu else {},
        node_selector=dict(plan.node_selector),
        tolerations=[dict(t) for t in plan.tolerations],
        env=env,
        volumes=volumes,
        volume_mounts=mounts,
        init_containers=init_containers,
        sidecars=sidecars,
        labels=labels,
        storage=gib_quantity(plan.storage_gib) if plan.storage_gib else None,
        secret_keys=tuple(secret_keys),
    )


def build_secret_data(
    plan: LaunchPlan,
    api_token: str,
    credentials: SessionCredentials | None = None,
    *,
    postgres_password: str | None = None,
) -> dict[str, str]:
    """The per-server Secret's content (plain strings): every key the pod references."""
    credentials = credentials or SessionCredentials()
    data = {API_TOKEN_KEY: api_token}
    if plan.postgres:
        if not postgres_password:
            raise ValueError("a Postgres sidecar needs a generated password")
        data[POSTGRES_PASSWORD_KEY] = postgres_password
    data.update(credentials.secret_files)
    return data


def owner_reference(pod_name: str, pod_uid: str) -> dict[str, Any]:
    """Makes the pod own an object, so Kubernetes garbage-collects it with the pod."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": pod_name,
        "uid": pod_uid,
        "blockOwnerDeletion": True,
        "controller": False,
    }


def secret_manifest(
    names: PodNames, data: dict[str, str], *, owner_uid: str | None, labels: dict[str, str]
) -> dict[str, Any]:
    """The Secret object (values base64-encoded, as the API stores them), owned by the pod."""
    metadata: dict[str, Any] = {"name": names.secret, "namespace": names.namespace, "labels": dict(labels)}
    if owner_uid:
        metadata["ownerReferences"] = [owner_reference(names.pod, owner_uid)]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode("ascii") for k, v in sorted(data.items())},
    }


def redact_secret(manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy for display: every value replaced by a note of its size."""
    out = {**manifest, "metadata": dict(manifest["metadata"])}
    out["data"] = {
        k: f"<redacted: {len(base64.b64decode(v))} bytes>" for k, v in manifest.get("data", {}).items()
    }
    return out

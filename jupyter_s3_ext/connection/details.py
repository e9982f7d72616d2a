"""What the "Connection details" panel shows, from the mount table and the session's environment (pure).

Only names on the allowlists below are read from the environment, so a secret variable (a static AWS key,
PGPASSWORD, VAULT_TOKEN) can never reach the answer: for the password only its presence is said. The
session's projects ($DATALAB_PROJECTS: their folders and Vault folders) and the projects it goes without
($DATALAB_PROJECTS_UNAVAILABLE, with why) come parsed by the handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..contents.mounts import Mount
from ..session_env import endpoint_of, region_of
from .snippets import postgres_snippets, s3_snippets, vault_snippets

# The non-secret variables the session sets for tools, in the order the panel lists them.
ENVIRONMENT = (
    "AWS_CONFIG_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_S3_ENDPOINT",
    "AWS_DEFAULT_REGION",
    "DATALAB_S3_BUCKET",
    "DATALAB_S3_PREFIX",
    "VAULT_ADDR",
    "VAULT_MOUNT",
    "VAULT_TOP_DIR",
)
POSTGRES = ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE")
POSTGRES_PASSWORD = ("PGPASSWORD", "PGPASSFILE")  # said to be set, never shown

KIND_LABELS = {
    "own": "your storage",
    "group": "project",
    "dataset": "dataset",
    "bucket": "bucket",
}


def location(
    mount: Mount,
    folder: str | None,
    endpoint: str,
    region: str,
    project: dict | None = None,
    vault_mount: str = "",
) -> dict:
    """One S3 location: where it is, its `s3://` URL, its folder in the file browser, and its snippets; for
    a project's, the project and its Vault folder."""
    vault_dir = str((project or {}).get("vault_dir") or "").strip("/")
    return {
        "project": (project or {}).get("name"),
        "vault_path": f"{vault_mount}/{vault_dir}" if vault_dir and vault_mount else None,
        "name": mount.name,
        "kind": mount.kind,
        "kind_label": KIND_LABELS.get(mount.kind, mount.kind),
        "bucket": mount.bucket,
        "prefix": mount.prefix,
        "url": f"s3://{mount.bucket}/{mount.prefix}",
        "writable": mount.writable,
        "browser_path": f"{folder}/{mount.name}" if folder else None,
        "snippets": [s.as_dict() for s in s3_snippets(mount.bucket, mount.prefix, endpoint, region)],
    }


def connection_details(
    mounts: Sequence[Mount],
    env: Mapping[str, str],
    *,
    s3_folder: str | None = None,
    projects: Sequence[dict] = (),
    unavailable: Sequence[dict] = (),
) -> dict:
    """The panel's data: S3 locations (own first, as the mount table orders them), PostgreSQL, Vault, and
    the projects the session goes without.

    `s3_folder` is the file browser's S3 folder when the contents manager shows one (None otherwise).
    A part the session does not have is None.
    """
    endpoint = endpoint_of(env)
    region = region_of(env)
    vault_mount = (env.get("VAULT_MOUNT") or "secret") if env.get("VAULT_ADDR") else ""
    by_folder = {str(p.get("folder") or p.get("bucket")): p for p in projects}
    s3 = None
    if mounts:
        s3 = {
            "endpoint": endpoint or None,
            "region": region,
            "folder": s3_folder,
            "locations": [
                location(
                    m,
                    s3_folder,
                    endpoint,
                    region,
                    by_folder.get(m.name) if m.kind == "group" else None,
                    vault_mount,
                )
                for m in mounts
            ],  # fmt: skip
        }
    postgres = None
    if env.get("PGHOST") or env.get("PGDATABASE"):
        variables = [{"name": k, "value": env[k]} for k in POSTGRES if env.get(k)]
        variables += [{"name": k, "value": None, "secret": True} for k in POSTGRES_PASSWORD if env.get(k)]
        postgres = {"variables": variables, "snippets": [s.as_dict() for s in postgres_snippets()]}
    vault = None
    if env.get("VAULT_ADDR"):
        mount, top_dir = env.get("VAULT_MOUNT") or "secret", (env.get("VAULT_TOP_DIR") or "").strip("/")
        vault = {
            "addr": env["VAULT_ADDR"],
            "mount": mount,
            "top_dir": top_dir or None,
            "path": f"{mount}/{top_dir}" if top_dir else mount,
            "snippets": [s.as_dict() for s in vault_snippets(mount, top_dir)] if top_dir else [],
            "projects": [
                {"name": p.get("name"), "path": f"{mount}/{str(p['vault_dir']).strip('/')}"}
                for p in projects
                if p.get("vault_dir")
            ],
        }
    return {
        "s3": s3,
        "unavailable_projects": [dict(u) for u in unavailable],
        "postgres": postgres,
        "vault": vault,
        "environment": [{"name": k, "value": env[k]} for k in ENVIRONMENT if env.get(k)],
    }

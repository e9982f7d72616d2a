"""What the "Connection details" panel shows, from the mount table and the session's environment (pure).

Only names on the allowlists below are read from the environment, so a secret variable (a static AWS key,
PGPASSWORD, VAULT_TOKEN) can never reach the answer: for the password only its presence is said.
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


def location(mount: Mount, folder: str | None, endpoint: str, region: str) -> dict:
    """One S3 location: where it is, its `s3://` URL, its folder in the file browser, and its snippets."""
    return {
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
    mounts: Sequence[Mount], env: Mapping[str, str], *, s3_folder: str | None = None
) -> dict:
    """The panel's data: S3 locations (own first, as the mount table orders them), PostgreSQL, Vault.

    `s3_folder` is the file browser's S3 folder when the contents manager shows one (None otherwise).
    A part the session does not have is None.
    """
    endpoint = endpoint_of(env)
    region = region_of(env)
    s3 = None
    if mounts:
        s3 = {
            "endpoint": endpoint or None,
            "region": region,
            "folder": s3_folder,
            "locations": [location(m, s3_folder, endpoint, region) for m in mounts],
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
        }
    return {
        "s3": s3,
        "postgres": postgres,
        "vault": vault,
        "environment": [{"name": k, "value": env[k]} for k in ENVIRONMENT if env.get(k)],
    }

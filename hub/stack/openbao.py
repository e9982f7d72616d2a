"""OpenBao with persistent file storage (not dev mode): config, init + unseal, and Datalab's setup.

The unseal key and root token are kept in vault/init.json (0600) so that the datalab unseals itself
on every start: acceptable for one machine only, which `datalab up` says when it starts.
Setup is idempotent and re-applied on every start: KV v2 mount, JWT auth against the IdP, a role
whose audience is the hub's client, a per-user policy templated on the login name, and the projects
(a policy, an external group and a project-session role each: hub/projects/policies.py).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import hvac

from ..projects import vault_setup
from ..projects.model import Project
from .layout import Layout, write_private

KV_MOUNT = "secret"
JWT_MOUNT = "jwt"
ROLE = "datalab"
PROJECTS_JWT_MOUNT = "jwt-projects"  # project sessions' logins (hub.projects.vault_setup)
PROJECT_ROLE_TEMPLATE = "project-{project}"
USER_POLICY = "datalab-user"
TOP_DIR = "users"


def config_hcl(layout: Layout, port: int, cluster_port: int) -> str:
    """Integrated (raft) storage on one node: OpenBao 2 has no `file` storage any more."""
    data = layout.vault / "data"
    return f"""\
storage "raft" {{
  path = "{data}"
  node_id = "datalab"
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
ui = false
log_level = "warn"
"""


def user_policy(accessor: str) -> str:
    """A user's own folder `secret/users/<login>/` only (the alias name is the preferred_username)."""
    name = "{{identity.entity.aliases." + accessor + ".name}}"
    base = f"{KV_MOUNT}/data/{TOP_DIR}/{name}"
    meta = f"{KV_MOUNT}/metadata/{TOP_DIR}/{name}"
    return (
        f'path "{base}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}\n'
        f'path "{meta}/*" {{ capabilities = ["read", "list", "delete"] }}\n'
        f'path "{meta}" {{ capabilities = ["read", "list"] }}\n'
    )


def init_file(layout: Layout):
    return layout.vault / "init.json"


def init_and_unseal(layout: Layout, addr: str) -> str:
    """Initialise on first start (1 key share), unseal; returns the root token."""
    client = hvac.Client(url=addr, timeout=30)
    path = init_file(layout)
    if not client.sys.is_initialized():
        if path.exists():
            raise RuntimeError(
                f"OpenBao's storage is empty but {path} exists: the keys belong to a removed storage; "
                "move that file away to initialise a new, empty Vault"
            )
        result = client.sys.initialize(secret_shares=1, secret_threshold=1)
        write_private(path, json.dumps({"keys": result["keys_base64"], "root_token": result["root_token"]}))
    elif not path.exists():
        raise RuntimeError(f"OpenBao is initialised but its keys file {path} is missing: cannot unseal it")
    keys = json.loads(path.read_text())
    if client.sys.is_sealed():
        client.sys.submit_unseal_keys(keys["keys"])
    wait_active(addr)
    return keys["root_token"]


def wait_active(addr: str, timeout: float = 60.0) -> None:
    """After unsealing, the single raft node elects itself leader; requests before that fail."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=3) as r:  # ours
                if r.status == 200:
                    return
                last = r.status
        except urllib.error.HTTPError as e:
            last = e.code
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise TimeoutError(f"OpenBao at {addr} did not become active after {timeout:.0f}s ({last})")


def configure(addr: str, root_token: str, *, issuer: str, audience: str, projects: list[Project] = ()) -> str:
    """Idempotent setup for Datalab (and its projects: hub.projects.vault_setup); returns the JWT accessor."""
    c = hvac.Client(url=addr, token=root_token, timeout=30)
    mounts = c.sys.list_mounted_secrets_engines()
    if f"{KV_MOUNT}/" not in mounts:
        c.sys.enable_secrets_engine("kv", path=KV_MOUNT, options={"version": "2"})
    if f"{JWT_MOUNT}/" not in c.sys.list_auth_methods():
        c.sys.enable_auth_method("jwt", path=JWT_MOUNT)
    c.auth.jwt.configure(oidc_discovery_url=issuer, bound_issuer=issuer, path=JWT_MOUNT)
    accessor = c.sys.list_auth_methods()[f"{JWT_MOUNT}/"]["accessor"]
    c.sys.create_or_update_policy(USER_POLICY, user_policy(accessor))
    c.auth.jwt.create_role(
        name=ROLE,
        role_type="jwt",
        bound_audiences=[audience],
        user_claim="preferred_username",
        groups_claim="groups",
        token_policies=[USER_POLICY],
        token_ttl="1h",
        token_max_ttl="24h",
        allowed_redirect_uris=[],
        path=JWT_MOUNT,
    )
    setup = vault_setup.VaultProjectSetup(
        kv_mount=KV_MOUNT,
        personal_mount=JWT_MOUNT,
        session_mount=PROJECTS_JWT_MOUNT,
        session_role_template=PROJECT_ROLE_TEMPLATE,
        issuer=issuer,
        audience=audience,
    )
    vault_setup.apply(c, setup, list(projects))
    return accessor

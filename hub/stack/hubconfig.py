"""JupyterHub's configuration for the one-machine datalab, from the plain settings `datalab up` writes.

`jupyterhub_config.py` in the state directory is two lines that call `apply(c, settings)`, so the
configuration itself is ordinary, reviewed code rather than generated text.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import openbao, seaweed
from .users import ADMINS_GROUP, USERS_GROUP

CONFIG_PY = """\
# Written by `datalab up`; the configuration is hub/stack/hubconfig.py.
from hub.stack.hubconfig import apply, load_settings

apply(get_config(), load_settings({settings!r}))  # noqa: F821
"""


def load_settings(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def apply(c, s: dict) -> None:
    """Configure hub, proxy, login, spawner and credentials from the settings dict `s`."""
    state = Path(s["state_dir"])
    # -- hub and proxy (the proxy is started by the stack, so that it is supervised like the rest) --
    c.JupyterHub.bind_url = s["public_url"] + "/"
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{s['ports']['hub']}"
    c.JupyterHub.db_url = f"sqlite:///{state / 'hub' / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "secrets" / "cookie_secret")
    c.JupyterHub.pid_file = str(state / "hub" / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.allow_named_servers = True
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s['ports']['proxy_api']}"
    # -- login through the development IdP --
    c.JupyterHub.authenticator_class = "datalab"
    a = c.DatalabOAuthenticator
    a.oidc_issuer = s["issuer"]
    a.client_id = s["client_id"]
    a.client_secret = s["client_secret"]
    a.oauth_callback_url = s["public_url"] + "/hub/oauth_callback"
    a.allowed_groups = {USERS_GROUP, ADMINS_GROUP}
    a.admin_groups = {ADMINS_GROUP}
    # -- the local backend --
    c.JupyterHub.spawner_class = "local-catalog"  # spawner.LocalCatalogSpawner (entry point)
    c.LocalCatalogSpawner.state_dir = str(state)
    c.LocalCatalogSpawner.tools_path = list(s.get("tools_path", []))
    c.LocalCatalogSpawner.firewall_table = s.get("firewall_table", "")
    if s.get("environment_cache"):
        c.LocalCatalogSpawner.environment_cache = s["environment_cache"]
    if s.get("account_template"):
        c.LocalCatalogSpawner.account_template = s["account_template"]
    if s.get("start_slots"):
        c.LocalCatalogSpawner.start_slots = s["start_slots"]
    c.LocalProcessSpawner.interrupt_timeout = 3
    c.LocalProcessSpawner.term_timeout = 2
    c.LocalProcessSpawner.kill_timeout = 2
    # a session stopped by its memory limit is noticed within seconds
    c.LocalCatalogSpawner.poll_interval = 10
    c.Spawner.http_timeout = 90  # from launching a session's server until it answers (spawner.local)
    # JupyterHub's timeout covers all of start(), the wait in the start line included (two starts per core
    # at a time: 50 users signing in at once on 2 cores wait a minute or two); each step has its own limit.
    c.Spawner.start_timeout = 600
    if s.get("catalog_dir"):
        c.LocalCatalogSpawner.catalog_dir = s["catalog_dir"]
    # -- credentials: STS for S3, JWT login for Vault; the renewal endpoint --
    b = c.CredentialBroker
    b.s3_mode = "optional"
    b.s3_endpoint = s["s3_endpoint"]
    b.s3_browser_endpoint = s.get("s3_browser_endpoint", "")
    b.s3_region = seaweed.REGION
    b.s3_role_arn = seaweed.ROLE_ARN
    b.s3_bucket_template = seaweed.BUCKET_TEMPLATE
    b.vault_mode = "optional"
    b.vault_addr = s["vault_addr"]
    b.vault_auth_mount = openbao.JWT_MOUNT
    b.vault_role = openbao.ROLE
    b.vault_kv_mount = openbao.KV_MOUNT
    b.vault_top_dir_template = openbao.TOP_DIR + "/{username}"
    # -- projects: every IdP group named project-* (hub.projects; the servers' side is set by `datalab up`) --
    c.Projects.group_prefix = seaweed.PROJECT_PREFIX
    c.Projects.session_role_arn_template = seaweed.PROJECT_ROLE_TEMPLATE
    c.Projects.vault_session_auth_mount = openbao.PROJECTS_JWT_MOUNT
    c.Projects.vault_session_role_template = openbao.PROJECT_ROLE_TEMPLATE
    import hub

    hub.configure(c)  # catalog check, credentials endpoint and provider, Datalab pages

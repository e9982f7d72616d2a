"""A hub wired like Datalab's: our authenticator against the dev IdP, the broker, the renewal endpoint.

`hub_config(...)` returns jupyterhub_config.py text for tests/support/hub.run_hub. The spawner is a
SimpleLocalProcessSpawner with the credentials seam (hub.configure gives it the broker); like the local backend, it writes the
secret files 0600 into the session's directory, and (tests only) its server token next to them, so tests
can call the renewal endpoint exactly as the session would.

The sign-in set-up the hub's tests share: `run_hub_idp(work, users)` (the IdP with the hub's client),
`run_credentials_hub(work, idp, secret, broker=...)` (the hub against it) and `signed_in(hub, user, pw)`.
"""

from __future__ import annotations

import base64
import secrets
from contextlib import contextmanager

import pytest
import requests

from tests.support.hub import run_hub
from tests.support.idp import login, node_available, run_idp
from tests.support.log_secrets import register_secret
from tests.support.procs import REPO, VENV_BIN

HUB_CLIENT_ID = "datalab-hub"
CALLBACK = "http://127.0.0.1/hub/oauth_callback"  # the IdP ignores loopback ports (RFC 8252)

SPAWNER = '''
import json, os
from pathlib import Path
from jupyterhub.spawner import SimpleLocalProcessSpawner
from spawner.runtime.credentials import CredentialsMixin

class CredentialsTestSpawner(CredentialsMixin, SimpleLocalProcessSpawner):
    """SimpleLocalProcessSpawner + the broker hook; secret files 0600 in sessions/<user>/ (like the local backend)."""

    async def start(self):
        creds = await self.session_credentials()
        home = Path({sessions!r}) / self.user.name
        home.mkdir(parents=True, exist_ok=True)
        for name, content in {{**creds.secret_files, "api_token": self.api_token}}.items():
            fd = os.open(home / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(content)
        env = {{**creds.env, "DATALAB_CREDENTIALS_FILE": str(home / "credentials.json")}}  # as backends do
        (home / "env.json").write_text(json.dumps(env))
        (home / "warnings.json").write_text(json.dumps(list(creds.warnings)))
        self.environment = {{**self.environment, **env}}
        return await super().start()

c.JupyterHub.spawner_class = CredentialsTestSpawner
c.SimpleLocalProcessSpawner.home_dir_template = {sessions!r} + "/{{username}}"
c.SimpleLocalProcessSpawner.args = ["--allow-root"] if os.geteuid() == 0 else []
c.SimpleLocalProcessSpawner.cmd = [{singleuser!r}]
'''


def hub_config(
    *,
    issuer: str,
    client_secret: str,
    sessions_dir,
    broker: dict,
    authenticator: dict | None = None,
) -> str:
    """jupyterhub_config.py text: DatalabOAuthenticator + CredentialBroker settings + the endpoint."""
    lines = [
        "import sys",
        f"sys.path.insert(0, {str(REPO)!r})",
        "import hub",
        "hub.configure(c)",
        'c.JupyterHub.authenticator_class = "datalab"',
        "c.Authenticator.allow_all = False",
        f"c.DatalabOAuthenticator.oidc_issuer = {issuer!r}",
        f"c.DatalabOAuthenticator.client_id = {HUB_CLIENT_ID!r}",
        f"c.DatalabOAuthenticator.client_secret = {client_secret!r}",
        'c.DatalabOAuthenticator.allowed_groups = {"datalab-users"}',
        'c.DatalabOAuthenticator.admin_groups = {"datalab-admins"}',
        'c.JupyterHub.log_level = "DEBUG"',
        'c.JupyterHub.default_url = "/hub/home"',  # no implicit spawn after login
    ]
    for key, value in (authenticator or {}).items():
        lines.append(f"c.DatalabOAuthenticator.{key} = {value!r}")
    for key, value in broker.items():
        lines.append(f"c.CredentialBroker.{key} = {value!r}")
    return (
        "\n".join(lines)
        + "\n"
        + SPAWNER.format(sessions=str(sessions_dir), singleuser=str(VENV_BIN / "jupyterhub-singleuser"))
    )


def hub_client(secret: str) -> dict:
    return {"client_id": HUB_CLIENT_ID, "client_secret": secret, "redirect_uris": [CALLBACK]}


def new_secret() -> str:
    value = secrets.token_urlsafe(24)
    register_secret(value)
    return value


ROLE = "arn:aws:iam::role/datalab-user"


def iam_config(issuer: str, audience: str) -> dict:
    """STS trusting the IdP; the role's policy gives the caller the bucket named after their token."""
    own = "arn:aws:s3:::user-${jwt:preferred_username}"
    return {
        "sts": {
            "tokenDuration": "1h",
            "maxSessionLength": "12h",
            "issuer": "datalab-sts",
            "signingKey": base64.b64encode(secrets.token_bytes(32)).decode(),
        },
        "providers": [
            {
                "name": "datalab-idp",
                "type": "oidc",
                "enabled": True,
                "config": {
                    "issuer": issuer,
                    "clientId": audience,
                    "jwksUri": f"{issuer}/jwks",
                    "claimsMapping": {"username": "preferred_username", "groups": "groups"},
                },
            }
        ],
        "policy": {"defaultEffect": "Deny", "storeType": "memory"},
        "roles": [
            {
                "roleName": "datalab-user",
                "roleArn": ROLE,
                "trustPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Federated": "datalab-idp"},
                            "Action": ["sts:AssumeRoleWithWebIdentity"],
                        }
                    ],
                },
                "attachedPolicies": ["own-bucket"],
            }
        ],
        "policies": [
            {
                "name": "own-bucket",
                "document": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": [own, own + "/*"]}],
                },
            }
        ],
    }


def own_token(url: str, browser, user: str, scopes: list[str] | None = None, note: str = "test") -> str:
    """A token `user` asks for themselves, with their signed-in browser session (cookie and xsrf, as the
    hub's token page does): tokens someone else requests for a user never hold the credentials scope."""
    if not browser.cookies.get("_xsrf"):
        browser.get(f"{url}/hub/home", timeout=30)
    body = {"note": note, "expires_in": 3600, **({"scopes": scopes} if scopes is not None else {})}
    r = browser.post(
        f"{url}/hub/api/users/{user}/tokens",
        json=body,
        headers={"X-XSRFToken": browser.cookies.get("_xsrf") or ""},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    register_secret(r.json()["token"])
    return r.json()["token"]


@contextmanager
def run_hub_idp(work, users: dict, **ttl):
    """The dev IdP in work/idp with the hub's client registered: yields (idp, client secret).
    Skips the test when node or the IdP's packages are missing; `ttl` as for run_idp."""
    if not node_available():
        pytest.skip("node or hub/idp/node_modules missing (run scripts/bootstrap.sh)")
    secret = new_secret()
    with run_idp(work / "idp", users=users, clients=[hub_client(secret)], **ttl) as idp:
        yield idp, secret


@contextmanager
def run_credentials_hub(
    work, idp, client_secret: str, *, broker: dict, authenticator: dict | None = None, extra: str = ""
):
    """A hub from hub_config() signing in with `idp`: state in work/hub, sessions in work/sessions; `extra`
    is config appended to it."""
    config = hub_config(
        issuer=idp.issuer,
        client_secret=client_secret,
        sessions_dir=work / "sessions",
        broker=broker,
        authenticator=authenticator,
    )
    config += extra
    with run_hub(work / "hub", config, env={"JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32)}) as hub:
        yield hub


def signed_in(hub, user: str, password: str) -> requests.Session:
    """A browser session of `user`, signed in to `hub` through the IdP's form."""
    browser = requests.Session()
    resp = login(browser, user, password, start_url=f"{hub.url}/hub/oauth_login")
    assert resp.status_code == 200, resp.text[:500]
    return browser

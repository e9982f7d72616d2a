"""OpenBao (the Vault API) for tests: a dev server on a free port, and JWT auth wired to the development IdP.

    with run_openbao(tmp_path) as bao:
        accessor = bao.configure_jwt(issuer=idp.issuer, audience="hub")   # role "datalab", per-user policy
        bao.write_user_secret("alice", "env", {"KEY": "value"})
        hvac_client = bao.client()                                        # root token

Per-user isolation: the policy is templated on the JWT entity alias name (the `preferred_username` claim),
so a token minted from alice's id_token can use `secret/data/users/alice/*` and nothing of bob's.
"""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from pathlib import Path

import hvac

from tests.support.log_secrets import register_secret
from tests.support.procs import VENV_BIN, ManagedProcess, free_port, start_when_ready, tool_env

USER_POLICY = "datalab-user"


def user_policy_hcl(accessor: str, kv_mount: str = "secret", top: str = "users") -> str:
    """The per-user KV v2 policy: the user's own folder only, keyed by their login name."""
    name = "{{identity.entity.aliases." + accessor + ".name}}"
    return f"""
path "{kv_mount}/data/{top}/{name}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}
path "{kv_mount}/metadata/{top}/{name}/*" {{ capabilities = ["read", "list", "delete"] }}
path "{kv_mount}/metadata/{top}/{name}" {{ capabilities = ["read", "list"] }}
"""


class OpenBao:
    """A dev-mode OpenBao: in memory, unsealed, KV v2 at `secret/`, root token `root_token`."""

    def __init__(self, workdir: Path, *, start: bool = True):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.root_token = ""
        self.proc: ManagedProcess | None = None
        if start:  # start=False: the address is known first, the server starts later ("Vault down")
            self.start()

    def start(self) -> None:
        """Dev mode prints its first root token in its log: that one only makes the working root token
        (`root_token`), then is revoked, so no live secret is in the log (and none on a command line)."""
        boot = "boot-" + secrets.token_hex(12)
        argv = [
            VENV_BIN / "bao",
            "server",
            "-dev",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            "-dev-no-store-token",
        ]
        env = tool_env(
            {
                "HOME": str(self.workdir),
                "BAO_ADDR": self.addr,
                "VAULT_ADDR": self.addr,
                "BAO_DEV_ROOT_TOKEN_ID": boot,
            }
        )
        self.proc = start_when_ready(
            argv, f"{self.addr}/v1/sys/health", log_path=self.workdir / "openbao.log", env=env, name="openbao"
        )
        first = hvac.Client(url=self.addr, token=boot, timeout=10)
        made = first.auth.token.create(policies=["root"], no_parent=True, meta={"purpose": "tests"})
        self.root_token = made["auth"]["client_token"]
        register_secret(self.root_token)
        first.auth.token.revoke_self()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def log(self) -> str:
        return self.proc.log() if self.proc else ""

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.addr, token=token or self.root_token, timeout=10)

    def configure_jwt(
        self,
        *,
        issuer: str,
        audience: str,
        mount: str = "jwt",
        role: str = "datalab",
        kv_mount: str = "secret",
        top: str = "users",
        token_ttl: str = "1h",
        token_max_ttl: str = "4h",
        bound_claims: dict | None = None,
        strict_expiry: bool = False,
    ) -> str:
        """Enable JWT auth against the IdP's discovery document and a role for Datalab; return the accessor.

        `strict_expiry` removes Vault's leeways (150 s past `exp`, 60 s of clock skew) for expiry tests.
        """
        c = self.client()
        if f"{mount}/" not in c.sys.list_auth_methods():
            c.sys.enable_auth_method("jwt", path=mount)
        c.auth.jwt.configure(oidc_discovery_url=issuer, bound_issuer=issuer, path=mount)
        accessor = c.sys.list_auth_methods()[f"{mount}/"]["accessor"]
        c.sys.create_or_update_policy(USER_POLICY, user_policy_hcl(accessor, kv_mount, top))
        c.auth.jwt.create_role(
            name=role,
            role_type="jwt",
            bound_audiences=[audience],
            user_claim="preferred_username",
            groups_claim="groups",
            bound_claims=bound_claims,
            token_policies=[USER_POLICY],
            token_ttl=token_ttl,
            token_max_ttl=token_max_ttl,
            allowed_redirect_uris=[],
            expiration_leeway=-1 if strict_expiry else 0,
            clock_skew_leeway=-1 if strict_expiry else 0,
            path=mount,
        )
        return accessor

    def write_user_secret(self, username: str, name: str, data: dict, *, kv_mount="secret", top="users"):
        self.client().secrets.kv.v2.create_or_update_secret(
            path=f"{top}/{username}/{name}", secret=data, mount_point=kv_mount
        )


@contextmanager
def run_openbao(workdir: Path, *, start: bool = True):
    bao = OpenBao(workdir, start=start)
    try:
        yield bao
    finally:
        bao.stop()

"""SeaweedFS (`weed mini`) for the one-machine datalab: S3 + STS, every port pinned, data in the state dir.

Users never get static keys: sessions get temporary credentials from STS (AssumeRoleWithWebIdentity
with their id_token) for the role below, whose policy names the caller's own bucket through
`${jwt:preferred_username}` (never `${aws:username}`, which the caller chooses). Only the stack itself
holds the admin identity, to create each user's bucket.

Every other interface SeaweedFS offers is closed to whoever is not the stack itself (checked with 4.48):
the master's and the filer's HTTP APIs (`/dir/assign`, `/col/delete`, `/buckets/...`) are switched off
(`-disableHttp`: S3 reaches the filer over gRPC); `security.toml` (read from the working directory) gives
the volume servers' HTTP and the filer JWT keys only SeaweedFS holds (401 without), and every gRPC port
(master, volume, filer, S3, admin) requires a client certificate of the stack's private CA
(hub/stack/tls.py). Its local unix sockets (some at fixed paths in /tmp) are made with umask 077, so only
its own account can connect to them. The admin server's HTTP port still listens (admin.ui=false: 404).
"""

from __future__ import annotations

import base64
from pathlib import Path

from ..projects import policies
from ..projects.model import Project
from .layout import Layout
from .tls import Material

PROVIDER = "datalab-idp"
PROJECT_PREFIX = "project-"  # the IdP groups that are projects (hub.projects)
PROJECT_ROLE_TEMPLATE = "arn:aws:iam::role/datalab-project-{project}"
ROLE_NAME = "datalab-user"
ROLE_ARN = f"arn:aws:iam::role/{ROLE_NAME}"
POLICY_NAME = "datalab-user-bucket"
BUCKET_TEMPLATE = "user-{username}"
REGION = "us-east-1"


def bucket_of(username: str) -> str:
    return BUCKET_TEMPLATE.format(username=username)


def s3_config(access_key: str, secret_key: str) -> dict:
    """Static identities: the stack's admin only."""
    return {
        "identities": [
            {
                "name": "datalab-admin",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def user_policy(projects: list[Project] = (), datasets: list[dict] = ()) -> dict:
    """The caller's own bucket, each project's data if their token's groups hold its group, and the event
    datasets (`{bucket, prefix, readers, writers}`: hub/stack/projects.py reads them from the catalog)."""
    own = "arn:aws:s3:::" + bucket_of("${jwt:preferred_username}")
    statements = [
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": [own, own + "/*"]},
        {"Effect": "Allow", "Action": ["sts:ValidateSession"], "Resource": ["*"]},
    ]
    for p in projects:
        statements += policies.s3_statements(p, condition_key="jwt:groups")
    for d in datasets:
        statements += policies.dataset_statements(
            d["bucket"], d["prefix"], readers=d["readers"], writers=d["writers"]
        )
    return {"Version": "2012-10-17", "Statement": statements}


def iam_config(
    *,
    issuer: str,
    client_id: str,
    signing_key: str,
    token_duration: str = "12h",
    projects: list[Project] = (),
    datasets: list[dict] = (),
) -> dict:
    """STS trusting the IdP's id_tokens (audience = the hub's client) for the per-user role, and one role
    per project for project sessions (members only)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": ["sts:AssumeRoleWithWebIdentity"],
            }
        ],
    }
    config = {
        "sts": {
            "tokenDuration": token_duration,
            "maxSessionLength": "12h",
            "issuer": "datalab-sts",
            "signingKey": base64.b64encode(bytes.fromhex(signing_key)).decode(),
        },
        "providers": [
            {
                "name": PROVIDER,
                "type": "oidc",
                "enabled": True,
                "config": {
                    "issuer": issuer,
                    "clientId": client_id,
                    "jwksUri": f"{issuer}/jwks",
                    "claimsMapping": {"username": "preferred_username", "email": "email", "groups": "groups"},
                },
            }
        ],
        "policy": {"defaultEffect": "Deny", "storeType": "memory"},
        "roles": [
            {
                "roleName": ROLE_NAME,
                "roleArn": ROLE_ARN,
                "trustPolicy": trust,
                "attachedPolicies": [POLICY_NAME],
                "description": "A datalab user: their own bucket only",
            }
        ],
        "policies": [{"name": POLICY_NAME, "document": user_policy(projects, datasets)}],
    }
    for p in projects:
        role_arn = PROJECT_ROLE_TEMPLATE.format(project=p.name)
        role, policy = policies.s3_session_role(p, role_arn=role_arn, provider=PROVIDER)
        config["roles"].append(role)
        config["policies"].append(policy)
    return config


# gRPC sections of security.toml: every server SeaweedFS runs, and its clients (shell, S3, filer...).
GRPC_SECTIONS = (
    "master",
    "volume",
    "filer",
    "s3",
    "admin",
    "worker",
    "msg_broker",
    "msg_agent",
    "mq",
    "client",
)


def _toml_str(value: str | Path) -> str:
    text = str(value)
    if any(c in text for c in '"\\\n'):
        raise ValueError(f"cannot put {text!r} in security.toml")
    return f'"{text}"'


def security_toml(keys: dict[str, str], tls: Material) -> str:
    """SeaweedFS's own authentication: JWT keys for the filer and volume servers, mTLS for every gRPC port.

    `keys` holds the four signing keys: `volume_write`, `volume_read`, `filer_write`, `filer_read`.
    """
    lines = [
        "# Written by `datalab up` (hub/stack/seaweed.py) on every start.",
        "[jwt.signing]", f"key = {_toml_str(keys['volume_write'])}",
        "[jwt.signing.read]", f"key = {_toml_str(keys['volume_read'])}",
        "[jwt.filer_signing]", f"key = {_toml_str(keys['filer_write'])}",
        "[jwt.filer_signing.read]", f"key = {_toml_str(keys['filer_read'])}",
        "[access]", "ui = false",
        "[filer.expose_directory_metadata]", "enabled = false",
        "[grpc]", f"ca = {_toml_str(tls.ca)}",
    ]  # fmt: skip
    for section in GRPC_SECTIONS:
        lines += [f"[grpc.{section}]", f"cert = {_toml_str(tls.cert)}", f"key = {_toml_str(tls.key)}"]
    return "\n".join(lines) + "\n"


def argv(weed: str | Path, layout: Layout, ports: dict[str, int], origins: list[str]) -> list[str]:
    """`weed mini` on 127.0.0.1 with every port pinned (none left to its defaults or chance), the master's
    and filer's HTTP APIs off and no telemetry (it would report to seaweedfs.com). No secret: those are in
    security.toml. Its S3 answers browsers (CORS) from `origins` only, the datalab's pages (whose uploads
    go straight to S3), not SeaweedFS's default of any origin."""
    s3 = layout.s3
    flags = {
        "dir": s3 / "data",
        "ip": "127.0.0.1",
        "ip.bind": "127.0.0.1",
        "admin.ui": "false",
        "webdav": "false",
        "disableHttp": "true",
        "master.telemetry": "false",
        "s3.port.iceberg": 0,
        "s3.port.lance": 0,
        "debug.port": 0,
        "s3.debug.port": 0,
        "s3.config": s3 / "s3.json",
        "s3.iam.config": s3 / "iam.json",
        "s3.allowedOrigins": ",".join(origins),
        "s3.port": ports["s3"],
        "s3.port.grpc": ports["s3_grpc"],
        "master.port": ports["master"],
        "master.port.grpc": ports["master_grpc"],
        "volume.port": ports["volume"],
        "volume.port.grpc": ports["volume_grpc"],
        "filer.port": ports["filer"],
        "filer.port.grpc": ports["filer_grpc"],
        "admin.port": ports["admin"],
        "admin.port.grpc": ports["admin_grpc"],
    }
    return [str(weed), "mini", *(f"-{k}={v}" for k, v in flags.items())]

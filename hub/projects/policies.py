"""What the storage and Vault servers enforce for projects, as plain documents (pure; `datalab up` applies them).

S3 (SeaweedFS's IAM, checked with 4.48): the personal role's policy gets one statement per project,
conditioned on the caller's `groups` claim (`jwt:groups`, carried in the STS session from the id_token),
so one set of credentials reaches the user's own bucket and exactly their projects. A project session
assumes the project's own role, whose *trust policy* admits only members (`oidc:groups`): SeaweedFS lets a
caller name any role, so the trust condition, not the choice of role, keeps non-members out.

Vault (OpenBao): a policy per project on `projects/<name>/`, attached to an *external identity group* whose
alias is the IdP group, on the personal JWT mount: a login of a member puts their entity in the group and
every token of the entity gets the policy; a login without the group takes it away from all of them. Project
sessions log in on a second JWT mount, to a role per project bound to the group (`bound_claims`) whose
token carries the project's policy only: no personal folder, and no other project.
"""

from __future__ import annotations

from .model import Project


def s3_arns(project: Project) -> list[str]:
    """The resources of a project: its bucket (listing conditioned on the prefix, if any) and its keys."""
    bucket = f"arn:aws:s3:::{project.bucket}"
    return [bucket, f"{bucket}/{project.prefix}*"]


def s3_statements(project: Project, *, condition_key: str | None) -> list[dict]:
    """Statements giving a project's data (read, write, list; creating its own bucket), optionally only to
    callers whose `condition_key` (e.g. `jwt:groups`) holds the project's group."""
    bucket, keys = s3_arns(project)
    when = {"ForAnyValue:StringEquals": {condition_key: [project.group]}} if condition_key else None
    statements: list[dict] = []
    if project.prefix:  # a shared bucket: list and touch the project's prefix only
        listing = {"StringLike": {"s3:prefix": [project.prefix + "*"]}}
        statements.append(
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket], "Condition": listing}
        )
        statements.append({"Effect": "Allow", "Action": ["s3:*"], "Resource": [keys]})
    else:
        statements.append({"Effect": "Allow", "Action": ["s3:*"], "Resource": [bucket, keys]})
    if when:
        for s in statements:
            s["Condition"] = {**s.get("Condition", {}), **when}
    return statements


def s3_session_role(project: Project, *, role_arn: str, provider: str) -> tuple[dict, dict]:
    """(role, policy) of a project session: members only may assume it; it reaches the project only."""
    policy_name = f"datalab-project-{project.name}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": ["sts:AssumeRoleWithWebIdentity"],
                "Condition": {"ForAnyValue:StringEquals": {"oidc:groups": [project.group]}},
            }
        ],
    }
    role = {
        "roleName": role_arn.rsplit("/", 1)[-1],
        "roleArn": role_arn,
        "trustPolicy": trust,
        "attachedPolicies": [policy_name],
        "description": f"Project sessions of {project.name}: its data only, members only",
    }
    statements = s3_statements(project, condition_key="jwt:groups")  # and members only, again
    statements.append({"Effect": "Allow", "Action": ["sts:ValidateSession"], "Resource": ["*"]})
    policy = {"name": policy_name, "document": {"Version": "2012-10-17", "Statement": statements}}
    return role, policy


def vault_policy_name(project: Project) -> str:
    return f"datalab-project-{project.name}"


def vault_policy(project: Project, kv_mount: str) -> str:
    """HCL: the project's folder of the KV v2 mount, read and write."""
    data = f"{kv_mount}/data/{project.vault_dir}"
    meta = f"{kv_mount}/metadata/{project.vault_dir}"
    return (
        f'path "{data}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}\n'
        f'path "{meta}/*" {{ capabilities = ["read", "list", "delete"] }}\n'
        f'path "{meta}" {{ capabilities = ["read", "list"] }}\n'
    )


def dataset_statements(bucket: str, prefix: str, *, readers: list[str], writers: list[str]) -> list[dict]:
    """An event dataset on the personal role: read and list for `readers` (the list's participants and
    organisers), every object action for `writers` (its organisers), by the token's groups (`jwt:groups`).

    The event's window is the hub's to keep (the dataset is mounted only while the list is open): SeaweedFS
    4.48 gives role policies no `aws:CurrentTime`, so a `DateLessThan` condition there denies always. On
    AWS S3 and MinIO, add `"DateLessThan": {"aws:CurrentTime": "<end>"}` to the read statement."""
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    arn = f"arn:aws:s3:::{bucket}"
    keys = f"{arn}/{prefix}*"

    def groups(names: list[str]) -> dict:
        return {"ForAnyValue:StringEquals": {"jwt:groups": sorted(set(names))}}

    listing = {"StringLike": {"s3:prefix": [prefix + "*"]}} if prefix else {}
    statements = [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [arn],
            "Condition": {**listing, **groups(readers)},
        },
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [keys], "Condition": groups(readers)},
    ]
    if writers:
        statements.append(
            {
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [keys],
                "Condition": groups(writers),
            }
        )
    return statements

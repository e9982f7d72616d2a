"""A member's projects at spawn: which of them their credentials reach, each bucket made on first use.

The check runs with the member's own S3 credentials (the role's policy lets members create their project's
bucket), in a thread with a timeout. A project whose bucket cannot be made or reached is left out of the
session and reported: in the spawn progress, the hub's log, and inside the session (its notices and
connection details, from $DATALAB_PROJECTS_UNAVAILABLE), never shown half-made.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from jupyter_s3_ext.credentials.document import S3Credentials
from jupyter_s3_ext.notices.projects import UNAVAILABLE_ENV

from .model import Project

ENV = "DATALAB_PROJECTS"  # the session's projects: JSON [{name, group, bucket, prefix, vault_dir, folder}]


def _client(creds: S3Credentials, timeout: float):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=creds.endpoint,
        region_name=creds.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key.get_secret_value(),
        aws_session_token=creds.session_token.get_secret_value() if creds.session_token else None,
        config=Config(
            connect_timeout=min(5.0, timeout),
            read_timeout=timeout,
            retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )


def _code(e: Exception) -> str:
    response = getattr(e, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or type(e).__name__)


ALREADY = ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")


@dataclass(frozen=True)
class Unavailable:
    """A project of the member's that their session goes without, and why (no secret in it)."""

    project: str
    reason: str

    def __str__(self) -> str:
        return f"project {self.project}: {self.reason}"


def check(
    projects: list[Project], creds: S3Credentials, timeout: float
) -> tuple[list[Project], list[Unavailable]]:
    """Blocking: the projects these credentials reach, and problems. A project's own bucket is created
    first (idempotent: two members starting at once both find it), then listed to prove access."""
    import botocore.exceptions

    s3 = _client(creds, timeout)
    reached: list[Project] = []
    problems: list[Unavailable] = []
    for p in projects:
        where = f"s3://{p.bucket}/{p.prefix}"
        try:
            if not p.prefix:
                try:
                    s3.create_bucket(Bucket=p.bucket)
                except botocore.exceptions.ClientError as e:
                    if _code(e) not in ALREADY and _code(e) != "AccessDenied":
                        problems.append(
                            Unavailable(p.name, f"{where}: the bucket could not be created ({_code(e)})")
                        )
                        continue
            s3.list_objects_v2(Bucket=p.bucket, Prefix=p.prefix, MaxKeys=1)
        except botocore.exceptions.ClientError as e:
            why = f"{where} is not reachable ({_code(e)}): the S3 server is not set up for it"
            problems.append(Unavailable(p.name, why))
            continue
        except (botocore.exceptions.BotoCoreError, OSError) as e:
            problems.append(
                Unavailable(p.name, f"{where}: the S3 server is unreachable ({type(e).__name__})")
            )
            continue
        reached.append(p)
    return reached, problems


async def reachable(
    projects: list[Project], creds: S3Credentials | None, call_timeout: float
) -> tuple[list[Project], list[Unavailable]]:
    """`check` off the event loop; without S3 credentials no project is shown (each one reported)."""
    if not projects:
        return [], []
    if creds is None:
        return [], [Unavailable(p.name, "no S3 credentials, so it is not shown") for p in projects]
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(
            loop.run_in_executor(None, check, projects, creds, call_timeout),
            call_timeout * (1 + 2 * len(projects)),
        )
    except TimeoutError:
        why = f"the S3 server did not answer within {call_timeout:g}s"
        return [], [Unavailable(p.name, why) for p in projects]


def session_env(projects: list[Project], unavailable: list[Unavailable] = ()) -> dict[str, str]:
    """Non-secret: where the session's projects live (the file browser mounts them under `s3/`), and those
    it goes without, with why (the session's notices and connection details say so)."""
    env = {ENV: json.dumps([p.as_dict() for p in projects])} if projects else {}
    if unavailable:
        env[UNAVAILABLE_ENV] = json.dumps([{"name": u.project, "reason": u.reason} for u in unavailable])
    return env

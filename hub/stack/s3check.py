"""S3 as the stack's admin sees it: the users' buckets, readiness end to end, unreadable objects.

SeaweedFS's gateway answers HTTP before its volume server has told the master about its volumes, and a
read then fails with `volume id N not found`. Ready therefore means: a probe object written and read back
through the S3 API, and every volume on disk known to the master, at start and after every restart.
"""

from __future__ import annotations

import json
import re
import secrets
import time

from . import seaweed
from .layout import Layout, write_private
from .volumes import VOLUME_FILE, Damage

PROBE_BUCKET = "datalab-stack"  # never a user's: theirs are user-NAME
PROBE_KEY = "readiness-probe"


class S3NotReady(RuntimeError):
    """S3 does not store and return an object end to end; the message says what failed last."""


def admin_client(endpoint: str, key: str, secret_key: str, timeout: float = 10.0):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret_key,
        region_name=seaweed.REGION,
        config=Config(connect_timeout=5, read_timeout=timeout, retries={"max_attempts": 1}),
    )


def ensure_buckets(
    endpoint: str, key: str, secret_key: str, usernames, timeout: float = 30.0, extra=()
) -> None:
    """Each user's bucket (and the `extra` ones: event datasets') exists, created with the stack's admin
    identity; retried while S3 warms up."""
    s3 = admin_client(endpoint, key, secret_key)
    deadline = time.monotonic() + timeout
    while True:
        try:
            existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
            for bucket in [*(seaweed.bucket_of(n) for n in usernames), *extra]:
                if bucket not in existing:
                    s3.create_bucket(Bucket=bucket)
            return
        except Exception as e:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"could not create the users' buckets in SeaweedFS at {endpoint}: {e}"
                ) from e
            time.sleep(0.5)


def round_trip(s3) -> None:
    """Write a fresh probe object, read it back whole, delete it: raises on any difference."""
    body = secrets.token_bytes(64)
    try:
        s3.head_bucket(Bucket=PROBE_BUCKET)
    except Exception:
        s3.create_bucket(Bucket=PROBE_BUCKET)
    s3.put_object(Bucket=PROBE_BUCKET, Key=PROBE_KEY, Body=body)
    got = s3.get_object(Bucket=PROBE_BUCKET, Key=PROBE_KEY)["Body"].read()
    if got != body:
        raise S3NotReady("the probe object read back differs from what was written")
    s3.delete_object(Bucket=PROBE_BUCKET, Key=PROBE_KEY)


def wait_works(s3, known_volumes, timeout: float = 60.0) -> float:
    """Until S3 stores and returns an object and the master knows every volume on disk (`known_volumes()`
    -> (on disk, known) id sets, or None when it cannot be asked); seconds waited, else S3NotReady."""
    t0 = time.monotonic()
    last: object = None
    while time.monotonic() - t0 < timeout:
        try:
            round_trip(s3)
            volumes = known_volumes()
            if volumes is None:
                return time.monotonic() - t0
            on_disk, known = volumes
            missing = on_disk - known
            if not missing:
                return time.monotonic() - t0
            last = f"the master does not know volume(s) {', '.join(map(str, sorted(missing)[:10]))} yet"
        except Exception as e:  # connection refused, 500 `volume id N not found`, ... while it settles
            last = e
        time.sleep(0.2)
    raise S3NotReady(f"S3 does not work end to end after {timeout:.0f}s: {last}")


def weed_shell(layout: Layout, weed: str, ports: dict[str, int], command: str, timeout: float = 120.0) -> str:
    """One command of `weed shell`, over gRPC with the stack's client certificate (read from security.toml
    in the working directory); its output."""
    import subprocess

    master = f"127.0.0.1:{ports['master']}.{ports['master_grpc']}"
    return subprocess.run(
        [weed, "shell", f"-master={master}"], input=command + "\n", capture_output=True, text=True,
        timeout=timeout, cwd=layout.s3,
    ).stdout  # fmt: skip


def master_volumes(layout: Layout, weed: str, ports: dict[str, int]):
    """A `known_volumes` for wait_works: (volume ids on disk, ids the master lists)."""

    def known() -> tuple[set[int], set[int]]:
        on_disk = {
            int(m["vid"]) for p in (layout.s3 / "data").rglob("*.dat") if (m := VOLUME_FILE.match(p.name))
        }
        listed = weed_shell(layout, weed, ports, "volume.list", timeout=20)
        return on_disk, {int(v) for v in re.findall(r"volume Id:(\d+)", listed)}

    return known


FAILED = re.compile(r"^file:/buckets/(?P<path>.+?) failed verify fileId", re.M)


def unreadable_report(layout: Layout, weed: str, ports: dict[str, int], damaged: list[Damage]) -> list[str]:
    """`bucket/key` of the objects whose data is missing: SeaweedFS's own `fs.verify` (which asks the volume
    server for every piece of every object) over the damaged volumes' buckets and those where objects were
    found unreadable before (SeaweedFS trims a damaged volume as it loads, so damage is seen once, before it
    starts). Kept in s3/unreadable.json until they read again or are deleted."""
    path = layout.s3 / "unreadable.json"
    try:
        previous = [str(k) for k in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        previous = []
    buckets = {d.collection for d in damaged if d.collection} | {k.partition("/")[0] for k in previous}
    bad: set[str] = set()
    for bucket in sorted(buckets):
        if re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,62}", bucket):  # a bucket name, nothing the shell parses
            bad |= {
                m["path"]
                for m in FAILED.finditer(weed_shell(layout, weed, ports, f"fs.verify /buckets/{bucket}"))
            }
    if bad:
        write_private(path, json.dumps(sorted(bad), indent=1))
    else:
        path.unlink(missing_ok=True)
    return sorted(bad)


def warnings(damaged: list[str], unreadable: list[str], shown: int = 20) -> list[str]:
    """What to tell the operator about damaged volumes and unreadable objects."""
    lines = [f"S3 {d}" for d in damaged]
    if unreadable:
        more = ", ..." if len(unreadable) > shown else ""
        lines.append(f"{len(unreadable)} S3 object(s) cannot be read: {', '.join(unreadable[:shown])}{more}")
    return lines

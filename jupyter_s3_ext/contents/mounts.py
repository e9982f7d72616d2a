"""The mount table: which S3 locations appear under the `s3/` folder, and how API paths map to keys.

Pure functions on plain data: no I/O. A path below the S3 folder is `<mount>/<rest>`; `<rest>` becomes a
key under the mount's bucket and prefix. Anything that could leave the mounted location (`..`, `.`,
empty segments, backslashes, NUL) is refused here, before any S3 call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class PathError(ValueError):
    """A path that cannot name anything in a mount (status 400 or 404 for the API)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Mount:
    """One S3 location in the file browser: `name` is the folder shown, `prefix` is '' or ends with '/'."""

    name: str
    bucket: str
    prefix: str = ""
    writable: bool = True
    kind: str = "bucket"  # "own", "group", "dataset" or "bucket": only informative


def _clean_prefix(prefix: str) -> str:
    prefix = (prefix or "").strip("/")
    if prefix:
        check_segments(prefix.split("/"), prefix)
    return prefix + "/" if prefix else ""


def make_mount(spec: dict, kind: str = "bucket") -> Mount:
    """A Mount from a config dict {name?, bucket, prefix?, writable?/read_only?}; clear errors otherwise."""
    if not isinstance(spec, dict) or not spec.get("bucket"):
        raise ValueError(f"an S3 mount needs at least a 'bucket': {spec!r}")
    bucket = str(spec["bucket"])
    if not BUCKET_RE.match(bucket):
        raise ValueError(f"S3 mount: {bucket!r} is not a valid bucket name")
    prefix = _clean_prefix(str(spec.get("prefix") or ""))
    name = str(spec.get("name") or bucket)
    if "/" in name or name in ("", ".", "..") or name.startswith("."):
        raise ValueError(f"S3 mount: {name!r} is not a valid folder name")
    writable = bool(spec.get("writable", not spec.get("read_only", False)))
    return Mount(name=name, bucket=bucket, prefix=prefix, writable=writable, kind=spec.get("kind", kind))


def build_table(
    *,
    own_bucket: str = "",
    own_prefix: str = "",
    own_name: str = "",
    group_buckets: list[str | dict] = (),
    datasets: list[dict] = (),
    extra: list[dict] = (),
) -> tuple[list[Mount], list[str]]:
    """The user's own location first, then group buckets (a name or a {name, bucket, prefix} spec), datasets
    and other mounts; names unique.

    Returns the valid mounts and one message per invalid one (skipped, so one typo hides one mount only).
    """
    specs: list[tuple[dict, str]] = []
    if own_bucket:
        specs.append(({"bucket": own_bucket, "prefix": own_prefix, "name": own_name or own_bucket}, "own"))
    specs += [(dict(b) if isinstance(b, dict) else {"bucket": b}, "group") for b in group_buckets]
    specs += [(dict(d), "dataset") for d in datasets]
    specs += [(dict(d), "bucket") for d in extra]
    table: list[Mount] = []
    problems: list[str] = []
    seen: set[str] = set()
    for spec, kind in specs:
        try:
            m = make_mount(spec, kind)
        except ValueError as e:
            problems.append(str(e))
            continue
        if m.name in seen:
            problems.append(
                f"two S3 mounts are named {m.name!r}: the second is skipped, give it another 'name'"
            )
            continue
        seen.add(m.name)
        table.append(m)
    return table, problems


def check_segments(parts: list[str], shown: str) -> None:
    for p in parts:
        if p in ("", ".", "..") or "\\" in p or "\x00" in p:
            raise PathError(f"invalid path {shown!r}: '.', '..', empty segments and backslashes are refused")


def split(rel: str, table: list[Mount]) -> tuple[Mount | None, str]:
    """Map a path relative to the S3 folder ('' for the folder itself) to (mount, key-relative path).

    Returns (None, '') for the S3 folder; raises PathError(404) for an unknown mount.
    """
    if rel.startswith("/"):
        raise PathError(f"invalid path {rel!r}: a leading '/' is refused")
    if rel == "":
        return None, ""
    parts = rel.split("/")
    check_segments(parts, rel)
    for m in table:
        if m.name == parts[0]:
            return m, "/".join(parts[1:])
    raise PathError(f"no S3 location named {parts[0]!r}", status=404)


def key_of(mount: Mount, rest: str) -> str:
    """The object key of a file (rest != '') or the folder prefix (rest == '' gives the mount prefix)."""
    return mount.prefix + rest


def dir_prefix(mount: Mount, rest: str) -> str:
    """The listing prefix of a folder: always ends with '/' unless it is the bucket root."""
    key = key_of(mount, rest)
    return key + "/" if rest else mount.prefix

"""S3 operations the contents manager needs, on (bucket, key): listing, reading, writing, copying, deleting.

Listing is ListObjectsV2 with Delimiter='/', 1,000 entries a request, never a HEAD per entry. Writes of
whole objects are a single PutObject, so a failed save leaves the previous object intact; streamed
writes go through `multipart.MultipartWriter`, which aborts on failure so nothing half-written becomes visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class Entry:
    name: str
    is_dir: bool
    size: int | None = None
    last_modified: datetime | None = None


@dataclass
class Page:
    entries: list[Entry]
    found: bool  # anything under the prefix, even only the folder's marker
    token: str | None  # the next page's continuation token (None: last page)


async def list_page(client, bucket: str, prefix: str, token: str | None = None) -> Page:
    """One page (up to 1,000 entries) of what is directly under `prefix`."""
    kwargs = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": 1000}
    if token:
        kwargs["ContinuationToken"] = token
    page = await client.list_objects_v2(**kwargs)
    entries: list[Entry] = []
    found = False
    for cp in page.get("CommonPrefixes", ()):
        found = True
        name = cp["Prefix"][len(prefix) :].rstrip("/")
        if name:
            entries.append(Entry(name, True))
    for obj in page.get("Contents", ()):
        found = True
        name = obj["Key"][len(prefix) :]
        if name and "/" not in name:  # the folder's own marker has name ''
            entries.append(Entry(name, False, obj["Size"], obj["LastModified"]))
    return Page(entries, found, page["NextContinuationToken"] if page.get("IsTruncated") else None)


async def list_dir(client, bucket: str, prefix: str) -> tuple[list[Entry], bool]:
    """Every entry directly under `prefix`, and whether anything (even only a marker) exists there."""
    page = await list_page(client, bucket, prefix)
    entries, found = page.entries, page.found
    while page.token:
        page = await list_page(client, bucket, prefix, page.token)
        entries += page.entries
    return entries, found


async def prefix_exists(client, bucket: str, prefix: str) -> bool:
    page = await client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    return bool(page.get("KeyCount") or page.get("Contents"))


async def list_keys(client, bucket: str, prefix: str):
    """Every key under `prefix` (recursive), with sizes: an async iterator of (key, size)."""
    token = None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
        if token:
            kwargs["ContinuationToken"] = token
        page = await client.list_objects_v2(**kwargs)
        for obj in page.get("Contents", ()):
            yield obj["Key"], obj["Size"]
        if not page.get("IsTruncated"):
            return
        token = page["NextContinuationToken"]


async def head(client, bucket: str, key: str) -> dict | None:
    """The object's metadata, or None when there is no such object (a folder, or nothing)."""
    from botocore.exceptions import ClientError

    try:
        return await client.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return None
        raise


async def delete_prefix(client, bucket: str, prefix: str) -> int:
    """Delete every object under `prefix` (files first, in batches of 1,000), then the folder keys.

    Folder keys (`a/`, `a/b/`, deepest first, whether or not a marker exists) are deleted last: on real
    S3 that is a no-op for absent markers; SeaweedFS keeps empty folders until their key is deleted.
    """
    batch: list[dict] = []
    folders: set[str] = {prefix} if prefix else set()
    n = 0
    async for key, _ in list_keys(client, bucket, prefix):
        parts = key[len(prefix) :].split("/")
        for i in range(1, len(parts)):
            folders.add(prefix + "/".join(parts[:i]) + "/")
        if key.endswith("/"):
            continue
        batch.append({"Key": key})
        if len(batch) == 1000:
            await _delete_batch(client, bucket, batch)
            n += len(batch)
            batch = []
    if batch:
        await _delete_batch(client, bucket, batch)
        n += len(batch)
    ordered = sorted(folders, key=lambda k: (-k.count("/"), k))
    for i in range(0, len(ordered), 1000):
        await _delete_batch(client, bucket, [{"Key": k} for k in ordered[i : i + 1000]], strict=False)
    return n


async def _delete_batch(client, bucket: str, batch: list[dict], strict: bool = True) -> None:
    from botocore.exceptions import ClientError

    r = await client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    if r.get("Errors") and (strict or any(e.get("Code") == "AccessDenied" for e in r["Errors"])):
        err = r["Errors"][0]
        raise ClientError(
            {"Error": {"Code": err.get("Code"), "Message": err.get("Message")}}, "DeleteObjects"
        )


async def copy(client, bucket: str, src: str, dst_bucket: str, dst: str) -> None:
    await client.copy_object(Bucket=dst_bucket, Key=dst, CopySource={"Bucket": bucket, "Key": src})


async def copy_prefix(client, bucket: str, src: str, dst_bucket: str, dst: str) -> int:
    n = 0
    async for key, _ in list_keys(client, bucket, src):
        if key.endswith("/"):  # folder markers are re-created, not copied (some servers refuse that)
            await client.put_object(Bucket=dst_bucket, Key=dst + key[len(src) :], Body=b"")
        else:
            await copy(client, bucket, key, dst_bucket, dst + key[len(src) :])
        n += 1
    return n

"""Benchmark: a 100 MiB upload through the contents API exactly as JupyterLab 4 sends it, against boto3.

    .venv/bin/python benchmarks/s3_upload.py [--size-mb 100]

1 MiB chunks, base64, `chunk` 1..N-1 then -1, to `PUT /api/contents/s3/bench/upload.bin`; the object is
read back from S3 and checked by SHA-256. S3 requests are counted at the wire by a proxy; the server's
peak memory is VmHWM after a reset (writing 5 to /proc/PID/clear_refs). Last line: one JSON object.
The s3contents comparison runs only from a throwaway venv, never ours (else it is reported as skipped):
`/usr/bin/python3 -m venv /tmp/s3eng/s3c && /tmp/s3eng/s3c/bin/pip install s3contents "jupyter-server<3"`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from s3_common import CountingProxy, raw_client, reset_hwm, vm_hwm_kb, vm_rss_kb

from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.support.seaweedfs import run_seaweedfs

CHUNK = 1024 * 1024


def make_file(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            data = os.urandom(min(left, 4 * CHUNK))
            h.update(data)
            f.write(data)
            left -= len(data)
    return h.hexdigest()


def upload_like_jupyterlab(jp, api_path: str, src: Path, size: int) -> None:
    n = (size + CHUNK - 1) // CHUNK
    with open(src, "rb") as f:
        for i in range(1, n + 1):
            body = {
                "type": "file",
                "format": "base64",
                "chunk": -1 if i == n else i,
                "content": base64.b64encode(f.read(CHUNK)).decode("ascii"),
                "name": src.name,
                "path": api_path,
            }
            r = jp.api("PUT", api_path, body=body, timeout=300)
            r.raise_for_status()


def sha_of_object(client, bucket: str, key: str) -> str:
    h = hashlib.sha256()
    for data in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(CHUNK):
        h.update(data)
    return h.hexdigest()


def measure(jp, api_path: str, src: Path, size: int, proxy, tmp: str) -> dict:
    """Warm the server with a small chunked upload, reset its VmHWM, upload, and measure."""
    warm = Path(tmp) / "warm.bin"
    make_file(warm, 9 * CHUNK)  # a first multipart upload: code paths loaded, pools made
    upload_like_jupyterlab(jp, api_path.replace("upload.bin", "warm.bin"), warm, 9 * CHUNK)
    pid = jp.proc.pid
    reset_hwm(pid)
    base_kb = vm_hwm_kb(pid)
    proxy.reset()
    t = time.perf_counter()
    upload_like_jupyterlab(jp, api_path, src, size)
    wall = time.perf_counter() - t
    return {
        "wall": wall,
        "requests": proxy.count,
        "lines": list(proxy.lines),
        "growth_mb": (vm_hwm_kb(pid) - base_kb) / 1024,
        "retained_mb": (vm_rss_kb(pid) - base_kb) / 1024,
    }


def s3contents_upload(sw, proxy, src: Path, size: int, digest: str, tmp: str) -> dict:
    """The same upload through s3contents, in a throwaway venv (never ours), when it is there."""
    server = Path("/tmp/s3eng/s3c/bin/jupyter-server")
    if not server.exists():
        return {"skipped": "s3contents is not installed in a throwaway venv at /tmp/s3eng/s3c"}
    settings = {
        "endpoint_url": proxy.url,
        "access_key_id": sw.access_key,
        "secret_access_key": sw.secret_key,
        "bucket": "s3c",
    }
    sw.client().create_bucket(Bucket="s3c")
    with run_jupyter(
        Path(tmp) / "jp-s3c", settings, manager="s3contents.S3ContentsManager", server_bin=server
    ) as jp:
        m = measure(jp, "upload.bin", src, size, proxy, tmp)
    ok = sha_of_object(sw.client(), "s3c", "upload.bin") == digest
    return {
        "version": "0.11.2",
        "sha256_ok": ok,
        "s3_requests": m["requests"],
        "peak_rss_growth_mb": round(m["growth_mb"], 1),
        "wall_s": round(m["wall"], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--part-mb", type=int, default=8, help="S3MountContentsManager.part_size_mb")
    ap.add_argument("--no-s3contents", dest="s3contents", action="store_false", help="skip the comparison")
    ap.add_argument("--home", action="store_true", help="upload to the home directory instead (comparison)")
    args = ap.parse_args()
    size = args.size_mb * CHUNK
    with tempfile.TemporaryDirectory() as tmp, run_seaweedfs(Path(tmp) / "sw", buckets=["bench"]) as sw:
        src = Path(tmp) / "upload.bin"
        digest = make_file(src, size)
        proxy = CountingProxy(sw.ports["s3"])
        settings = {
            "endpoint_url": proxy.url,
            "access_key_id": sw.access_key,
            "secret_access_key": sw.secret_key,
            "mounts": [{"name": "bench", "bucket": "bench"}],
            "part_size_mb": args.part_mb,
        }
        with run_jupyter(Path(tmp) / "jp", settings) as jp:
            assert jp.api("GET", "s3/bench").status_code == 200  # warm: client and connections
            m = measure(jp, "upload.bin" if args.home else "s3/bench/upload.bin", src, size, proxy, tmp)
            wall, requests, lines = m["wall"], m["requests"], m["lines"]
            growth_mb, retained_mb = m["growth_mb"], m["retained_mb"]
            if args.home:
                print(json.dumps({"home_peak_rss_growth_mb": round(growth_mb, 1), "wall_s": round(wall, 2)}))
                return
            model = jp.api("GET", "s3/bench/upload.bin", params={"content": 0}).json()
        admin = sw.client()
        sha_ok = sha_of_object(admin, "bench", "upload.bin") == digest and model["size"] == size
        raw = raw_client(sw, proxy.url)
        t = time.perf_counter()
        raw.upload_file(str(src), "bench", "raw.bin")
        raw_wall = time.perf_counter() - t
        raw_ok = sha_of_object(admin, "bench", "raw.bin") == digest
        s3c = (
            s3contents_upload(sw, proxy, src, size, digest, tmp)
            if args.s3contents
            else {"skipped": "--no-s3contents"}
        )
    kinds: dict[str, int] = {}
    for line in lines:
        verb, _, rest = line.partition(" ")
        what = (
            "part"
            if "partNumber=" in rest
            else "create/complete"
            if "uploads" in rest or "uploadId=" in rest
            else verb
        )
        kinds[what] = kinds.get(what, 0) + 1
    print(f"requests by kind: {kinds}", file=sys.stderr)
    result = {
        "size_mb": args.size_mb,
        "sha256_ok": sha_ok and raw_ok,
        "s3_requests": requests,
        "peak_rss_growth_mb": round(growth_mb, 1),
        "rss_growth_after_mb": round(retained_mb, 1),
        "wall_s": round(wall, 2),
        "raw_wall_s": round(raw_wall, 2),
        "ratio_wall": round(wall / raw_wall, 2),
        "targets_met": sha_ok and requests <= 30 and growth_mb <= 32 and wall / raw_wall <= 2,
        "s3contents": s3c,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

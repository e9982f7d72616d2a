"""Benchmark: listing a big S3 folder through the contents API, against raw boto3 on the same SeaweedFS.

    .venv/bin/python benchmarks/s3_listing.py [--objects 10000] [--rounds 5]

A folder of N objects plus 20 sub-folders without marker objects is listed with
`GET /api/contents/s3/bench/big?content=1` and with boto3's paginated `list_objects_v2` (Delimiter '/').
S3 requests are counted at the wire by a proxy in front of SeaweedFS. Last line: one JSON object.
The s3contents comparison runs only from a throwaway venv, never ours (else it is reported as skipped):
`/usr/bin/python3 -m venv /tmp/s3eng/s3c && /tmp/s3eng/s3c/bin/pip install s3contents "jupyter-server<3"`.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from s3_common import CountingProxy, p50, raw_client

from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.support.seaweedfs import run_seaweedfs

SUBFOLDERS = 20


def fill(client, bucket: str, n: int) -> None:
    keys = [f"big/obj-{i:05d}.csv" for i in range(n)]
    keys += [f"big/sub-{j:02d}/inside.txt" for j in range(SUBFOLDERS)]  # no marker objects
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"a,b\n1,2\n"), keys))


def raw_listing(client, bucket: str) -> int:
    n = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="big/", Delimiter="/"):
        n += len(page.get("CommonPrefixes", [])) + len(page.get("Contents", []))
    return n


def s3contents_listing(proxy, sw, rounds: int) -> dict | None:
    """s3contents in a throwaway venv (never in ours), when it is there: /tmp/s3eng/s3c."""
    venv = Path("/tmp/s3eng/s3c/bin/python")
    if not venv.exists():
        return {"skipped": "s3contents is not installed in a throwaway venv at /tmp/s3eng/s3c"}
    code = (
        "import asyncio,time,json,sys\n"
        "from s3contents import S3ContentsManager\n"
        f"cm=S3ContentsManager(access_key_id={sw.access_key!r},secret_access_key={sw.secret_key!r},"
        f"endpoint_url={proxy.url!r},bucket='bench',region_name='us-east-1')\n"
        "ts=[]\n"
        f"for _ in range({rounds}+1):\n"
        "    t=time.perf_counter(); m=cm.get('big', content=True)\n"
        "    m=asyncio.run(m) if asyncio.iscoroutine(m) else m\n"
        "    ts.append((time.perf_counter()-t)*1000)\n"
        "print(json.dumps({'entries':len(m['content']),'ms':ts[1:]}))\n"
    )
    proxy.reset()
    r = subprocess.run([str(venv), "-c", code], capture_output=True, text=True, timeout=600)
    if r.returncode:
        return {"skipped": "s3contents failed: " + r.stderr.strip().splitlines()[-1][:200]}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return {
        "entries": out["entries"],
        "wall_ms_p50": round(p50(out["ms"]), 1),
        "s3_requests_per_listing": math.ceil(proxy.count / (rounds + 1)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    n = args.objects
    with tempfile.TemporaryDirectory() as tmp, run_seaweedfs(Path(tmp) / "sw", buckets=["bench"]) as sw:
        t = time.perf_counter()
        fill(sw.client(), "bench", n)
        print(f"filled {n}+{SUBFOLDERS} objects in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        proxy = CountingProxy(sw.ports["s3"])
        settings = {
            "endpoint_url": proxy.url,
            "access_key_id": sw.access_key,
            "secret_access_key": sw.secret_key,
            "mounts": [{"name": "bench", "bucket": "bench"}],
        }
        with run_jupyter(Path(tmp) / "jp", settings) as jp:
            jp.api("GET", "s3/bench/big", params={"content": 1})  # warm: client, connections
            ours, entries, requests = [], 0, 0
            for _ in range(args.rounds):
                proxy.reset()
                t = time.perf_counter()
                r = jp.api("GET", "s3/bench/big", params={"content": 1})
                ours.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                entries, requests = len(r.json()["content"]), proxy.count
        baseline = raw_client(sw, proxy.url)
        raw_listing(baseline, "bench")  # warm
        raw, raw_requests = [], 0
        for _ in range(args.rounds):
            proxy.reset()
            t = time.perf_counter()
            raw_entries = raw_listing(baseline, "bench")
            raw.append((time.perf_counter() - t) * 1000)
            raw_requests = proxy.count
        s3c = s3contents_listing(proxy, sw, min(args.rounds, 3))
    result = {
        "objects": n,
        "entries": entries,
        "raw_entries": raw_entries,
        "s3_requests": requests,
        "raw_s3_requests": raw_requests,
        "wall_ms_p50": round(p50(ours), 1),
        "raw_wall_ms_p50": round(p50(raw), 1),
        "ratio_wall": round(p50(ours) / p50(raw), 3),
        "targets_met": entries == n + SUBFOLDERS
        and requests <= math.ceil(n / 1000) + 2
        and p50(ours) / p50(raw) <= 1.25,
        "s3contents": s3c,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

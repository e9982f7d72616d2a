"""Benchmark: opening a big S3 folder in the file browser, against raw boto3, s3fs `ls` and s3contents.

    .venv/bin/python benchmarks/s3_listing.py [--objects 100000] [--folders 200] [--rounds 5]

A folder of N objects plus F sub-folders without marker objects is listed the way JupyterLab's file
browser asks (`GET /api/contents/s3/bench/big?content=1`, type unknown), with boto3's paginated
`list_objects_v2` (Delimiter '/'), with s3fs `ls(detail=True)` (no cache) and through s3contents (its
own server, in a throwaway venv made by pip when missing), interleaved for `--rounds` rounds straight to
SeaweedFS. Our wall time is the time to receive the whole JSON; the server's peak RSS growth while it
answers (VmHWM after a reset) is compared with the size of that JSON, and measured for s3contents too.
S3 requests are counted at the wire, once, by a second server of ours behind a counting proxy: the floor
is one ListObjectsV2 per 1,000 entries. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from s3_common import (
    CountingProxy,
    interleaved,
    measured_get,
    mount_settings,
    p50,
    raw_client,
    s3contents_server,
    s3contents_venv,
    summary,
)

from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.support.seaweedfs import run_seaweedfs


def fill(client, bucket: str, n: int, folders: int) -> None:
    keys = [f"big/obj-{i:06d}.csv" for i in range(n)]
    keys += [f"big/sub-{j:03d}/inside.txt" for j in range(folders)]  # no marker objects
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"a,b\n1,2\n"), keys))


def raw_listing(client, bucket: str) -> int:
    n = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="big/", Delimiter="/"):
        n += len(page.get("CommonPrefixes", [])) + len(page.get("Contents", []))
    return n


def server_get(jp, api_path: str) -> dict:
    """One file-browser GET: wall time to the last byte, the server's peak RSS growth, the JSON's size."""
    out, body = measured_get(jp, api_path, {"content": 1})
    return {**out, "json_mb": len(body) / 2**20, "entries": len(json.loads(body)["content"])}


def count_requests(sw, tmp: str) -> tuple[int, int]:
    proxy = CountingProxy(sw.ports["s3"])
    with run_jupyter(Path(tmp) / "jp-count", mount_settings(sw, proxy.url)) as jp:
        jp.api("GET", "s3/bench")  # the client made, connections opened
        proxy.reset()
        entries = server_get(jp, "s3/bench/big")["entries"]
        return proxy.count, entries


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--folders", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-s3contents", dest="s3contents", action="store_false")
    args = ap.parse_args()
    n, total = args.objects, args.objects + args.folders
    load_before = os.getloadavg()[0]
    s3c_bin, s3c_version = s3contents_venv() if args.s3contents else (None, "--no-s3contents")
    with tempfile.TemporaryDirectory() as tmp, run_seaweedfs(Path(tmp) / "sw", buckets=["bench"]) as sw:
        t = time.perf_counter()
        fill(sw.client(), "bench", n, args.folders)
        print(f"filled {n}+{args.folders} objects in {time.perf_counter() - t:.0f}s", file=sys.stderr)
        requests, counted_entries = count_requests(sw, tmp)
        import s3fs

        fs = s3fs.S3FileSystem(
            key=sw.access_key,
            secret=sw.secret_key,
            client_kwargs={"endpoint_url": sw.endpoint, "region_name": "us-east-1"},
            skip_instance_cache=True,
        )
        raw = raw_client(sw, sw.endpoint)
        ours, raws, s3fs_walls, s3c, entries = [], [], [], [], {}
        with (
            run_jupyter(Path(tmp) / "jp", mount_settings(sw, sw.endpoint)) as jp,
            s3contents_server(s3c_bin, Path(tmp) / "jp-s3c", sw, "bench") as s3c_jp,
        ):
            server_get(jp, "s3/bench/big")  # warm
            raw_listing(raw, "bench")

            def raw_side() -> None:
                t = time.perf_counter()
                entries["raw"] = raw_listing(raw, "bench")
                raws.append({"wall": time.perf_counter() - t})

            def s3fs_side() -> None:
                t = time.perf_counter()
                entries["s3fs"] = len(fs.ls("bench/big/", detail=True, refresh=True))
                s3fs_walls.append({"wall": time.perf_counter() - t})

            def s3contents_side() -> None:
                if s3c_jp is not None:
                    s3c.append(server_get(s3c_jp, "big"))

            def round_done(i: int) -> None:
                ours[-1]["ratio"] = ours[-1]["wall"] / raws[-1]["wall"]
                ours[-1]["s3fs_ratio"] = s3fs_walls[-1]["wall"] / raws[-1]["wall"]
                ours[-1]["mem_ratio"] = ours[-1]["growth_mb"] / ours[-1]["json_mb"]
                print(f"round {i + 1}: {ours[-1]}", file=sys.stderr)

            sides = {
                "ours": lambda: ours.append(server_get(jp, "s3/bench/big")),
                "raw": raw_side,
                "s3fs": s3fs_side,
                "s3contents": s3contents_side,
            }
            interleaved(args.rounds, sides, round_done)
    floor = math.ceil(total / 1000)
    ratio = p50([o["ratio"] for o in ours])
    mem_ratio = max(o["mem_ratio"] for o in ours)
    result = {
        "objects": n,
        "folders": args.folders,
        "rounds": args.rounds,
        "entries": ours[-1]["entries"],
        "raw_entries": entries["raw"],
        "s3fs_entries": entries["s3fs"],
        "s3_requests": requests,
        "s3_requests_floor": floor,
        "wall_s": summary(ours, "wall"),
        "raw_wall_s": summary(raws, "wall"),
        "ratio_wall": summary(ours, "ratio"),
        "s3fs_ls_wall_s": summary(s3fs_walls, "wall"),
        "s3fs_ratio_wall": summary(ours, "s3fs_ratio"),
        "json_mb": round(ours[-1]["json_mb"], 1),
        "peak_rss_growth_mb": summary(ours, "growth_mb", 1),
        "peak_rss_growth_per_json_size_max": round(mem_ratio, 2),
        "s3contents": (
            {
                "version": s3c_version,
                "entries": s3c[-1]["entries"],
                "wall_s": summary(s3c, "wall"),
                "peak_rss_growth_mb": summary(s3c, "growth_mb", 1),
                "json_mb": round(s3c[-1]["json_mb"], 1),
            }
            if s3c
            else {"skipped": s3c_version}
        ),
        "load_avg_1m_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "targets_met": ours[-1]["entries"] == total
        and counted_entries == total
        and requests <= floor
        and ratio <= 0.6
        and mem_ratio <= 2.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

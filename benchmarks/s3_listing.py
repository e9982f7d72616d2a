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

from s3_common import CountingProxy, p50, raw_client, reset_hwm, s3contents_venv, vm_hwm_kb, vm_rss_kb

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
    pid = jp.proc.pid
    base_kb = vm_rss_kb(pid)
    reset_hwm(pid)
    t = time.perf_counter()
    r = jp.http.get(f"{jp.url}/api/contents/{api_path}", params={"content": 1}, timeout=900)
    body = r.content
    wall = time.perf_counter() - t
    r.raise_for_status()
    return {
        "wall": wall,
        "growth_mb": (vm_hwm_kb(pid) - base_kb) / 1024,
        "json_mb": len(body) / 2**20,
        "entries": len(json.loads(body)["content"]),
    }


def settings(sw, endpoint: str) -> dict:
    return {
        "endpoint_url": endpoint,
        "access_key_id": sw.access_key,
        "secret_access_key": sw.secret_key,
        "mounts": [{"name": "bench", "bucket": "bench"}],
    }


def count_requests(sw, tmp: str) -> tuple[int, int]:
    proxy = CountingProxy(sw.ports["s3"])
    with run_jupyter(Path(tmp) / "jp-count", settings(sw, proxy.url)) as jp:
        jp.api("GET", "s3/bench")  # the client made, connections opened
        proxy.reset()
        entries = server_get(jp, "s3/bench/big")["entries"]
        return proxy.count, entries


def summary(rows: list[dict], key: str, digits: int = 3) -> dict:
    values = [r[key] for r in rows]
    return {
        "p50": round(p50(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


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
        s3c_settings = {
            "endpoint_url": sw.endpoint,
            "access_key_id": sw.access_key,
            "secret_access_key": sw.secret_key,
            "bucket": "bench",
        }
        ours, raws, s3fs_walls, s3c = [], [], [], []
        with run_jupyter(Path(tmp) / "jp", settings(sw, sw.endpoint)) as jp:
            server_get(jp, "s3/bench/big")  # warm
            raw_listing(raw, "bench")
            s3c_ctx = (
                run_jupyter(
                    Path(tmp) / "jp-s3c",
                    s3c_settings,
                    manager="s3contents.S3ContentsManager",
                    server_bin=s3c_bin / "jupyter-server",
                )
                if s3c_bin
                else None
            )
            s3c_jp = s3c_ctx.__enter__() if s3c_ctx else None
            try:
                for i in range(args.rounds):
                    sides = ["ours", "raw", "s3fs", "s3contents"]
                    for side in sides[i % 4 :] + sides[: i % 4]:  # who goes first rotates
                        if side == "ours":
                            ours.append(server_get(jp, "s3/bench/big"))
                        elif side == "raw":
                            t = time.perf_counter()
                            raw_entries = raw_listing(raw, "bench")
                            raws.append({"wall": time.perf_counter() - t})
                        elif side == "s3fs":
                            t = time.perf_counter()
                            s3fs_entries = len(fs.ls("bench/big/", detail=True, refresh=True))
                            s3fs_walls.append({"wall": time.perf_counter() - t})
                        elif s3c_jp is not None:
                            s3c.append(server_get(s3c_jp, "big"))
                    ours[-1]["ratio"] = ours[-1]["wall"] / raws[-1]["wall"]
                    ours[-1]["s3fs_ratio"] = s3fs_walls[-1]["wall"] / raws[-1]["wall"]
                    ours[-1]["mem_ratio"] = ours[-1]["growth_mb"] / ours[-1]["json_mb"]
                    print(f"round {i + 1}: {ours[-1]}", file=sys.stderr)
            finally:
                if s3c_ctx:
                    s3c_ctx.__exit__(None, None, None)
    floor = math.ceil(total / 1000)
    ratio = p50([o["ratio"] for o in ours])
    mem_ratio = max(o["mem_ratio"] for o in ours)
    result = {
        "objects": n,
        "folders": args.folders,
        "rounds": args.rounds,
        "entries": ours[-1]["entries"],
        "raw_entries": raw_entries,
        "s3fs_entries": s3fs_entries,
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

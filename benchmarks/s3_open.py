"""Benchmark: opening a big S3 file through the contents API as base64, against s3contents and raw boto3.

    .venv/bin/python benchmarks/s3_open.py [--size-mb 200] [--rounds 5]

`GET /api/contents/s3/bench/big.bin?type=file&format=base64&content=1` (how JupyterLab opens a binary
file) on our server (max_open_mb raised to fit), the same GET on s3contents' server (its own throwaway
venv, made by pip when missing), and boto3's `get_object().read()` of the same object, interleaved for
`--rounds` rounds. Each server's peak RSS growth while it answers (VmHWM after a reset) is compared with
the size of the base64 content (4/3 of the object): the target is to hold no more than that once. The
first answer of each server is decoded and checked by SHA-256. Last line: one JSON object.
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

from s3_common import (
    interleaved,
    measured_get,
    mount_settings,
    raw_client,
    s3contents_server,
    s3contents_venv,
    summary,
)

from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.support.seaweedfs import run_seaweedfs

PARAMS = {"type": "file", "format": "base64", "content": 1}


def opened(jp, api_path: str, check: str | None) -> dict:
    out, body = measured_get(jp, api_path, PARAMS)
    if check is not None:
        out["sha256_ok"] = hashlib.sha256(base64.b64decode(json.loads(body)["content"])).hexdigest() == check
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-s3contents", dest="s3contents", action="store_false")
    args = ap.parse_args()
    size = args.size_mb * 2**20
    encoded_mb = 4 * ((size + 2) // 3) / 2**20
    load_before = os.getloadavg()[0]
    s3c_bin, s3c_version = s3contents_venv() if args.s3contents else (None, "--no-s3contents")
    with tempfile.TemporaryDirectory() as tmp, run_seaweedfs(Path(tmp) / "sw", buckets=["bench"]) as sw:
        data = os.urandom(size)
        digest = hashlib.sha256(data).hexdigest()
        sw.client().put_object(Bucket="bench", Key="big.bin", Body=data)
        sw.client().put_object(Bucket="bench", Key="warm.bin", Body=data[: 2**20])
        del data
        raw = raw_client(sw, sw.endpoint)
        ours, theirs, raws = [], [], []
        with (
            run_jupyter(
                Path(tmp) / "jp", mount_settings(sw, sw.endpoint, max_open_mb=args.size_mb + 64)
            ) as jp,
            s3contents_server(s3c_bin, Path(tmp) / "jp-s3c", sw, "bench") as s3c,
        ):
            opened(jp, "s3/bench/warm.bin", None)  # code paths loaded, connections made
            if s3c is not None:
                opened(s3c, "warm.bin", None)

            def raw_get() -> None:
                t = time.perf_counter()
                raw.get_object(Bucket="bench", Key="big.bin")["Body"].read()
                raws.append({"wall": time.perf_counter() - t})

            def theirs_get() -> None:
                if s3c is not None:
                    theirs.append(opened(s3c, "big.bin", digest if not theirs else None))

            def round_done(i: int) -> None:
                ours[-1]["ratio"] = ours[-1]["wall"] / raws[-1]["wall"]
                ours[-1]["mem_per_encoded"] = ours[-1]["growth_mb"] / encoded_mb
                print(
                    f"round {i + 1}: ours {ours[-1]}, s3contents {theirs[-1] if theirs else '-'}",
                    file=sys.stderr,
                )

            sides = {
                "ours": lambda: ours.append(opened(jp, "s3/bench/big.bin", digest if not ours else None)),
                "raw": raw_get,
                "s3contents": theirs_get,
            }
            interleaved(args.rounds, sides, round_done)
    mem = max(o["mem_per_encoded"] for o in ours)
    result = {
        "size_mb": args.size_mb,
        "encoded_mb": round(encoded_mb, 1),
        "rounds": args.rounds,
        "sha256_ok": ours[0]["sha256_ok"],
        "wall_s": summary(ours, "wall", 2),
        "raw_get_wall_s": summary(raws, "wall", 2),
        "ratio_to_raw_get": summary(ours, "ratio", 2),
        "peak_rss_growth_mb": summary(ours, "growth_mb", 1),
        "peak_rss_growth_per_encoded_size_max": round(mem, 3),
        "s3contents": (
            {
                "version": s3c_version,
                "sha256_ok": theirs[0]["sha256_ok"],
                "wall_s": summary(theirs, "wall", 2),
                "peak_rss_growth_mb": summary(theirs, "growth_mb", 1),
            }
            if theirs
            else {"skipped": s3c_version}
        ),
        "load_avg_1m_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "targets_met": ours[0]["sha256_ok"] and mem <= 1.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

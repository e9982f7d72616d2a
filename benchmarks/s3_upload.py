"""Benchmark: an upload as Datalab's JupyterLab sends it, and as stock JupyterLab 4 does, against raw boto3.

    .venv/bin/python benchmarks/s3_upload.py [--size-mb 100] [--rounds 5] [--no-s3contents]
    .venv/bin/python benchmarks/s3_upload.py --size-mb 2048 --rounds 5 --no-s3contents   # memory stays flat

Ours, direct (what Datalab's labextension sends into the S3 folder when S3 is reachable from the browser,
`browser_endpoint_url`): the server starts a multipart upload and signs each part's URL
(`POST /datalab/direct-upload/s3/bench/upload.bin`), the client sends the parts straight to S3, 3 at a
time with the checksum the server asks for (none on the loopback), and the server completes it (`PUT`).
A Python client, so this measures the protocol; benchmarks/s3_upload_browser.py measures it in Chromium.
Ours, streamed (what the labextension sends otherwise): the file as the body of one
`PUT /datalab/upload/s3/bench/upload.bin`, as a browser's XMLHttpRequest sends a File.
Ours, chunked (stock JupyterLab, API clients): 1 MiB chunks, base64, `chunk` 1..N-1 then -1, one request
after the other, to `PUT /api/contents/s3/bench/upload.bin`; the client builds each JSON body natively,
as a browser's JSON.stringify does.
Baseline: boto3's `upload_fileobj` of the same file (its transfer manager: 8 MiB parts from 10 threads).
The four are interleaved (s3_common.interleaved), for `--rounds` rounds straight to SeaweedFS; every
object is read back and checked by SHA-256. One more upload of each of ours goes through a counting proxy
to count S3 requests at the wire (not timed: the proxy shares this process).
The server's peak memory is VmHWM after a reset (writing 5 to /proc/PID/clear_refs) before each upload.
CPU seconds are counted per process for every side (client, server, SeaweedFS): where every core is
busy, the wall ratio follows the CPU ratio, whose floor the client and S3 set, not the server
(`ratio_cpu_without_server_p50`: the CPU ratio if our server cost nothing).
s3contents (in its own throwaway venv, made by pip when missing) uploads the same file once, as a
reference. Last line: one JSON object; its top-level ratios are the direct upload's, `streamed` and
`chunked` hold the others'.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from s3_common import (
    CountingProxy,
    group_cpu_s,
    interleaved,
    mount_settings,
    own_cpu_s,
    p50,
    raw_client,
    reset_hwm,
    s3contents_server,
    s3contents_venv,
    vm_hwm_kb,
    vm_rss_kb,
)

from jupyter_s3_ext.contents.multipart import checksum_b64
from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.support.seaweedfs import run_seaweedfs

CHUNK = 1024 * 1024
DIRECT_IN_FLIGHT = 3  # parts the labextension sends to S3 at once


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
    url = f"{jp.url}/api/contents/{api_path}"
    n = (size + CHUNK - 1) // CHUNK
    meta = f'"name":{json.dumps(src.name)},"path":{json.dumps(api_path)},"type":"file","format":"base64"'
    with open(src, "rb") as f:
        for i in range(1, n + 1):
            head = f'{{{meta},"chunk":{-1 if i == n else i},"content":"'.encode()
            body = b"".join((head, base64.b64encode(f.read(CHUNK)), b'"}'))
            r = jp.http.put(url, data=body, timeout=300)
            r.raise_for_status()


def upload_streamed(jp, api_path: str, src: Path, size: int) -> None:
    with open(src, "rb") as f:
        r = jp.http.put(f"{jp.url}/datalab/upload/{api_path}", data=f, timeout=300)
        r.raise_for_status()


def upload_direct(jp, api_path: str, src: Path, size: int) -> None:
    """As the labextension sends a big file when S3 is reachable from the browser: the server starts the
    upload and signs each part; the parts go straight to S3 (3 in flight), without the session's token."""
    url = f"{jp.url}/datalab/direct-upload/{api_path}"
    r = jp.http.post(url, json={"size": size}, timeout=60)
    r.raise_for_status()
    up = r.json()
    local = threading.local()

    def session(name: str, auth: bool) -> requests.Session:
        if not hasattr(local, name):
            s = requests.Session()
            if auth:
                s.headers.update(jp.http.headers)
                s.cookies.update(jp.http.cookies)
            setattr(local, name, s)
        return getattr(local, name)

    def part(k: int) -> str:
        with open(src, "rb") as f:
            f.seek((k - 1) * up["part_size"])
            data = f.read(up["part_size"])
        ask = {"id": up["id"], "part": k}
        if up["checksum"]:  # the browser: crc-32's crc32c or WebCrypto; none on the loopback
            ask["checksum"] = checksum_b64(up["checksum"], data)
        signed = session("hub", True).post(url, json=ask, timeout=60)
        signed.raise_for_status()
        answer = session("s3", False).put(
            signed.json()["url"], data=data, headers=signed.json()["headers"], timeout=300
        )
        answer.raise_for_status()
        return answer.headers["ETag"]

    with ThreadPoolExecutor(DIRECT_IN_FLIGHT) as pool:
        etags = list(pool.map(part, range(1, up["parts"] + 1)))
    r = jp.http.put(url, json={"id": up["id"], "etags": etags}, timeout=300)
    r.raise_for_status()


PROTOCOLS = {"direct": upload_direct, "streamed": upload_streamed, "chunked": upload_like_jupyterlab}


def sha_of_object(client, bucket: str, key: str) -> str:
    h = hashlib.sha256()
    for data in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(CHUNK):
        h.update(data)
    return h.hexdigest()


def warm(jp, prefix: str, tmp: str, protocols=("chunked",)) -> None:
    """A first multipart upload by each protocol: code paths loaded, buffers and connections made."""
    path = Path(tmp) / "warm.bin"
    make_file(path, 9 * CHUNK)
    for name in protocols:
        PROTOCOLS[name](jp, f"{prefix}warm.bin", path, 9 * CHUNK)


def ours(
    jp, api_path: str, src: Path, size: int, s3_pid: int | None = None, send=upload_like_jupyterlab
) -> dict:
    """Wall time, peak RSS growth and CPU seconds (client: this process; the server; S3) of one upload."""
    pid = jp.proc.pid
    base_kb = vm_rss_kb(pid)
    reset_hwm(pid)
    cpu = own_cpu_s(), group_cpu_s(pid), group_cpu_s(s3_pid) if s3_pid else 0.0
    t = time.perf_counter()
    send(jp, api_path, src, size)
    wall = time.perf_counter() - t
    client, server, s3 = own_cpu_s() - cpu[0], group_cpu_s(pid) - cpu[1], 0.0
    if s3_pid:
        s3 = group_cpu_s(s3_pid) - cpu[2]
    return {
        "wall": wall,
        "growth_mb": (vm_hwm_kb(pid) - base_kb) / 1024,
        "cpu": {"client": client, "server": server, "s3": s3},
    }


def raw_upload(client, src: Path, bucket: str, key: str, s3_pid: int | None = None) -> dict:
    """Wall time and CPU seconds (boto3: this process; S3) of one upload_fileobj."""
    cpu = own_cpu_s(), group_cpu_s(s3_pid) if s3_pid else 0.0
    t = time.perf_counter()
    with open(src, "rb") as f:
        client.upload_fileobj(f, bucket, key)
    wall = time.perf_counter() - t
    s3 = group_cpu_s(s3_pid) - cpu[1] if s3_pid else 0.0
    return {"wall": wall, "cpu": {"client": own_cpu_s() - cpu[0], "s3": s3}}


def count_requests(sw, src: Path, size: int, tmp: str, tuning: dict) -> dict:
    """S3 requests at the wire for one upload by each of our protocols."""
    proxy = CountingProxy(sw.ports["s3"])
    counts = {}
    settings = mount_settings(sw, proxy.url, browser_endpoint_url=proxy.url, **tuning)
    with run_jupyter(Path(tmp) / "jp-count", settings) as jp:
        warm(jp, "s3/bench/", tmp, PROTOCOLS)
        for name, send in PROTOCOLS.items():
            proxy.reset()
            send(jp, "s3/bench/counted.bin", src, size)
            counts[name] = by_kind(list(proxy.lines))
    return counts


def by_kind(lines: list[str]) -> dict:
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
    return {"total": len(lines), "by_kind": kinds}


def s3contents_upload(sw, src: Path, size: int, digest: str, tmp: str) -> dict:
    """The same upload through s3contents, once, from its own throwaway venv."""
    bin_dir, version = s3contents_venv()
    if bin_dir is None:
        return {"skipped": version}
    sw.client().create_bucket(Bucket="s3c")
    with s3contents_server(bin_dir, Path(tmp) / "jp-s3c", sw, "s3c") as jp:
        warm(jp, "", tmp)
        m = ours(jp, "upload.bin", src, size)
    return {
        "version": version,
        "sha256_ok": sha_of_object(sw.client(), "s3c", "upload.bin") == digest,
        "peak_rss_growth_mb": round(m["growth_mb"], 1),
        "wall_s": round(m["wall"], 2),
    }


def against_raw(rows: list[dict], name: str) -> dict:
    """One protocol's medians against boto3 in the same rounds: wall, CPU by process, memory."""
    ratios = [r[name]["wall"] / r["raw"]["wall"] for r in rows]
    growth = [r[name]["growth_mb"] for r in rows]
    # CPU seconds by process: on a machine whose cores are all busy, the wall ratio cannot go below
    # the ratio of the CPU both sides need (the client and S3 run here too).
    cpu_ratio = p50([sum(r[name]["cpu"].values()) / sum(r["raw"]["cpu"].values()) for r in rows])
    # The same with a server that cost nothing: what the client and S3 alone need against boto3 and S3.
    # Above 1, no server can reach 1.0x on a machine whose cores are all busy.
    floor = p50(
        [(r[name]["cpu"]["client"] + r[name]["cpu"]["s3"]) / sum(r["raw"]["cpu"].values()) for r in rows]
    )
    return {
        "ratio_wall_p50": round(p50(ratios), 2),
        "ratio_wall_min_max": [round(min(ratios), 2), round(max(ratios), 2)],
        "wall_s_p50": round(p50([r[name]["wall"] for r in rows]), 2),
        "raw_wall_s_p50": round(p50([r["raw"]["wall"] for r in rows]), 2),
        "cpu_s_p50": {k: round(p50([r[name]["cpu"][k] for r in rows]), 2) for k in rows[0][name]["cpu"]},
        "ratio_cpu_p50": round(cpu_ratio, 2),
        "ratio_cpu_without_server_p50": round(floor, 2),
        "peak_rss_growth_mb_max": round(max(growth), 1),
        "peak_rss_growth_mb_p50": round(p50(growth), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--part-mb", type=int, default=None, help="S3MountContentsManager.part_size_mb")
    ap.add_argument(
        "--in-flight", type=int, default=None, help="S3MountContentsManager.upload_parts_in_flight"
    )
    ap.add_argument("--no-s3contents", dest="s3contents", action="store_false", help="skip the reference")
    args = ap.parse_args()
    size = args.size_mb * CHUNK
    tuning = {"part_size_mb": args.part_mb, "upload_parts_in_flight": args.in_flight}
    tuning = {k: v for k, v in tuning.items() if v is not None}  # unset: the manager's defaults
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, run_seaweedfs(Path(tmp) / "sw", buckets=["bench"]) as sw:
        src = Path(tmp) / "upload.bin"
        digest = make_file(src, size)
        admin = sw.client()
        raw = raw_client(sw, sw.endpoint)
        rows: list[dict] = []
        row: dict = {}
        settings = mount_settings(sw, sw.endpoint, browser_endpoint_url=sw.endpoint, **tuning)
        with run_jupyter(Path(tmp) / "jp", settings) as jp:
            warm(jp, "s3/bench/", tmp, PROTOCOLS)
            raw_upload(raw, src, "bench", "raw-warm.bin")

            def ours_side(name: str) -> Callable[[], None]:
                def run() -> None:
                    row[name] = ours(jp, "s3/bench/upload.bin", src, size, sw.proc.pid, PROTOCOLS[name])
                    row[name]["sha_ok"] = sha_of_object(admin, "bench", "upload.bin") == digest
                    admin.delete_object(Bucket="bench", Key="upload.bin")

                return run

            def raw_side() -> None:
                row["raw"] = raw_upload(raw, src, "bench", "raw.bin", sw.proc.pid)
                row["raw"]["sha_ok"] = sha_of_object(admin, "bench", "raw.bin") == digest
                admin.delete_object(Bucket="bench", Key="raw.bin")

            def round_done(i: int) -> None:
                rows.append(dict(row))
                r = row["raw"]
                line = [
                    f"round {i + 1}: raw {r['wall']:.2f}s (CPU boto3 {r['cpu']['client']:.2f} S3 {r['cpu']['s3']:.2f})"
                ]
                for name in PROTOCOLS:
                    o, c = row[name], row[name]["cpu"]
                    line.append(
                        f"{name} {o['wall']:.2f}s = {o['wall'] / r['wall']:.2f}x (+{o['growth_mb']:.1f} MB; CPU "
                        f"client {c['client']:.2f} server {c['server']:.2f} S3 {c['s3']:.2f})"
                    )
                print("; ".join(line), file=sys.stderr)

            sides = {name: ours_side(name) for name in PROTOCOLS}
            interleaved(args.rounds, {**sides, "raw": raw_side}, round_done)
            leftovers = admin.list_multipart_uploads(Bucket="bench").get("Uploads", [])
        requests = count_requests(sw, src, size, tmp, tuning) if args.size_mb <= 1024 else {"skipped": "size"}
        s3c = (
            s3contents_upload(sw, src, size, digest, tmp)
            if args.s3contents
            else {"skipped": "--no-s3contents"}
        )
    sha_ok = all(r[side]["sha_ok"] for r in rows for side in r)
    figures = {name: against_raw(rows, name) for name in PROTOCOLS}
    direct = figures["direct"]
    result = {
        "size_mb": args.size_mb,
        "settings": tuning,
        "rounds": args.rounds,
        "sha256_ok": sha_ok,
        **direct,
        "streamed": figures["streamed"],
        "chunked": figures["chunked"],
        "raw_cpu_s_p50": {k: round(p50([r["raw"]["cpu"][k] for r in rows]), 2) for k in ("client", "s3")},
        "s3_requests": requests,
        "incomplete_uploads_left": len(leftovers),
        "load_avg_1m_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "targets_met": sha_ok
        and direct["ratio_wall_p50"] <= 1.0
        and max(f["peak_rss_growth_mb_max"] for f in figures.values()) <= 32
        and not leftovers,
        "s3contents": s3c,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

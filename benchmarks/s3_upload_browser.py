"""Benchmark: an upload into the S3 folder from JupyterLab's file browser in headless Chromium, against raw boto3.

    .venv/bin/python benchmarks/s3_upload_browser.py [--size-mb 100] [--rounds 5]

What a user waits for, in a real browser: Datalab's JupyterLab (with the labextension) in Debian's Chromium,
the file chosen through the file browser's upload button, timed from the file handed to the page to the
server's answer to the completion.
- direct: a server with `browser_endpoint_url`: the parts go from Chromium straight to SeaweedFS (3 in
  flight, their length signed and no checksum on the loopback), the server only signs;
- streamed: the same page on a server without it: the file as one `PUT /datalab/upload/...`.
Baseline: boto3's `upload_fileobj` of the same file (8 MiB parts from 10 threads).
Sides interleaved (s3_common.interleaved) for `--rounds` rounds; every object read back and checked by
SHA-256; each round's file has a name of its own (a hard link), so that no "Overwrite?" question waits.
CPU is the whole machine's (/proc/stat) while each side runs, so that Chromium's processes, the server
and SeaweedFS all count, and so does boto3 with SeaweedFS: run it on a quiet machine. The server's peak
RSS growth is VmHWM after a reset. Last line: one JSON object, its top-level ratios the direct upload's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from s3_common import interleaved, mount_settings, p50, raw_client, reset_hwm, vm_hwm_kb, vm_rss_kb
from s3_upload import CHUNK, make_file, sha_of_object

from tests.jupyter_s3_ext.contents.harness import run_jupyter
from tests.support.browser import CHROMIUM, launched
from tests.support.seaweedfs import run_seaweedfs

LAB = "c.ServerApp.jpserver_extensions = {'jupyter_s3_ext': True, 'jupyterlab': True}\n"
SIDES = ("direct", "streamed")


def machine_cpu_s() -> float:
    """CPU seconds every process on this machine has used so far (user, nice, system, irq, softirq)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(fields[i]) for i in (0, 1, 2, 5, 6))
    return busy / os.sysconf("SC_CLK_TCK")


def lab_page(browser, jp):
    """JupyterLab in its file browser's `s3/bench` folder, logged in by the server's token."""
    page = browser.new_page()
    page.goto(f"{jp.url}/lab/tree/s3/bench?reset&token={jp.token}")
    page.locator(".jp-BreadCrumbs").filter(has_text="bench").wait_for(timeout=60_000)
    page.locator(".jp-DirListing-content").wait_for()
    return page


def browser_upload(page, jp, file: Path, side: str) -> dict:
    """One upload through the file browser: wall time from the file handed to the page to the server's
    201, the machine's CPU seconds meanwhile and the server's peak RSS growth."""
    route = "/datalab/direct-upload/" if side == "direct" else "/datalab/upload/"
    done = lambda r: r.request.method == "PUT" and route in r.url  # noqa: E731
    with page.expect_file_chooser() as chooser:
        page.click(".jp-FileBrowser [data-jp-item-name='uploader'] jp-button")
    pid = jp.proc.pid
    base_kb = vm_rss_kb(pid)
    reset_hwm(pid)
    cpu = machine_cpu_s()
    t = time.perf_counter()
    with page.expect_response(done, timeout=300_000) as answer:
        chooser.value.set_files(str(file))
    status = answer.value.status
    wall = time.perf_counter() - t
    if status != 201:
        raise RuntimeError(f"{side} upload of {file.name} answered {status}: {answer.value.text()[:300]}")
    return {"wall": wall, "cpu": machine_cpu_s() - cpu, "growth_mb": (vm_hwm_kb(pid) - base_kb) / 1024}


def raw_upload(client, src: Path, key: str) -> dict:
    cpu = machine_cpu_s()
    t = time.perf_counter()
    with open(src, "rb") as f:
        client.upload_fileobj(f, "bench", key)
    return {"wall": time.perf_counter() - t, "cpu": machine_cpu_s() - cpu}


def against_raw(rows: list[dict], side: str) -> dict:
    ratios = [r[side]["wall"] / r["raw"]["wall"] for r in rows]
    growth = [r[side]["growth_mb"] for r in rows]
    return {
        "ratio_wall_p50": round(p50(ratios), 2),
        "ratio_wall_min_max": [round(min(ratios), 2), round(max(ratios), 2)],
        "wall_s_p50": round(p50([r[side]["wall"] for r in rows]), 2),
        "raw_wall_s_p50": round(p50([r["raw"]["wall"] for r in rows]), 2),
        "ratio_cpu_machine_p50": round(p50([r[side]["cpu"] / r["raw"]["cpu"] for r in rows]), 2),
        "peak_rss_growth_mb_max": round(max(growth), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not CHROMIUM.exists():
        sys.exit(
            f"this benchmark needs Debian's Chromium at {CHROMIUM} (scripts/bootstrap.sh test installs it)"
        )
    size = args.size_mb * CHUNK
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, run_seaweedfs(Path(tmp) / "sw", buckets=["bench"]) as sw:
        src = Path(tmp) / "source.bin"
        digest = make_file(src, size)
        admin, raw = sw.client(), raw_client(sw, sw.endpoint)
        on = mount_settings(sw, sw.endpoint, browser_endpoint_url=sw.endpoint)
        with (
            run_jupyter(Path(tmp) / "jp-direct", on, extra=LAB) as direct,
            run_jupyter(Path(tmp) / "jp-streamed", mount_settings(sw, sw.endpoint), extra=LAB) as streamed,
            launched(Path(tmp) / "shots") as browser,
        ):
            servers = {"direct": direct, "streamed": streamed}
            pages = {side: lab_page(browser, jp) for side, jp in servers.items()}
            rows: list[dict] = []
            row: dict = {}
            checked: list[bool] = []

            def named(side: str, n: int) -> Path:
                path = Path(tmp) / f"{side}-{n}.bin"
                os.link(src, path)
                return path

            def ours(side: str):
                def run() -> None:
                    file = named(side, len(rows))
                    row[side] = browser_upload(pages[side], servers[side], file, side)
                    checked.append(sha_of_object(admin, "bench", file.name) == digest)
                    admin.delete_object(Bucket="bench", Key=file.name)

                return run

            def baseline() -> None:
                row["raw"] = raw_upload(raw, src, "raw.bin")
                checked.append(sha_of_object(admin, "bench", "raw.bin") == digest)
                admin.delete_object(Bucket="bench", Key="raw.bin")

            def round_done(i: int) -> None:
                rows.append(dict(row))
                r = row["raw"]
                line = [f"round {i + 1}: raw {r['wall']:.2f}s (CPU {r['cpu']:.2f})"]
                for side in SIDES:
                    o = row[side]
                    line.append(
                        f"{side} {o['wall']:.2f}s = {o['wall'] / r['wall']:.2f}x "
                        f"(CPU {o['cpu']:.2f}, server +{o['growth_mb']:.1f} MB)"
                    )
                print("; ".join(line), file=sys.stderr)

            for side in SIDES:  # a first upload each: code paths loaded, connections made
                browser_upload(pages[side], servers[side], named(side, -1), side)
            raw_upload(raw, src, "raw-warm.bin")
            interleaved(args.rounds, {**{s: ours(s) for s in SIDES}, "raw": baseline}, round_done)
        leftovers = admin.list_multipart_uploads(Bucket="bench").get("Uploads", [])
    figures = {side: against_raw(rows, side) for side in SIDES}
    result = {
        "size_mb": args.size_mb,
        "rounds": args.rounds,
        "browser": "chromium (headless)",
        "sha256_ok": all(checked),
        **figures["direct"],
        "streamed": figures["streamed"],
        "incomplete_uploads_left": len(leftovers),
        "load_avg_1m_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "targets_met": all(checked)
        and figures["direct"]["ratio_wall_p50"] <= 1.0
        and max(f["peak_rss_growth_mb_max"] for f in figures.values()) <= 32
        and not leftovers,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

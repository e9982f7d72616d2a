"""Shared pieces of the S3 benchmarks: a counting HTTP proxy in front of SeaweedFS, the servers compared
(ours, s3contents'), one measured GET, RSS, rounds that interleave the sides, and their summaries.

The proxy counts S3 requests at the wire (one per HTTP request line, keep-alive and 100-continue
included) so that the figures do not trust any client's own accounting.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


class CountingProxy:
    """A TCP proxy on 127.0.0.1 that parses request heads (and bodies by length or chunks) to count them."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.count = 0
        self.lines: list[str] = []
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        self._server = server
        self._ready.set()
        self._loop.run_forever()

    def reset(self) -> None:
        self.count = 0
        self.lines = []

    async def _client(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter):
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            cw.close()
            return
        back = asyncio.ensure_future(self._pipe(ur, cw))
        try:
            while True:
                head = await cr.readuntil(b"\r\n\r\n")
                self.count += 1
                self.lines.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                uw.write(head)
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    if b":" in line:
                        k, v = line.split(b":", 1)
                        headers[k.strip().lower()] = v.strip()
                if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                    while True:
                        size_line = await cr.readuntil(b"\r\n")
                        uw.write(size_line)
                        size = int(size_line.split(b";")[0], 16)
                        data = await cr.readexactly(size + 2)
                        uw.write(data)
                        if size == 0:
                            break
                else:
                    left = int(headers.get(b"content-length", b"0"))
                    while left:
                        data = await cr.read(min(left, 1 << 20))
                        if not data:
                            raise ConnectionError
                        uw.write(data)
                        left -= len(data)
                        await uw.drain()
                await uw.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            uw.close()
            back.cancel()
            cw.close()

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter):
        try:
            while data := await r.read(1 << 20):
                w.write(data)
                await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            w.close()


def vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def vm_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def group_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) used so far by the live processes of `pid`'s group."""
    group, total = os.getpgid(pid), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds used so far by this process, every thread (the benchmark's client, or boto3's)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def reset_hwm(pid: int) -> None:
    """Reset the peak RSS (VmHWM) to the current RSS: writing 5 to clear_refs."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def p50(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def summary(rows: list[dict], key: str, digits: int = 3) -> dict:
    """p50, min and max of `key` over the rounds' `rows`."""
    values = [r[key] for r in rows]
    return {
        "p50": round(p50(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def interleaved(
    rounds: int, sides: dict[str, Callable[[], None]], after_round: Callable[[int], None]
) -> None:
    """Each round runs every side once, the one going first rotating from round to round, so that warm
    caches and a busy moment fall on every side alike; `after_round(i)` then reads the round's figures."""
    names = list(sides)
    for i in range(rounds):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            sides[name]()
        after_round(i)


def measured_get(jp, api_path: str, params: dict) -> tuple[dict, bytes]:
    """One contents GET: wall time to the last byte and the server's peak RSS growth while it answered
    (VmHWM after a reset), with the body."""
    pid = jp.proc.pid
    base_kb = vm_rss_kb(pid)
    reset_hwm(pid)
    t = time.perf_counter()
    r = jp.http.get(f"{jp.url}/api/contents/{api_path}", params=params, timeout=900)
    body = r.content
    wall = time.perf_counter() - t
    r.raise_for_status()
    return {"wall": wall, "growth_mb": (vm_hwm_kb(pid) - base_kb) / 1024}, body


def mount_settings(sw, endpoint: str, **extra) -> dict:
    """Our server's settings: SeaweedFS's admin keys, sent through `endpoint`, the bucket bench at s3/bench."""
    keys = {"endpoint_url": endpoint, "access_key_id": sw.access_key, "secret_access_key": sw.secret_key}
    return {**keys, "mounts": [{"name": "bench", "bucket": "bench"}], **extra}


@contextmanager
def s3contents_server(bin_dir: Path | None, directory: Path, sw, bucket: str):
    """s3contents' own Jupyter server on `bucket` (from s3contents_venv()); None when that venv is missing."""
    if bin_dir is None:
        yield None
        return
    from tests.jupyter_s3_ext.contents.harness import run_jupyter

    settings = {
        "endpoint_url": sw.endpoint,
        "access_key_id": sw.access_key,
        "secret_access_key": sw.secret_key,
    }
    with run_jupyter(
        directory, {**settings, "bucket": bucket}, manager="s3contents.S3ContentsManager",
        server_bin=bin_dir / "jupyter-server",
    ) as jp:  # fmt: skip
        yield jp


def raw_client(sw, endpoint_url: str):
    """The baseline: a plain boto3 S3 client with SeaweedFS's admin keys, sent through `endpoint_url`."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=sw.access_key,
        aws_secret_access_key=sw.secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )


S3CONTENTS_VENV = Path("/tmp/s3eng/s3c")


def s3contents_venv() -> tuple[Path | None, str]:
    """(bin dir, version) of a throwaway venv holding s3contents, never ours; made with pip when missing.

    s3contents pins its own jupyter-server and s3fs versions, so it lives apart from the project's venv.
    Returns (None, reason) when it cannot be made (no Debian python3, pip failing).
    """
    bin_dir = S3CONTENTS_VENV / "bin"
    if not (bin_dir / "jupyter-server").exists():
        import subprocess

        print(f"making the s3contents venv at {S3CONTENTS_VENV} (pip, once)", file=sys.stderr)
        try:
            subprocess.run(["/usr/bin/python3", "-m", "venv", str(S3CONTENTS_VENV)], check=True, timeout=300)
            r = subprocess.run(
                [str(bin_dir / "pip"), "install", "-q", "s3contents", "jupyter-server<3"],
                capture_output=True,
                text=True,
                timeout=1800,
            )
        except (OSError, subprocess.SubprocessError) as e:
            return None, f"could not make the s3contents venv: {type(e).__name__}: {e}"[:300]
        if r.returncode:
            return None, "pip could not install s3contents: " + (r.stderr.strip().splitlines() or ["?"])[-1][
                :200
            ]
    from importlib.metadata import PathDistribution

    found = list((S3CONTENTS_VENV / "lib").glob("python3*/site-packages/s3contents-*.dist-info"))
    version = PathDistribution(found[0]).version if found else "unknown"
    return bin_dir, version

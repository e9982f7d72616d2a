"""CPU a session's server uses from exec until it answers: ours (JupyterLab · Python's environment with the
session layer, as the local backend starts it) against a plain `jupyterhub-singleuser` (the hub's own
environment, as a bare JupyterHub's local servers), interleaved round by round.

Each server runs as this user with a throwaway home, talks to a stand-in hub that answers
`GET /hub/api` (what the server asks at start) and nothing else; the figure is its utime + stime from
/proc when `GET <prefix>api` first answers, then it is stopped. 50 users starting at once on 2 cores
need 50 times this: the less each start uses, the sooner all are ready (benchmarks/many_users.py).

Not part of `make test`. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spawner.local.environments import default_cache_dir, definition  # noqa: E402
from spawner.local.layer import ensure_layer, session_env  # noqa: E402
from tests.support.environments import ensure_session_environments  # noqa: E402
from tests.support.procs import free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


class StandInHub(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"version": "6.1.1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-JupyterHub-Version", "6.1.1")
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET  # activity reports

    def log_message(self, *args):
        pass


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICK  # utime, stime and waited-for children's


def one_start(argv: list[str], env: dict[str, str], home: Path, hub_port: int) -> dict:
    port = free_port()
    prefix = "/user/u/"
    env = {
        **env,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "JUPYTERHUB_API_TOKEN": "benchmark-token",
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{hub_port}/hub/api",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_SERVICE_PREFIX": prefix,
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}{prefix}",
        "JUPYTERHUB_USER": "u",
        "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-u",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
        "JUPYTERHUB_HOST": "",
        "JUPYTERHUB_SERVER_NAME": "",
    }
    t0 = time.monotonic()
    proc = subprocess.Popen([*argv, "--allow-root", f"--ServerApp.root_dir={home}"], env=env, cwd=home,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    errors: list[bytes] = []
    threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True).start()
    try:
        while time.monotonic() - t0 < 120:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited: {b''.join(errors)[-2000:].decode(errors='replace')}")
            try:
                if requests.get(f"http://127.0.0.1:{port}{prefix}api", timeout=5).status_code == 200:
                    return {"cpu_s": cpu_s(proc.pid), "wall_s": time.monotonic() - t0}
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{argv[0]} did not answer in 120 s")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--environment", type=Path, help="measure this environment instead (e.g. an older build)"
    )
    args = parser.parse_args()
    ensure_session_environments()
    cache = default_cache_dir()
    environment = args.environment or definition("python").directory(cache)
    ours_env = {**session_env(ensure_layer(cache), environment),
                "PATH": f"{environment / 'bin'}:/usr/bin:/bin"}  # fmt: skip
    plain_bin = Path(sys.prefix) / "bin"
    sides = {
        "ours": ([str(environment / "bin" / "jupyterhub-singleuser")], ours_env),
        "plain": ([str(plain_bin / "jupyterhub-singleuser")], {"PATH": f"{plain_bin}:/usr/bin:/bin"}),
    }
    hub_port = free_port()
    hub = ThreadingHTTPServer(("127.0.0.1", hub_port), StandInHub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    top = Path(tempfile.mkdtemp(prefix="datalab-start-cpu-"))
    rows = []
    try:
        for name, (argv, env) in sides.items():  # warm the page cache once, not measured
            (top / f"warm-{name}").mkdir()
            one_start(argv, env, top / f"warm-{name}", hub_port)
        for n in range(args.rounds):
            order = list(sides) if n % 2 == 0 else list(sides)[::-1]
            row = {}
            for name in order:
                home = top / f"{name}-{n}"
                home.mkdir()
                row[name] = one_start(*sides[name], home, hub_port)
            row["ratio"] = row["ours"]["cpu_s"] / row["plain"]["cpu_s"]
            rows.append(row)
            print(f"round {n + 1}: {json.dumps(row)}", flush=True)
    finally:
        hub.shutdown()
        shutil.rmtree(top, ignore_errors=True)

    def med(side: str, key: str) -> float:
        return round(statistics.median(r[side][key] for r in rows), 2)

    ratios = [r["ratio"] for r in rows]
    print(json.dumps({
        "benchmark": "session_start_cpu",
        "environment": environment.name,
        "rounds": len(rows),
        "cpu_s": med("ours", "cpu_s"),
        "baseline_cpu_s": med("plain", "cpu_s"),
        "wall_s": med("ours", "wall_s"),
        "baseline_wall_s": med("plain", "wall_s"),
        "ratio_median": round(statistics.median(ratios), 2),
        "ratio_spread": [round(min(ratios), 2), round(max(ratios), 2)],
        "load": os.getloadavg()[0],
    }))  # fmt: skip


if __name__ == "__main__":
    main()

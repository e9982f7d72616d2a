"""What does the catalog cost at spawn time, compared with a vanilla KubeSpawner?

Two real hubs (JupyterHub + configurable-http-proxy) run side by side against one Kubernetes API emulator in
fast mode (pods just become Running; a stub answers on each pod's address): a vanilla KubeSpawner with a static
profile_list equivalent to the built-in catalog's default list (same images, resources, a 10Gi home PVC), and
the CatalogSpawner with the built-in catalog. Each round runs, for each burst size (50 and 200 by default), one
burst of that many concurrent spawns on both hubs at the same moment (the side whose threads start first
alternates between rounds), so load from elsewhere hits both alike; one unmeasured burst of each size first.

Measured per burst: the hub process's CPU time per spawn (sum over its threads, /proc/PID/task/*/schedstat)
and the p95 of the wall times, each spawn from POST /users/NAME/server to the server being ready (both hubs
answer the POST only then: nothing polls them). Stops are not measured. Per burst size: the catalog/vanilla
ratios of each round, their median and spread (min, max), failures per side and their commonest reasons.
Progress (requested/ready/failed/stopped per side, every 10 s) goes to stderr. Last line: one JSON object;
targets: failures 0, median ratio_cpu and ratio_wall_p95 <= 1.25 at every size.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.hub import HubHandle, run_hub  # noqa: E402
from tests.support.procs import VENV_BIN, ManagedProcess, free_port, wait_for_http  # noqa: E402

REGISTRY = "registry.example.org/datalab"
SERVICES = [  # slug, display name, images, default URL: the default list of the built-in catalog
    ("jupyter-python", "JupyterLab · Python", ["datalab-python:2026.11", "datalab-python:2026.05"], "/lab"),
    ("jupyter-r", "JupyterLab · R", ["datalab-r:2026.11"], "/lab"),
    ("rstudio", "RStudio", ["datalab-r:2026.11"], "/rstudio"),
    ("vscode-python", "VS Code · Python", ["datalab-vscode:2026.11"], "/vscode"),
]
PROFILE_LIST = [
    {
        "display_name": name,
        "slug": slug,
        "default": i == 0,
        "kubespawner_override": {
            "image": f"{REGISTRY}/{images[0]}",
            "default_url": url,
            "cpu_limit": 1.0,
            "cpu_guarantee": 1.0,
            "mem_limit": "4G",
            "mem_guarantee": "4G",
            "storage_capacity": "10Gi",
        },
        "profile_options": {
            "image": {
                "display_name": "Image",
                "choices": {
                    img.split(":")[1]: {
                        "display_name": img,
                        "kubespawner_override": {"image": f"{REGISTRY}/{img}"},
                    }
                    for img in images
                },
            }
        },
    }
    for i, (slug, name, images, url) in enumerate(SERVICES)
]

COMMON = """
c.JupyterHub.concurrent_spawn_limit = 0
c.JupyterHub.active_server_limit = 0
# The spawn's POST answers once the server is ready (or the spawn failed) and the DELETE once it stopped,
# so no client polls the hubs: 400 pollers were most of their load at bursts of 200.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 900, "slow_stop_timeout": 900}
# generous for both sides alike: 400 spawns at once on a shared 2-core machine take minutes
c.KubeSpawner.start_timeout = 900
c.KubeSpawner.http_timeout = 300
c.KubeSpawner.k8s_api_request_timeout = 60
c.KubeSpawner.k8s_api_request_retry_timeout = 600
"""
VANILLA = (
    COMMON
    + f"""
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = "vanilla"
c.KubeSpawner.profile_list = {PROFILE_LIST!r}
c.KubeSpawner.storage_pvc_ensure = True
c.KubeSpawner.storage_capacity = "10Gi"
c.KubeSpawner.volumes = [{{"name": "home", "persistentVolumeClaim": {{"claimName": "{{pvc_name}}"}}}}]
c.KubeSpawner.volume_mounts = [{{"name": "home", "mountPath": "/home/jovyan"}}]
"""
)
CATALOG = (
    COMMON
    + """
c.JupyterHub.spawner_class = "catalog"
c.KubeSpawner.namespace = "catalog"
"""
)
REQUEST_TIMEOUT = 960  # longer than the hubs' start_timeout and slow_spawn_timeout
OPTIONS = {"vanilla": {"profile": "jupyter-python"}, "catalog": {"service": "jupyter-python"}}


def hub_cpu_ns(hub: HubHandle) -> int:
    """CPU time of the hub process so far, summed over its threads, in nanoseconds."""
    return cpu_ns(hub.hub_proc.pid)


def cpu_ns(pid: int) -> int:
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total


def wait_state(hub: HubHandle, user: str, ready: bool, timeout: float = 900) -> str | None:
    """Poll the server model until ready (or gone, with ready=False): None when so, else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = hub.api("GET", f"/users/{user}", timeout=REQUEST_TIMEOUT).json().get("servers", {}).get("")
        if ready and model and model.get("ready"):
            return None
        if ready and model is None:
            return "the spawn failed after 202"
        if not ready and model is None:
            return None
        time.sleep(0.5)  # 400 pollers at once must not be the hubs' main load
    return f"not {'ready' if ready else 'stopped'} after {timeout:.0f} s"


def spawn(hub: HubHandle, user: str, options: dict, progress: Progress) -> tuple[float, str | None]:
    """POST the spawn and wait until ready: (wall seconds, None or why it failed). The POST answers 201
    once ready (slow_spawn_timeout); a 202 (not ready by then) is polled."""
    t0 = time.perf_counter()
    progress.count("requested")
    r = hub.api("POST", f"/users/{user}/server", json=options, timeout=REQUEST_TIMEOUT)
    if r.status_code == 201:
        failed = None
    elif r.status_code == 202:
        failed = wait_state(hub, user, True)
    else:
        failed = f"POST answered {r.status_code}: {r.text[:120]}"
    progress.count("failed" if failed else "ready")
    return time.perf_counter() - t0, failed


def stop(hub: HubHandle, user: str, progress: Progress) -> None:
    try:
        r = hub.api("DELETE", f"/users/{user}/server", timeout=REQUEST_TIMEOUT)
        stopped = r.status_code == 204 or (r.status_code == 202 and wait_state(hub, user, False) is None)
    except requests.RequestException:
        stopped = False
    progress.count("stopped" if stopped else "stop_failed")


class Progress:
    """Counts of one burst on one side (thread-safe), for the progress lines on stderr."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts = {"requested": 0, "ready": 0, "failed": 0, "stopped": 0, "stop_failed": 0}

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def line(self) -> str:
        with self._lock:
            return " ".join(f"{k} {v}" for k, v in self.counts.items())


def report_progress(label: str, progress: dict[str, Progress], done: threading.Event, every: float) -> None:
    """Every `every` seconds until `done`, one line on stderr: each side's counts so far."""
    t0 = time.monotonic()
    while not done.wait(every):
        sides = "; ".join(f"{name}: {p.line()}" for name, p in progress.items())
        print(f"[{time.monotonic() - t0:5.0f} s] {label}: {sides}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Side:
    def __init__(self, name: str, hub: HubHandle):
        self.name, self.hub = name, hub


def run_threads(targets) -> None:
    threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def burst(sides: list[Side], users: list[str], label: str) -> dict[str, tuple[float, float, list[str]]]:
    """Concurrent spawns of `users` on each hub at the same moment, then their stops (not measured):
    {side: (CPU ms/spawn, p95 wall ms, why each failed spawn failed)}. Progress goes to stderr."""
    results: dict[str, list] = {side.name: [] for side in sides}
    progress = {side.name: Progress() for side in sides}
    barrier = threading.Barrier(len(users) * len(sides))

    def one(side, user):
        barrier.wait()
        try:
            results[side.name].append(spawn(side.hub, user, OPTIONS[side.name], progress[side.name]))
        except requests.RequestException as e:  # the hub did not answer in time: a failed spawn
            progress[side.name].count("failed")
            results[side.name].append((0.0, f"no answer from the hub: {type(e).__name__}"))

    done = threading.Event()
    reporter = threading.Thread(target=report_progress, args=(label, progress, done, 10.0), daemon=True)
    reporter.start()
    try:
        before = {side.name: hub_cpu_ns(side.hub) for side in sides}
        run_threads([(one, (side, user)) for user in users for side in sides])
        out = {}
        for side in sides:
            cpu = (hub_cpu_ns(side.hub) - before[side.name]) / 1e6 / len(users)
            walls = [w * 1000 for w, failed in results[side.name] if not failed]
            failures = [failed for _, failed in results[side.name] if failed]
            out[side.name] = (cpu, pct(walls, 0.95) if walls else float("inf"), failures)
        run_threads([(stop, (side.hub, user, progress[side.name])) for user in users for side in sides])
    finally:
        done.set()
    sides_line = "; ".join(f"{name}: {p.line()}" for name, p in progress.items())
    print(f"{label} done: {sides_line}", file=sys.stderr, flush=True)
    return out


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="concurrent spawns per burst")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (one burst of each size)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the hubs and the emulator on the way out
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="spawn-bench-") as tmp:
        tmp = Path(tmp)
        port, kubeconfig = free_port(), tmp / "kubeconfig"
        # The emulator in its own process, so neither its work nor this script's threads share a GIL with it.
        argv = [
            VENV_BIN / "python",
            "-m",
            "tests.support.kube",
            "--port",
            port,
            "--fast",
            "--kubeconfig",
            kubeconfig,
        ]
        argv += ["--namespace", "vanilla", "--namespace", "catalog", "--workdir", tmp / "kube"]
        with ManagedProcess(argv, log_path=tmp / "kube.log", cwd=Path(__file__).resolve().parents[1]) as emu:
            wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=emu)
            env = {"KUBECONFIG": str(kubeconfig)}
            with (
                run_hub(tmp / "vanilla", VANILLA, env=env) as vh,
                run_hub(tmp / "catalog", CATALOG, env=env) as ch,
            ):
                sides = [Side("vanilla", vh), Side("catalog", ch)]
                for side in sides:  # one connection per spawning thread, kept (urllib3 keeps 10 by default)
                    side.hub.session.mount(
                        "http://", requests.adapters.HTTPAdapter(pool_maxsize=max(args.sizes))
                    )
                users = [f"burst-{i}" for i in range(max(args.sizes))]
                for side in sides:
                    for user in users:
                        side.hub.api("POST", f"/users/{user}")
                    side.hub.api("POST", "/groups/datalab-users", json={"users": users})
                warm_up_failures = 0
                for size in args.sizes:  # unmeasured: first spawns of new users cost more
                    warm = burst(sides, users[:size], f"warm-up burst {size}")
                    warm_up_failures += sum(len(f) for _, _, f in warm.values())
                rounds: dict[int, list[dict]] = {size: [] for size in args.sizes}
                for r in range(args.rounds):
                    for size in args.sizes:
                        order = sides if r % 2 == 0 else list(reversed(sides))
                        measured = burst(order, users[:size], f"round {r + 1} burst {size}")
                        rounds[size].append(measured)
                        (vc, vw, vf), (cc, cw, cf) = measured["vanilla"], measured["catalog"]
                        print(
                            f"round {r + 1} burst {size}: hub CPU ms/spawn vanilla {vc:.1f} catalog {cc:.1f};"
                            f" p95 wall ms vanilla {vw:.0f} catalog {cw:.0f}; failures {len(vf) + len(cf)}",
                            file=sys.stderr,
                            flush=True,
                        )

    result: dict = {"rounds": args.rounds, "sizes": args.sizes, "failures": 0}
    met = True
    for size, measured in rounds.items():
        # a round where a side had no successful spawn has no p95: its ratio is left out (and counted as failures)
        usable = [m for m in measured if all(m[s][1] != float("inf") for s in ("vanilla", "catalog"))]
        cpu = [m["catalog"][0] / m["vanilla"][0] for m in usable]
        wall = [m["catalog"][1] / m["vanilla"][1] for m in usable]
        failures = {s: sum(len(m[s][2]) for m in measured) for s in ("vanilla", "catalog")}
        result["failures"] += sum(failures.values())
        result[f"burst_{size}"] = {
            "ratio_cpu": spread(cpu) if cpu else None,
            "ratio_wall_p95": spread(wall) if wall else None,
            "vanilla_cpu_ms_per_spawn": round(statistics.median(m["vanilla"][0] for m in measured), 2),
            "catalog_cpu_ms_per_spawn": round(statistics.median(m["catalog"][0] for m in measured), 2),
            "vanilla_wall_ms_p95": round(statistics.median(m["vanilla"][1] for m in measured), 1),
            "catalog_wall_ms_p95": round(statistics.median(m["catalog"][1] for m in measured), 1),
            "failures": failures,
            "failure_reasons": dict(
                Counter(why for m in measured for s in ("vanilla", "catalog") for why in m[s][2]).most_common(
                    5
                )
            ),
        }
        met = met and bool(cpu) and statistics.median(cpu) <= 1.25 and statistics.median(wall) <= 1.25
    result["warm_up_failures"] = warm_up_failures
    result["load_avg_1m_before_after"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    result["targets_met"] = met and result["failures"] == 0
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""What does the catalog cost at spawn time, compared with a vanilla KubeSpawner?

Two real hubs (JupyterHub + configurable-http-proxy) run side by side against one Kubernetes API emulator in
fast mode (pods just become Running; a stub answers on each pod's address): a vanilla KubeSpawner with a static
profile_list equivalent to the built-in catalog's default list (same images, resources, a 10Gi home PVC), and
the CatalogSpawner with the built-in catalog. Each round runs, for each burst size (50 and 200 by default), one
burst of that many concurrent spawns on both hubs at the same moment (the side whose threads start first
alternates between rounds), so load from elsewhere hits both alike; one unmeasured burst of each size first.

Measured per burst: the hub process's CPU time per spawn (sum over its threads, /proc/PID/task/*/schedstat)
and the p95 of the wall times, each spawn from POST /users/NAME/server to the server being ready. Stops are
not measured. Per burst size: the catalog/vanilla ratios of each round, their median and spread (min, max).
Last line: one JSON object; targets: failures 0, median ratio_cpu and ratio_wall_p95 <= 1.25 at every size.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import threading
import time
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


def wait_state(hub: HubHandle, user: str, ready: bool, timeout: float = 900) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = hub.api("GET", f"/users/{user}", timeout=600).json().get("servers", {}).get("")
        if ready and model and model.get("ready"):
            return True
        if ready and model is None:
            return False  # the spawn failed
        if not ready and model is None:
            return True
        time.sleep(0.5)  # 400 pollers at once must not be the hubs' main load
    return False


def spawn(hub: HubHandle, user: str, options: dict) -> tuple[float, bool]:
    """POST the spawn and wait until ready; (wall seconds, ok). A fast spawn answers 201 when ready."""
    t0 = time.perf_counter()
    r = hub.api("POST", f"/users/{user}/server", json=options, timeout=600)
    ok = r.status_code == 201 or (r.status_code == 202 and wait_state(hub, user, True))
    return time.perf_counter() - t0, ok


def stop(hub: HubHandle, user: str) -> None:
    r = hub.api("DELETE", f"/users/{user}/server", timeout=600)
    if r.status_code == 202:
        wait_state(hub, user, False)


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


def burst(sides: list[Side], users: list[str]) -> dict[str, tuple[float, float, int]]:
    """Concurrent spawns of `users` on each hub at the same moment: {side: (CPU ms/spawn, p95 ms, failures)}."""
    results: dict[str, list] = {side.name: [] for side in sides}
    barrier = threading.Barrier(len(users) * len(sides))

    def one(side, user):
        barrier.wait()
        try:
            results[side.name].append(spawn(side.hub, user, OPTIONS[side.name]))
        except requests.RequestException:  # the hub did not answer in time: a failed spawn
            results[side.name].append((0.0, False))

    before = {side.name: hub_cpu_ns(side.hub) for side in sides}
    run_threads([(one, (side, user)) for user in users for side in sides])
    out = {}
    for side in sides:
        cpu = (hub_cpu_ns(side.hub) - before[side.name]) / 1e6 / len(users)
        walls = [w * 1000 for w, ok in results[side.name] if ok]
        failures = sum(1 for _, ok in results[side.name] if not ok)
        out[side.name] = (cpu, pct(walls, 0.95) if walls else float("inf"), failures)
    run_threads([(stop, (side.hub, user)) for user in users for side in sides])
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
                users = [f"burst-{i}" for i in range(max(args.sizes))]
                for side in sides:
                    for user in users:
                        side.hub.api("POST", f"/users/{user}")
                    side.hub.api("POST", "/groups/datalab-users", json={"users": users})
                for size in args.sizes:  # unmeasured: first spawns of new users cost more
                    burst(sides, users[:size])
                rounds: dict[int, list[dict]] = {size: [] for size in args.sizes}
                for r in range(args.rounds):
                    for size in args.sizes:
                        order = sides if r % 2 == 0 else list(reversed(sides))
                        measured = burst(order, users[:size])
                        rounds[size].append(measured)
                        (vc, vw, vf), (cc, cw, cf) = measured["vanilla"], measured["catalog"]
                        print(
                            f"round {r + 1} burst {size}: hub CPU ms/spawn vanilla {vc:.1f} catalog {cc:.1f};"
                            f" p95 wall ms vanilla {vw:.0f} catalog {cw:.0f}; failures {vf + cf}",
                            flush=True,
                        )

    result: dict = {"rounds": args.rounds, "sizes": args.sizes, "failures": 0}
    met = True
    for size, measured in rounds.items():
        cpu = [m["catalog"][0] / m["vanilla"][0] for m in measured]
        wall = [m["catalog"][1] / m["vanilla"][1] for m in measured]
        result["failures"] += sum(m[s][2] for m in measured for s in ("vanilla", "catalog"))
        result[f"burst_{size}"] = {
            "ratio_cpu": spread(cpu),
            "ratio_wall_p95": spread(wall),
            "vanilla_cpu_ms_per_spawn": round(statistics.median(m["vanilla"][0] for m in measured), 2),
            "catalog_cpu_ms_per_spawn": round(statistics.median(m["catalog"][0] for m in measured), 2),
            "vanilla_wall_ms_p95": round(statistics.median(m["vanilla"][1] for m in measured), 1),
            "catalog_wall_ms_p95": round(statistics.median(m["catalog"][1] for m in measured), 1),
        }
        met = met and statistics.median(cpu) <= 1.25 and statistics.median(wall) <= 1.25
    result["targets_met"] = met and result["failures"] == 0
    print(json.dumps(result))


if __name__ == "__main__":
    main()

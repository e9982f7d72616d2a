"""What does the catalog cost at spawn time, compared with a vanilla KubeSpawner?

Two real hubs (JupyterHub + configurable-http-proxy) run side by side against one Kubernetes API emulator in
fast mode (pods just become Running; a stub answers on each pod's address): a vanilla KubeSpawner with a static
profile_list equivalent to the built-in catalog's default list (same images, resources, a 10Gi home PVC), and
the CatalogSpawner with the built-in catalog. For each: N sequential spawn/stop cycles (interleaved between
the two hubs, so load from elsewhere hits both alike) and bursts of C concurrent spawns on both hubs at the
same moment (after one unmeasured burst). Wall percentiles are over all measured spawns, sequential and
concurrent.

Measured per spawn, from POST /users/NAME/server to the server being ready: the hub process's CPU time
(sum over its threads, /proc/PID/task/*/schedstat, ns) and the wall time. Stops are not measured.
Last line: one JSON object; targets: failures 0, ratio_cpu <= 1.25, ratio_wall_p95 <= 1.25.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

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
c.KubeSpawner.start_timeout = 120
c.KubeSpawner.http_timeout = 60
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


def wait_state(hub: HubHandle, user: str, ready: bool, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = hub.api("GET", f"/users/{user}").json().get("servers", {}).get("")
        if ready and model and model.get("ready"):
            return True
        if ready and model is None:
            return False  # the spawn failed
        if not ready and model is None:
            return True
        time.sleep(0.05)
    return False


def spawn(hub: HubHandle, user: str, options: dict) -> tuple[float, bool]:
    """POST the spawn and wait until ready; (wall seconds, ok). A fast spawn answers 201 when ready."""
    t0 = time.perf_counter()
    r = hub.api("POST", f"/users/{user}/server", json=options, timeout=180)
    ok = r.status_code == 201 or (r.status_code == 202 and wait_state(hub, user, True))
    return time.perf_counter() - t0, ok


def stop(hub: HubHandle, user: str) -> None:
    r = hub.api("DELETE", f"/users/{user}/server", timeout=180)
    if r.status_code == 202:
        wait_state(hub, user, False)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Side:
    def __init__(self, name: str, hub: HubHandle):
        self.name, self.hub = name, hub
        self.cpu_ms: list[float] = []
        self.wall_ms: list[float] = []
        self.burst_wall_ms: list[float] = []
        self.burst_cpu_ms: list[float] = []
        self.failures = 0

    def sequential_once(self) -> None:
        c0 = hub_cpu_ns(self.hub)
        wall, ok = spawn(self.hub, "seq", OPTIONS[self.name])
        c1 = hub_cpu_ns(self.hub)
        if ok:
            self.cpu_ms.append((c1 - c0) / 1e6)
            self.wall_ms.append(wall * 1000)
        else:
            self.failures += 1
        stop(self.hub, "seq")

    def record_burst(self, results, cpu_ms: float, emulator_cpu_ms: float, measured: bool) -> None:
        walls = sorted(w * 1000 for w, ok in results if ok)
        self.failures += sum(1 for _, ok in results if not ok)
        if measured:
            self.burst_cpu_ms.append(cpu_ms)
            self.burst_wall_ms += walls
        if walls:
            print(
                f"{self.name}: burst of {len(results)}{'' if measured else ' (warm-up)'}: wall ms min {walls[0]:.0f}"
                f" p50 {walls[len(walls) // 2]:.0f} max {walls[-1]:.0f}; hub CPU {cpu_ms:.1f} ms/spawn"
                f" (API emulator, both hubs: {emulator_cpu_ms:.1f})",
                flush=True,
            )


def run_threads(targets) -> None:
    threads = [threading.Thread(target=f, args=a) for f, a in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def burst(sides: list[Side], users: list[str], emulator_pid: int, measured: bool = True) -> None:
    """C concurrent spawns on each hub at the same moment, so both meet the same machine load."""
    results: dict[str, list] = {side.name: [] for side in sides}
    barrier = threading.Barrier(len(users) * len(sides))

    def one(side, user):
        barrier.wait()
        results[side.name].append(spawn(side.hub, user, OPTIONS[side.name]))

    before = {side.name: hub_cpu_ns(side.hub) for side in sides}
    e0 = cpu_ns(emulator_pid)
    run_threads([(one, (side, user)) for user in users for side in sides])
    emulator_cpu = (cpu_ns(emulator_pid) - e0) / 1e6 / (len(users) * len(sides))
    for side in sides:
        cpu = (hub_cpu_ns(side.hub) - before[side.name]) / 1e6 / len(users)
        side.record_burst(results[side.name], cpu, emulator_cpu, measured)
    run_threads([(stop, (side.hub, user)) for user in users for side in sides])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--spawns", type=int, default=100, help="sequential spawns per spawner")
    parser.add_argument("-c", "--concurrent", type=int, default=50, help="concurrent spawns in the burst")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured spawns per spawner first")
    parser.add_argument("--burst-rounds", type=int, default=2, help="measured bursts (both hubs at once)")
    args = parser.parse_args()

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
                users = ["seq"] + [f"burst-{i}" for i in range(args.concurrent)]
                for side in sides:
                    for user in users:
                        side.hub.api("POST", f"/users/{user}")
                    side.hub.api("POST", "/groups/datalab-users", json={"users": users})
                    for _ in range(args.warmup):
                        wall, ok = spawn(side.hub, "seq", OPTIONS[side.name])
                        if not ok:
                            raise SystemExit(f"{side.name}: warm-up spawn failed:\n{side.hub.log()[-3000:]}")
                        stop(side.hub, "seq")
                for i in range(args.spawns):
                    for side in sides if i % 2 == 0 else reversed(sides):
                        side.sequential_once()
                    if (i + 1) % 20 == 0:
                        print(f"{i + 1}/{args.spawns} sequential spawns each", flush=True)
                # Bursts on both hubs at once (one unmeasured first: first spawns of new users cost more).
                burst(sides, users[1:], emu.pid, measured=False)
                for _ in range(args.burst_rounds):
                    burst(sides, users[1:], emu.pid)

    vanilla, catalog = sides
    result = {
        "spawns": args.spawns,
        "concurrent": args.concurrent,
        "failures": vanilla.failures + catalog.failures,
    }
    for side in sides:
        walls = side.wall_ms + side.burst_wall_ms
        result.update(
            {
                f"{side.name}_cpu_ms_p50": round(statistics.median(side.cpu_ms), 2) if side.cpu_ms else None,
                f"{side.name}_wall_ms_p50": round(statistics.median(walls), 1) if walls else None,
                f"{side.name}_wall_ms_p95": round(pct(walls, 0.95), 1) if walls else None,
                f"{side.name}_seq_wall_ms_p95": round(pct(side.wall_ms, 0.95), 1) if side.wall_ms else None,
                f"{side.name}_burst_wall_ms_p95": round(pct(side.burst_wall_ms, 0.95), 1)
                if side.burst_wall_ms
                else None,
                f"{side.name}_burst_cpu_ms_per_spawn": round(statistics.mean(side.burst_cpu_ms), 2),
            }
        )
    if result["vanilla_cpu_ms_p50"] and result["catalog_cpu_ms_p50"]:
        result["ratio_cpu"] = round(result["catalog_cpu_ms_p50"] / result["vanilla_cpu_ms_p50"], 3)
    if result["vanilla_wall_ms_p95"] and result["catalog_wall_ms_p95"]:
        result["ratio_wall_p95"] = round(result["catalog_wall_ms_p95"] / result["vanilla_wall_ms_p95"], 3)
    result["targets_met"] = (
        result["failures"] == 0
        and result.get("ratio_cpu", 99) <= 1.25
        and result.get("ratio_wall_p95", 99) <= 1.25
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""How long do the session environments take to build, and a user to get JupyterLab on one machine?

1. Environments (spawner.local.environments): the first build of the Python definition into an empty
   cache (the package downloads themselves cached by uv, as on any machine that built once), then the
   same build with nothing changed.
2. Login -> JupyterLab ready: `datalab up` in a temporary state directory on free ports (as root: sessions
   as system accounts), bob signed in through the IdP; a jupyter-python session, and one with PostgreSQL,
   each from the spawn request until its /lab page answers. Baseline in the same run: a bare JupyterHub +
   proxy (tests/support/hub.py) and a plain LocalProcessSpawner server (jupyterhub-singleuser, no catalog,
   account, credentials, cgroup or database). Interleaved: each round starts all three and stops them;
   >= 5 rounds; medians, per-round ratios (median and spread), and where the time goes (until the hub
   says ready, then until /lab answers).
Last line: one JSON object (seconds).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spawner.local import environments  # noqa: E402
from tests.support.datalab import Datalab, free_ports, sign_in  # noqa: E402
from tests.support.hub import start_hub  # noqa: E402
from tests.support.procs import free_port  # noqa: E402


def wait_ready(get_model, timeout=300) -> None:
    deadline, t0 = time.monotonic() + timeout, time.monotonic()
    while not (model := get_model() or {}).get("ready"):
        if time.monotonic() > deadline:
            raise TimeoutError("server not ready")
        if time.monotonic() - t0 > 2 and not model.get("pending"):
            raise RuntimeError(f"the spawn failed: {model}")
        time.sleep(0.05)


def wait_gone(get_model, timeout=120) -> None:
    deadline = time.monotonic() + timeout
    while get_model():
        if time.monotonic() > deadline:
            raise TimeoutError("server not stopped")
        time.sleep(0.1)


def lab_start(start, model, lab_url: str, headers: dict) -> tuple[float, float]:
    """(seconds until the hub says ready, seconds from then until /lab answers 200)."""
    t0 = time.monotonic()
    start()
    wait_ready(model)
    t1 = time.monotonic()
    while True:
        r = requests.get(lab_url, headers=headers, timeout=60)
        if r.status_code == 200 and "jupyter" in r.text.lower():
            break
        if time.monotonic() - t1 > 120:
            raise TimeoutError(f"{lab_url}: {r.status_code}")
        time.sleep(0.05)
    return t1 - t0, time.monotonic() - t1


def environment_figures(top: Path) -> dict:
    d = environments.definition("python")
    cache = top / "environments"
    first = environments.build(d, cache, say=lambda line: None)[1]
    again = environments.build(d, cache, say=lambda line: None)[1]
    return {"environment_first_build_s": round(first, 2), "environment_unchanged_build_s": round(again, 4)}


def session_figures(top: Path, rounds: int) -> dict:
    state = top / "state"
    state.mkdir()
    (state / "ports.json").write_text(json.dumps(free_ports()))
    t0 = time.monotonic()
    lab = Datalab(state, free_port(), top / "up.log")
    config = (
        'c.JupyterHub.spawner_class = "simple"\n'
        f"c.SimpleLocalProcessSpawner.home_dir_template = {str(top / 'plain') + '/{username}'!r}\n"
    )
    bare = start_hub(top / "hub", config)
    times: dict[str, list[tuple[float, float]]] = {"datalab": [], "datalab_pg": [], "bare": []}
    try:
        lab.wait_up()
        first_up = time.monotonic() - t0
        password = re.search(r"^\s+bob\s+password (\S+)", lab.output(), re.M).group(1)
        h = {"Authorization": f"token {sign_in(lab.url, 'bob', password)}"}
        bare.api("POST", "/users", json={"usernames": ["bench"]}).raise_for_status()
        bh = {"Authorization": f"token {bare.admin_token}"}

        def model(name):
            return (
                requests.get(f"{lab.url}/hub/api/users/bob", headers=h, timeout=30)
                .json()["servers"]
                .get(name)
            )

        def server(name, options):
            def start():
                r = requests.post(
                    f"{lab.url}/hub/api/users/bob/servers/{name}", json=options, headers=h, timeout=180
                )
                r.raise_for_status()

            return start

        for _ in range(rounds):
            for kind in ("datalab", "bare", "datalab_pg"):
                if kind == "bare":
                    times[kind].append(
                        lab_start(lambda: bare.api("POST", "/users/bench/server").raise_for_status(),
                                  lambda: bare.server("bench"), f"{bare.url}/user/bench/lab", bh)
                    )  # fmt: skip
                    bare.api("DELETE", "/users/bench/server")
                    wait_gone(lambda: bare.server("bench"))
                    continue
                name = "plain" if kind == "datalab" else "pg"
                options = {"service": "jupyter-python", "postgres": kind == "datalab_pg"}
                times[kind].append(
                    lab_start(
                        server(name, options), lambda n=name: model(n), f"{lab.url}/user/bob/{name}/lab", h
                    )
                )
                requests.delete(f"{lab.url}/hub/api/users/bob/servers/{name}", headers=h, timeout=60)
                wait_gone(lambda n=name: model(n))
    except Exception:
        log = state / "logs" / "jupyterhub.log"
        print(log.read_text()[-4000:] if log.exists() else lab.output()[-4000:], file=sys.stderr)
        raise
    finally:
        lab.proc.stop(timeout=20)
        bare.stop()

    def total(kind):
        return [a + b for a, b in times[kind]]

    def ratios(kind):
        return [x / y for x, y in zip(total(kind), total("bare"), strict=True)]

    out = {"rounds": rounds, "first_up_s": round(first_up, 2)}
    for kind in times:
        out[f"{kind}_lab_ready_s"] = round(statistics.median(total(kind)), 2)
        out[f"{kind}_until_hub_ready_s"] = round(statistics.median(a for a, _ in times[kind]), 2)
        out[f"{kind}_hub_ready_to_lab_s"] = round(statistics.median(b for _, b in times[kind]), 2)
    for kind in ("datalab", "datalab_pg"):
        r = ratios(kind)
        out[f"{kind}_vs_bare_ratio"] = round(statistics.median(r), 2)
        out[f"{kind}_vs_bare_spread"] = [round(min(r), 2), round(max(r), 2)]
    out["targets"] = {"datalab_vs_bare_ratio": 1.5, "datalab_pg_vs_bare_ratio": 2.5}
    return out


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    top = Path(tempfile.mkdtemp(prefix="datalab-bench-", dir="/tmp"))
    os.chmod(top, 0o711)
    try:
        figures = {**environment_figures(top), **session_figures(top, max(5, rounds))}
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print(json.dumps({"benchmark": "local_stack", **figures}))


if __name__ == "__main__":
    main()

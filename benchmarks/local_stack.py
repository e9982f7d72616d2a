"""How long does the one-machine datalab take to start, to give a user a session, and to stop?

Runs `datalab up` in a temporary state directory on free ports (as root: sessions as system accounts):
first start (OpenBao init included), a local jupyter-python session for bob (signed in through the IdP),
the same with PostgreSQL, SIGTERM until everything is gone, and a restart on the same state.
Baseline, in the same run: a bare JupyterHub + proxy (tests/support/hub.py) and a plain
LocalProcessSpawner server (jupyterhub-singleuser, no catalog, account, credentials or database).
Last line: one JSON object (seconds).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.datalab import Datalab, free_ports, sign_in  # noqa: E402
from tests.support.hub import start_hub  # noqa: E402
from tests.support.procs import free_port  # noqa: E402


def wait_ready(get_model, timeout=180) -> None:
    deadline = time.monotonic() + timeout
    while not (get_model() or {}).get("ready"):
        if time.monotonic() > deadline:
            raise TimeoutError("server not ready")
        time.sleep(0.1)


def stack_figures(top: Path) -> dict:
    state = top / "state"
    state.mkdir()
    (state / "ports.json").write_text(json.dumps(free_ports()))
    port = free_port()
    out = {}
    t0 = time.monotonic()
    lab = Datalab(state, port, top / "up1.log")
    try:
        lab.wait_up()
        out["first_up_s"] = round(time.monotonic() - t0, 2)
        password = re.search(r"^\s+bob\s+password (\S+)", lab.output(), re.M).group(1)
        token = sign_in(lab.url, "bob", password)
        h = {"Authorization": f"token {token}"}

        def model(name):
            r = requests.get(f"{lab.url}/hub/api/users/bob", headers=h, timeout=30)
            return r.json()["servers"].get(name)

        for name, options in (("plain", {"service": "jupyter-python"}),
                              ("pg", {"service": "jupyter-python", "postgres": True})):  # fmt: skip
            t0 = time.monotonic()
            r = requests.post(
                f"{lab.url}/hub/api/users/bob/servers/{name}", json=options, headers=h, timeout=180
            )
            r.raise_for_status()
            wait_ready(lambda name=name: model(name))
            out["session_s" if name == "plain" else "session_with_postgres_s"] = round(
                time.monotonic() - t0, 2
            )
        out["stop_with_2_sessions_s"] = round(lab.terminate(), 2)
        t0 = time.monotonic()
        lab = Datalab(state, port, top / "up2.log", lab.accounts)
        lab.wait_up()
        out["restart_up_s"] = round(time.monotonic() - t0, 2)
        out["stop_s"] = round(lab.terminate(), 2)
    finally:
        lab.proc.stop(timeout=20)
    return out


def baseline_figures(top: Path) -> dict:
    t0 = time.monotonic()
    config = (
        'c.JupyterHub.spawner_class = "simple"\n'
        f"c.SimpleLocalProcessSpawner.home_dir_template = {str(top / 'plain') + '/{username}'!r}\n"
    )
    hub = start_hub(top / "hub", config)
    try:
        up = time.monotonic() - t0
        hub.api("POST", "/users", json={"usernames": ["bench"]}).raise_for_status()
        t0 = time.monotonic()
        hub.api("POST", "/users/bench/server").raise_for_status()
        wait_ready(lambda: hub.server("bench"))
        spawn = time.monotonic() - t0
    finally:
        hub.stop()
    return {"baseline_hub_up_s": round(up, 2), "baseline_plain_session_s": round(spawn, 2)}


def main() -> None:
    top = Path(tempfile.mkdtemp(prefix="datalab-bench-", dir="/tmp"))
    os.chmod(top, 0o711)
    try:
        figures = {**baseline_figures(top), **stack_figures(top)}
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print(json.dumps({"benchmark": "local_stack", **figures}))


if __name__ == "__main__":
    main()

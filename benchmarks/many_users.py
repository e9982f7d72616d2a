"""50 users signing in and spawning at once on one machine: failures, time until all are ready, hub memory;
and what credential renewal costs the hub's CPU.

Measured side: one `datalab up` (as root: each user's session as their own system account) with USERS
accounts added by `datalab users add`; in each round every user, in their own thread and all at once,
signs in through the development IdP, starts JupyterLab · Python and waits until it is ready; then all
servers are stopped. Baseline, in the same run and interleaved round by round: a bare JupyterHub +
proxy (tests/support/hub.py) with the dummy authenticator's login form and SimpleLocalProcessSpawner's
plain `jupyterhub-singleuser` servers. Hub memory: peak RSS of the hub process during the round.

Renewal (`--rounds 0`: this part alone): SESSIONS tokens, one per simulated session (each user asks for
their share of them with their own token), call `GET /hub/api/datalab/credentials` at 1,000 calls a minute
in turn (each token once a minute, when SESSIONS is 1,000), each call a new connection to the hub's own
address as a session makes it; the hub's CPU time over each window as a share of one core, against the
same pace of `GET /hub/api/user` with the same tokens (an authenticated hub call doing no credential work),
in interleaved windows (median and spread); before them, the hub's share with no request at all (its own
periodic work, which both shares include); after, the hub's CPU per call, served from the broker's cache
and minted (`?force=1`: STS + Vault), against `GET /hub/api/user`.

Not part of `make test`: it loads the whole machine. Last line: one JSON object; its `load_at_start` and
`load_at_end` are the machine's 1-minute load average before `datalab up` and after everything stopped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.datalab import Datalab, free_ports, remove_accounts, sign_in  # noqa: E402
from tests.support.hub import start_hub  # noqa: E402
from tests.support.procs import free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 600.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


class PeakRSS:
    """Samples a process's RSS every 0.2 s in a thread; `.peak` in MB."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def wait_ready(url: str, user: str, headers: dict, deadline: float) -> None:
    while time.monotonic() < deadline:
        r = requests.get(f"{url}/hub/api/users/{user}", headers=headers, timeout=60)
        r.raise_for_status()
        model = r.json()["servers"].get("")
        if model and model.get("ready"):
            return
        if model is None and r.json().get("pending") is None:
            raise RuntimeError(f"{user}'s server went away while starting")
        time.sleep(0.5)
    raise TimeoutError(f"{user}'s server not ready after {READY_TIMEOUT:.0f}s")


def dummy_sign_in(url: str, user: str) -> str:
    """The bare hub's login form (dummy authenticator), then an API token, as a browser user would get."""
    s = requests.Session()
    s.get(f"{url}/hub/login", timeout=60)
    r = s.post(f"{url}/hub/login", data={"username": user, "password": "x", "_xsrf": s.cookies.get("_xsrf")},
               timeout=60)  # fmt: skip
    r.raise_for_status()
    r = s.post(f"{url}/hub/api/users/{user}/tokens", json={"expires_in": 3600},
               headers={"X-XSRFToken": s.cookies.get("_xsrf") or ""}, timeout=60)  # fmt: skip
    r.raise_for_status()
    return r.json()["token"]


def burst(url: str, users: list[str], sign: callable, options: dict, hub_pid: int) -> dict:
    """Every user signs in and spawns at once; all servers are stopped afterwards."""
    tokens: dict[str, str] = {}

    def one(user: str) -> float:
        t0 = time.monotonic()
        token = sign(user)
        tokens[user] = token
        h = {"Authorization": f"token {token}"}
        r = requests.post(f"{url}/hub/api/users/{user}/server", json=options, headers=h, timeout=300)
        if r.status_code not in (201, 202):
            raise RuntimeError(f"{user}: spawn answered {r.status_code} {r.text[:200]}")
        wait_ready(url, user, h, t0 + READY_TIMEOUT)
        return time.monotonic() - t0

    failures: list[str] = []
    times: list[float] = []
    t0 = time.monotonic()
    with PeakRSS(hub_pid) as rss, ThreadPoolExecutor(len(users)) as pool:
        for user, fut in [(u, pool.submit(one, u)) for u in users]:
            try:
                times.append(fut.result())
            except Exception as e:  # counted and shown, never hidden
                text = re.sub(r"\?\S*", "?...", str(e))[:200]  # no OAuth code or state in the output
                failures.append(f"{user}: {type(e).__name__}: {text}")
    all_ready = time.monotonic() - t0
    stop_all(url, tokens)
    return {
        "all_ready_s": round(all_ready, 2),
        "median_user_s": round(statistics.median(times), 2) if times else None,
        "failures": failures,
        "hub_peak_rss_mb": round(rss.peak, 1),
    }


def stop_all(url: str, tokens: dict[str, str]) -> None:
    def stop(user: str) -> None:
        h = {"Authorization": f"token {tokens[user]}"}
        requests.delete(f"{url}/hub/api/users/{user}/server", headers=h, timeout=120)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            model = requests.get(f"{url}/hub/api/users/{user}", headers=h, timeout=60).json()
            if not model["servers"] and model.get("pending") is None:
                return
            time.sleep(0.5)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(stop, tokens))


def session_tokens(url: str, users: list[str], tokens: list[str], sessions: int) -> list[str]:
    """One token per simulated session: each user's sign-in token asks for more of the user's own tokens."""
    out = list(tokens)
    for i in range(sessions - len(out)):
        user, token = users[i % len(users)], tokens[i % len(tokens)]
        h = {"Authorization": f"token {token}"}
        r = requests.post(f"{url}/hub/api/users/{user}/tokens", json={"note": f"session {i}", "expires_in": 7200},
                          headers=h, timeout=60)  # fmt: skip
        r.raise_for_status()
        out.append(r.json()["token"])
    return out[:sessions]


def renewal_cost(
    api_url: str, tokens: list[str], per_user: int, hub_pid: int, seconds: float, rounds: int
) -> dict:
    """1,000 renewals a minute, one per session token, against GET /hub/api/user at the same pace, in
    interleaved windows of `seconds`; then per-call CPU cached and minted (`tokens[:per_user]`: one a user). Each call is a new connection to
    the hub's own address (JUPYTERHUB_API_URL), as a session's tornado client makes it."""
    host, port = api_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)

    def call(token: str, force: bool | None = False) -> None:
        path = (
            "/hub/api/user"
            if force is None
            else "/hub/api/datalab/credentials" + ("?force=1" if force else "")
        )
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": f"token {token}", "Connection": "close"})
            r = conn.getresponse()
            r.read()
        finally:
            conn.close()
        if r.status != 200:
            raise RuntimeError(f"GET {path} answered {r.status}")

    for token in tokens:  # warm the broker's cache, as running sessions have it
        call(token)
    # What the hub spends with no request at all (its own periodic work): the renewals' share is the rest.
    idle_s = min(seconds, 30.0)
    c0, t0 = cpu_s(hub_pid), time.monotonic()
    time.sleep(idle_s)
    idle_pct = round(100 * (cpu_s(hub_pid) - c0) / (time.monotonic() - t0), 2)
    interval = 60.0 / 1000

    def paced(force: bool | None) -> float:
        """The hub's share of one core (%) under 1,000 calls a minute for `seconds`, each token in turn. Calls
        start on schedule from a few threads, so a slow answer (a loaded machine) does not slow the pace."""
        calls, c0, t0, answers = 0, cpu_s(hub_pid), time.monotonic(), []
        with ThreadPoolExecutor(8) as pool:
            while (due := t0 + calls * interval) < t0 + seconds:
                time.sleep(max(0.0, due - time.monotonic()))
                answers.append(pool.submit(call, tokens[calls % len(tokens)], force))
                calls += 1
        wall = time.monotonic() - t0
        for answer in answers:
            answer.result()  # a refused call stops the benchmark, naming it
        paces.append(calls * 60 / wall)
        return 100 * (cpu_s(hub_pid) - c0) / wall

    shares: dict[str, list[float]] = {"renewal": [], "api_user": []}
    paces: list[float] = []  # calls a minute of each window, answers included
    for n in range(rounds):
        order = [("renewal", False), ("api_user", None)]
        for name, force in order[:: -1 if n % 2 else 1]:  # interleaved: neither always runs first
            shares[name].append(paced(force))
        print(
            f"renewal round {n + 1}: {json.dumps({k: round(v[-1], 2) for k, v in shares.items()})}"
            f" pace {paces[-1]:.0f}/min, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    ratios = [r / b for r, b in zip(shares["renewal"], shares["api_user"], strict=True)]
    per_call = {}
    for name, force in (("hub_api_user_baseline", None), ("cached", False), ("minted", True)):
        n, c0 = 0, cpu_s(hub_pid)
        # enough calls for 10 ms clock ticks; forced mints are rate-limited per user (429): 2 per user
        for token in tokens[:per_user] * 2 if force else tokens[:300]:
            call(token, force)
            n += 1
        per_call[f"hub_cpu_ms_per_call_{name}"] = round((cpu_s(hub_pid) - c0) * 1000 / n, 2)
    return {
        "renewals_per_minute": 1000,
        "slowest_window_calls_per_minute": round(min(paces)),
        "session_tokens": len(tokens),
        "renewal_rounds": rounds,
        "hub_core_share_pct": round(statistics.median(shares["renewal"]), 2),
        "hub_core_share_pct_spread": [round(min(shares["renewal"]), 2), round(max(shares["renewal"]), 2)],
        "hub_idle_core_share_pct": idle_pct,
        "hub_core_share_pct_api_user_same_pace": round(statistics.median(shares["api_user"]), 2),
        "renewal_to_api_user_ratio_median": round(statistics.median(ratios), 2),
        "renewal_to_api_user_ratio_spread": [round(min(ratios), 2), round(max(ratios), 2)],
        **per_call,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="bursts of each side; 0: renewal cost only")
    parser.add_argument("--renew-seconds", type=float, default=60.0, help="length of each paced window")
    parser.add_argument("--start-slots", type=int, default=0,
                        help="sessions starting at once on our side (DATALAB_START_SLOTS); 0: the default")  # fmt: skip
    parser.add_argument("--renew-rounds", type=int, default=5, help="paced windows of each side")
    parser.add_argument(
        "--sessions", type=int, default=1000, help="session tokens renewing (one call a minute each)"
    )
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    top = Path(tempfile.mkdtemp(prefix="datalab-many-", dir="/tmp"))
    os.chmod(top, 0o711)
    users = [f"u{i:02d}" for i in range(args.users)]
    state = top / "state"
    state.mkdir()
    (state / "ports.json").write_text(json.dumps(free_ports()))
    slots = {"DATALAB_START_SLOTS": str(args.start_slots)} if args.start_slots else {}
    lab = Datalab(state, free_port(), top / "up.log", env=slots)
    base = None
    rounds = []
    try:
        lab.wait_up(240)
        passwords = {}
        for user in users:
            out = lab.cli("users", "add", user, "--groups", "datalab-users").stdout
            passwords[user] = re.search(r"password: (\S+)", out).group(1)
        hub_pid = json.loads((state / "stack.json").read_text())["parts"]["jupyterhub"]["pid"]
        config = (
            'c.JupyterHub.spawner_class = "simple"\n'
            f"c.SimpleLocalProcessSpawner.home_dir_template = {str(top / 'plain') + '/{username}'!r}\n"
        )
        if args.rounds:
            base = start_hub(top / "bare", config, timeout=120)
            base_pid = int((top / "bare" / "jupyterhub.pid").read_text())
        for n in range(args.rounds):
            sides = [("datalab", lab.url), ("bare", base.url)]
            if n % 2:
                sides.reverse()  # interleaved: neither side always runs on a machine still busy from the other
            row = {}
            for side, url in sides:
                if side == "datalab":
                    row[side] = burst(url, users, lambda u: sign_in(lab.url, u, passwords[u]),
                                      {"service": "jupyter-python"}, hub_pid)  # fmt: skip
                else:
                    row[side] = burst(url, users, lambda u: dummy_sign_in(base.url, u), {}, base_pid)
            if row["datalab"]["failures"]:  # why, from the hub's own log
                log = (state / "logs" / "jupyterhub.log").read_text(errors="replace").splitlines()
                why = [line[:300] for line in log if line.startswith("[E") or "Giving up" in line]
                print("\n".join(why[-5:]), file=sys.stderr)
            row["ratio"] = round(row["datalab"]["all_ready_s"] / row["bare"]["all_ready_s"], 2)
            rounds.append(row)
            print(f"round {n + 1}: {json.dumps(row)}", flush=True)
        signed_in = [sign_in(lab.url, u, passwords[u]) for u in users]
        tokens = session_tokens(lab.url, users, signed_in, args.sessions)
        api_url = f"http://127.0.0.1:{json.loads((state / 'ports.json').read_text())['hub']}/hub/api"
        renewal = renewal_cost(api_url, tokens, len(users), hub_pid, args.renew_seconds, args.renew_rounds)
    finally:
        if base is not None:
            base.stop()
        lab.proc.stop(timeout=60)
        remove_accounts(lab.accounts)
        shutil.rmtree(top, ignore_errors=True)
    ratios = [r["ratio"] for r in rounds] or [None]

    def med(side: str, key: str) -> float | None:
        return round(statistics.median(r[side][key] for r in rounds), 2) if rounds else None

    print(json.dumps({
        "benchmark": "many_users",
        "users": args.users,
        "start_slots": args.start_slots or "default",
        "load_at_start": round(load_at_start, 2),
        "load_at_end": round(os.getloadavg()[0], 2),
        "rounds": len(rounds),
        "failures": sum(len(r["datalab"]["failures"]) for r in rounds),
        "baseline_failures": sum(len(r["bare"]["failures"]) for r in rounds),
        "all_ready_s": med("datalab", "all_ready_s"),
        "baseline_all_ready_s": med("bare", "all_ready_s"),
        "ratio_median": round(statistics.median(ratios), 2) if rounds else None,
        "ratio_spread": [min(ratios), max(ratios)],
        "hub_peak_rss_mb": med("datalab", "hub_peak_rss_mb"),
        "baseline_hub_peak_rss_mb": med("bare", "hub_peak_rss_mb"),
        "first_failures": [f for r in rounds for f in r["datalab"]["failures"]][:3],
        **renewal,
    }))  # fmt: skip


if __name__ == "__main__":
    main()

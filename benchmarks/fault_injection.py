"""Does the one-machine datalab recover from its parts being killed, and what fails while it does?

Runs `datalab up` in a temporary state directory on free ports, signs bob in, starts his session, stores
an S3 object and a Vault secret. Then, ROUNDS times (default 20, `--rounds N`), each part in turn is killed
with SIGKILL: SeaweedFS, OpenBao, the hub, the IdP, and (every fifth round) `datalab up` itself, which is
started again. Right after each kill the part's own user-facing operation is tried in a loop:

- seaweedfs: GetObject of the stored object and a PutObject, with bob's STS credentials
- openbao: read and write of bob's secret with his Vault token
- jupyterhub: the hub API with bob's token and his session's contents API through the proxy
- idp: a whole sign-in of bob through the IdP's form
- up: all of the above, after the restarted `datalab up` printed "Datalab is up" and bob started his
  session again (the leftovers' sweep ends sessions; the file in his home must still be there)

Recovery: seconds from the kill until the operation succeeds. Failures that count: an operation failing
after the datalab said the part is back (stack.json names the new process, or "Datalab is up"), which
is what a user acting at once would meet; and anything lost (the object, the secret, the home's file).
The supervisor restarts a part at most 3 times a minute, so kills of one part are spaced 21 s apart.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import hvac
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.stack.supervisor import marked_pids, stack_id  # noqa: E402
from tests.support.datalab import Datalab, credentials, free_ports, remove_accounts, s3_client, sign_in  # noqa: E402
from tests.support.procs import free_port  # noqa: E402

PARTS = ("seaweedfs", "openbao", "jupyterhub", "idp")
SPACING = 21.0  # seconds between two kills of the same part (the supervisor's 3-a-minute limit)
AFTER_READY_TRIES = 5


class Bob:
    """bob's ways into the datalab, refreshed after a restart when they are gone."""

    def __init__(self, lab: Datalab, password: str):
        self.lab, self.password = lab, password
        self.token = sign_in(lab.url, "bob", password)
        self.h = {"Authorization": f"token {self.token}"}
        self.creds = credentials(lab.url, self.token)
        self.s3 = s3_client(self.creds)
        v = self.creds["vault"]
        self.vault = hvac.Client(url=v["addr"], token=v["token"], timeout=10)
        self.vault_path, self.vault_mount = f"{v['top_dir']}/bench", v["mount"]

    def seaweedfs(self) -> None:
        assert self.s3.get_object(Bucket="user-bob", Key="kept.bin")["Body"].read() == KEPT
        self.s3.put_object(Bucket="user-bob", Key="written-after-restart", Body=b"x")

    def openbao(self) -> None:
        got = self.vault.secrets.kv.v2.read_secret_version(
            path=self.vault_path, mount_point=self.vault_mount, raise_on_deleted_version=True
        )
        assert got["data"]["data"] == {"kept": "yes"}
        self.vault.secrets.kv.v2.create_or_update_secret(
            path=self.vault_path + "-w", secret={"n": "1"}, mount_point=self.vault_mount
        )

    def jupyterhub(self) -> None:
        requests.get(f"{self.lab.url}/hub/api/user", headers=self.h, timeout=10).raise_for_status()
        r = requests.get(f"{self.lab.url}/user/bob/api/contents/kept.txt", headers=self.h, timeout=10)
        r.raise_for_status()
        assert r.json()["content"] == "kept"

    def idp(self) -> None:
        sign_in(self.lab.url, "bob", self.password)

    def everything(self) -> None:
        for part in PARTS:
            getattr(self, part)()


KEPT = os.urandom(10_000)


def part_pid(state: Path, part: str) -> int | None:
    try:
        return json.loads((state / "stack.json").read_text())["parts"][part]["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def attempt(fn) -> str | None:
    try:
        fn()
        return None
    except Exception as e:  # any failure a user would meet
        return f"{type(e).__name__}: {str(e)[:200]}"


def kill_part(state: Path, bob: Bob, part: str, timeout: float = 120.0) -> dict:
    """Kill one part; time until bob's operation works again; failures once the datalab says it is back."""
    before = part_pid(state, part)
    t0 = time.monotonic()
    os.kill(before, signal.SIGKILL)
    op = getattr(bob, part)
    recovered = None
    errors: list[str] = []
    while time.monotonic() - t0 < timeout:
        back = part_pid(state, part) not in (before, None)
        error = attempt(op)
        if error is None and recovered is None:
            recovered = time.monotonic() - t0
        if back:
            break
        time.sleep(0.05)
    for _ in range(AFTER_READY_TRIES):  # what a user acting at once meets
        error = attempt(op)
        if error:
            errors.append(error)
    if recovered is None and not errors:
        recovered = time.monotonic() - t0
    return {"recovery_s": recovered, "failures_after_ready": errors}


def start(state: Path, port: int, log: Path, accounts: str | None) -> Datalab:
    lab = Datalab(state, port, log, accounts)
    lab.wait_up(240)
    return lab


def start_session(lab: Datalab, bob: Bob) -> None:
    r = requests.post(f"{lab.url}/hub/api/users/bob/server", json={"service": "jupyter-python"},
                      headers=bob.h, timeout=60)  # fmt: skip
    if r.status_code == 400 and "already running" in r.text:
        return
    r.raise_for_status()
    deadline = time.monotonic() + 180
    while True:
        model = requests.get(f"{lab.url}/hub/api/users/bob", headers=bob.h, timeout=60).json()
        if (model["servers"].get("") or {}).get("ready"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("bob's session did not start")
        time.sleep(0.5)


def kill_up(state: Path, lab: Datalab, bob: Bob, top: Path, n: int) -> tuple[Datalab, dict]:
    t0 = time.monotonic()
    os.kill(lab.proc.pid, signal.SIGKILL)
    lab.proc.proc.wait(10)
    lab = start(state, lab.port, top / f"up-{n}.log", lab.accounts)
    up_s = time.monotonic() - t0
    bob.lab = lab
    start_session(lab, bob)  # the leftovers' sweep ended his session; his home is kept
    errors = [e for e in (attempt(bob.everything) for _ in range(AFTER_READY_TRIES)) if e]
    return lab, {"recovery_s": up_s, "failures_after_ready": errors}


def summary(results: list[dict]) -> dict:
    times = [r["recovery_s"] for r in results if r["recovery_s"] is not None]
    errors = [e for r in results for e in r["failures_after_ready"]]
    return {
        "kills": len(results),
        "never_recovered": sum(1 for r in results if r["recovery_s"] is None),
        "failures_after_ready": len(errors),
        "recovery_s_median": round(statistics.median(times), 2) if times else None,
        "recovery_s_max": round(max(times), 2) if times else None,
        "first_errors": errors[:3],
    }


def run(rounds: int, top: Path) -> dict:
    state = top / "state"
    state.mkdir()
    (state / "ports.json").write_text(json.dumps(free_ports()))
    lab = start(state, free_port(), top / "up-0.log", None)
    results: dict[str, list[dict]] = {p: [] for p in (*PARTS, "up")}
    try:
        password = re.search(r"^\s+bob\s+password (\S+)", lab.output(), re.M).group(1)
        bob = Bob(lab, password)
        start_session(lab, bob)
        requests.put(f"{lab.url}/user/bob/api/contents/kept.txt", headers=bob.h, timeout=30,
                     json={"type": "file", "format": "text", "content": "kept"}).raise_for_status()  # fmt: skip
        bob.s3.put_object(Bucket="user-bob", Key="kept.bin", Body=KEPT)
        bob.vault.secrets.kv.v2.create_or_update_secret(
            path=bob.vault_path, secret={"kept": "yes"}, mount_point=bob.vault_mount
        )
        last_kill = {p: 0.0 for p in PARTS}
        for n in range(1, rounds + 1):
            for part in PARTS:
                wait = last_kill[part] + SPACING - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                last_kill[part] = time.monotonic()
                results[part].append(kill_part(state, bob, part))
            if n % 5 == 0:
                lab, result = kill_up(state, lab, bob, top, n)
                results["up"].append(result)
                last_kill = {p: 0.0 for p in PARTS}
            print(f"round {n}: " + json.dumps({p: r[-1] for p, r in results.items() if r}), flush=True)
        lost = attempt(bob.everything)
    finally:
        lab.proc.stop(timeout=30)
        for pid in marked_pids(stack_id(state)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        remove_accounts(lab.accounts)
    return {"rounds": rounds, "data_lost": lost, **{p: summary(r) for p, r in results.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="kills of each part (default 20)")
    args = parser.parse_args()
    top = Path(tempfile.mkdtemp(prefix="datalab-faults-", dir="/tmp"))
    os.chmod(top, 0o711)
    try:
        figures = run(args.rounds, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print(json.dumps({"benchmark": "fault_injection", **figures}))


if __name__ == "__main__":
    main()

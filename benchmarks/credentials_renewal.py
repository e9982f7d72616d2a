"""How long does a session wait for fresh credentials from the hub?

Starts the real IdP, OpenBao, SeaweedFS (STS) and a hub wired with DatalabOAuthenticator + the broker,
logs alice in through the form, then times `GET /hub/api/datalab/credentials` with a token of hers:
served from the broker's cache, and forced (`?force=1`: one STS AssumeRoleWithWebIdentity + one Vault JWT
login). Baseline, in the same run: `GET /hub/api/user` with the same token (an authenticated hub call
that does no credential work). Wall time per call (median), and the hub's CPU per call over BLOCK calls,
in ROUNDS interleaved rounds of both (median ratio and spread). Last line: one JSON object (milliseconds).
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.credentials_hub import ROLE, hub_client, hub_config, iam_config, new_secret, own_token  # noqa: E402
from tests.support.hub import run_hub  # noqa: E402
from tests.support.idp import login, run_idp  # noqa: E402
from tests.support.openbao import run_openbao  # noqa: E402
from tests.support.seaweedfs import run_seaweedfs  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from many_users import cpu_s  # noqa: E402

ROUNDS = 15  # timed calls of each kind, and forced mints
CPU_ROUNDS, BLOCK = 5, 500  # 500 calls: ~50 ticks of 10 ms per block


def timed(fn, rounds=ROUNDS) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(samples), 1)


def main() -> None:
    users = {"alice": {"password": "alice-pw", "groups": ["datalab-users"]}}
    with tempfile.TemporaryDirectory(prefix="bench-creds-") as tmp:
        work = Path(tmp)
        secret = new_secret()
        with (
            run_idp(work / "idp", users=users, clients=[hub_client(secret)]) as idp,
            run_openbao(work / "bao") as bao,
            run_seaweedfs(work / "weed", iam=iam_config(idp.issuer, "datalab-hub")) as sw,
        ):
            bao.configure_jwt(issuer=idp.issuer, audience="datalab-hub")
            config = hub_config(
                issuer=idp.issuer,
                client_secret=secret,
                sessions_dir=work / "sessions",
                broker={
                    "vault_mode": "required",
                    "vault_addr": bao.addr,
                    "s3_mode": "required",
                    "s3_endpoint": sw.endpoint,
                    "s3_role_arn": ROLE,
                    "forced_renewals_per_window": 0,  # minting is what is measured: no rate limit here
                },
            ).replace('c.JupyterHub.log_level = "DEBUG"', 'c.JupyterHub.log_level = "INFO"')
            with run_hub(work / "hub", config, env={"JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32)}) as hub:
                browser = requests.Session()
                login(browser, "alice", "alice-pw", start_url=f"{hub.url}/hub/oauth_login")
                token = own_token(
                    hub.url, browser, "alice", ["custom:datalab-credentials:read!user", "read:users!user"]
                )

                def get(path):
                    resp = hub.api("GET", path, token=token)
                    assert resp.status_code == 200, resp.text

                get("/datalab/credentials")  # warm: first mint
                baseline = timed(lambda: get("/user"))
                cached = timed(lambda: get("/datalab/credentials"))
                forced = timed(lambda: get("/datalab/credentials?force=1"))
                pid = int((work / "hub" / "jupyterhub.pid").read_text())
                cpu = {"/user": [], "/datalab/credentials": []}
                for n in range(CPU_ROUNDS):  # interleaved: neither always runs first
                    for path in list(cpu)[:: -1 if n % 2 else 1]:
                        c0 = cpu_s(pid)
                        for _ in range(BLOCK):
                            get(path)
                        cpu[path].append((cpu_s(pid) - c0) * 1000 / BLOCK)
    ratios = [r / b for r, b in zip(cpu["/datalab/credentials"], cpu["/user"], strict=True)]
    result = {
        "benchmark": "credentials_renewal",
        "unit": "ms (median)",
        "rounds": ROUNDS,
        "baseline_hub_api_user": baseline,
        "renewal_cached": cached,
        "renewal_minted_sts_and_vault": forced,
        "hub_cpu_ms_per_call_baseline": round(statistics.median(cpu["/user"]), 2),
        "hub_cpu_ms_per_call_cached": round(statistics.median(cpu["/datalab/credentials"]), 2),
        "hub_cpu_ratio_median": round(statistics.median(ratios), 2),
        "hub_cpu_ratio_spread": [round(min(ratios), 2), round(max(ratios), 2)],
        "load_1min": round(os.getloadavg()[0], 2),
    }
    print(f"hub API baseline {baseline} ms; renewal from cache {cached} ms; minting STS+Vault {forced} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

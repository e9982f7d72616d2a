"""Isolation between the users of one `datalab up` (issue 18, items 1 to 4), attacked as an ordinary user.

carol (group datalab-users only, added with `datalab users add`) works in her own kernel and tries to reach
bob's data without his credentials: through SeaweedFS's filer (1) and its gRPC ports (2), bob's code-server
(3) and bob's PostgreSQL (4). Then every listening socket of the datalab is tried from her kernel: she
reaches the allowed services and her own sockets, nothing else. This test process runs as root, outside
the sessions' packet filter, so what it tries checks SeaweedFS's own authentication (JWT on the filer and
volume servers, mTLS on every gRPC port) as any other local account would meet it.
One datalab for the whole module; the last test stops it. First, what decides the isolation, without one.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import boto3
import psycopg
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from hub.stack import isolation
from hub.stack.supervisor import stack_id
from tests.support.datalab import User, credentials, running, s3_client
from tests.support.idp import node_available
from tests.support.procs import VENV_BIN
from tests.support.sockets import PROBE, datalab_listeners, datalab_pids

ROOT = os.geteuid() == 0
NFT = shutil.which("nft")
CODE_SERVER = Path(__file__).resolve().parents[3] / ".datalab-tools" / "node_modules" / ".bin" / "code-server"
SECRET = b"bob's secret " + os.urandom(6).hex().encode()


def table_name(state: Path) -> str:
    return f"datalab_{stack_id(state)}"


@pytest.fixture(scope="module")
def lab():
    if not node_available():
        pytest.skip("the IdP's npm packages are not installed")
    if not ROOT:
        pytest.skip("without root every session is the same account: nothing to isolate between users")

    def stale_table(state: Path) -> None:  # what a `datalab up` killed with -9 would have left
        if NFT:  # the next start replaces it
            table = table_name(state)
            subprocess.run(
                [NFT, "-f", "-"], input=f"table inet {table} {{\n chain stale {{\n }}\n}}\n", text=True
            )

    with running("datalab-isolation-", before=stale_table) as first:
        first.table = table_name(first.state)
        first.bob = User(first, "bob")
        first.carol = User(first, "carol", first.add_user("carol"))
        first.carol.start({"service": "jupyter-python"})
        try:
            yield first
        finally:
            if NFT:
                subprocess.run([NFT, "delete", "table", "inet", first.table], capture_output=True)


# -- what is decided, without a datalab -------------------------------------------------------------------


def test_what_decides_the_isolation_of_a_start():
    iso = isolation.decide(is_root=True, mark="ab12", env={}, nft="/usr/sbin/nft")
    assert iso.enforced and iso.table == "datalab_ab12"
    assert iso.describe() == "sessions isolated by nftables (table inet datalab_ab12, by account)"
    off = isolation.decide(is_root=False, mark="ab12", env={}, nft="/usr/sbin/nft")
    assert not off.enforced and off.describe().startswith(
        "sessions NOT isolated by the network: not running as root"
    )
    with pytest.raises(isolation.IsolationError, match="apt-get install nftables"):
        isolation.decide(is_root=True, mark="ab12", env={}, nft=None)
    chosen = isolation.decide(is_root=True, mark="ab12", env={"DATALAB_ISOLATION": "none"}, nft=None)
    assert not chosen.enforced and "DATALAB_ISOLATION=none" in chosen.describe()
    ports = {"hub": 1, "s3": 2, "vault": 3, "idp": 4, "filer": 5, "filer_grpc": 6, "proxy_api": 7,
             "vault_cluster": 8}  # fmt: skip
    assert isolation.allowed_ports(ports, 8000) == {8000, 1, 2, 3, 4}


def account(lab, user: str) -> pwd.struct_passwd:
    return pwd.getpwnam(lab.accounts.format(username=user))


# -- 1. the filer -----------------------------------------------------------------------------------------


def test_carol_cannot_read_or_write_bobs_objects_through_the_filer(lab):
    bob_s3 = s3_client(credentials(lab.url, lab.bob.admin_token))
    bob_s3.put_object(Bucket="user-bob", Key="data/secret.txt", Body=SECRET)
    filer = f"http://127.0.0.1:{lab.ports['filer']}/buckets/user-bob/data/"
    out = lab.carol.run(f"FILER = {filer!r}\n" + textwrap.dedent("""
        import urllib.error, urllib.request
        def attempt(method, name, data=None):
            try:
                with urllib.request.urlopen(urllib.request.Request(FILER + name, data=data, method=method),
                                            timeout=10) as r:
                    return f"{r.status} {r.read()[:200]!r}"
            except urllib.error.HTTPError as e:
                return f"HTTP {e.code}"
            except OSError as e:
                return f"no connection ({type(e).__name__})"
        print(attempt("GET", "secret.txt"))
        print(attempt("PUT", "planted.txt", b"planted by carol"))
    """))  # fmt: skip
    got, put = out.splitlines()
    assert SECRET.decode() not in got and got.startswith("no connection"), got
    assert put.startswith("no connection"), put
    with pytest.raises(ClientError):
        bob_s3.head_object(Bucket="user-bob", Key="data/planted.txt")

    # SeaweedFS itself, for any local account outside the filter: the filer's and master's HTTP APIs are off.
    assert requests.get(filer + "secret.txt", timeout=10).status_code == 404
    assert requests.put(filer + "planted.txt", data=b"x", timeout=10).status_code == 404
    assert requests.get(f"http://127.0.0.1:{lab.ports['master']}/dir/assign", timeout=10).status_code == 404
    with pytest.raises(ClientError):
        bob_s3.head_object(Bucket="user-bob", Key="data/planted.txt")


# -- 2. gRPC ----------------------------------------------------------------------------------------------


def weed_shell_command(lab, key: str, secret: str) -> tuple[list[str], str]:
    p = lab.ports
    argv = [
        str(VENV_BIN / "weed"), "shell", f"-master=127.0.0.1:{p['master']}.{p['master_grpc']}",
        f"-filer=127.0.0.1:{p['filer']}.{p['filer_grpc']}",
    ]  # fmt: skip
    return argv, f"s3.configure -user=evil -access_key={key} -secret_key={secret} -actions=Admin -apply\n"


def evil_can_list(lab, key: str, secret: str, wait: float) -> bool:
    """Whether the identity `key` was created (the S3 gateway picks identities up within a few seconds)."""
    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{lab.ports['s3']}", region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip
    deadline = time.monotonic() + wait
    while True:
        try:
            s3.list_objects_v2(Bucket="user-bob")
            return True
        except ClientError:
            if time.monotonic() > deadline:
                return False
            time.sleep(1)


def test_carol_cannot_make_herself_an_s3_admin_over_grpc(lab, tmp_path):
    # Outside the filter (another local account: here root without the datalab's certificates), at the
    # same time as carol's try: SeaweedFS's mTLS refuses it.
    argv, command = weed_shell_command(lab, "EVILLOCAL1", "evillocalsecret1")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    local = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        cwd=tmp_path, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        local.stdin.write(command)
        local.stdin.close()
        argv, command = weed_shell_command(lab, "EVILCAROL1", "evilcarolsecret1")
        out = lab.carol.run(f"ARGV, COMMAND = {argv!r}, {command!r}\n" + textwrap.dedent("""
            import subprocess
            try:
                r = subprocess.run(ARGV, input=COMMAND, capture_output=True, text=True, timeout=10)
                print("exited", r.returncode, (r.stdout + r.stderr)[-300:].replace("\\n", " "))
            except subprocess.TimeoutExpired:
                print("no answer in 10 s")
        """))  # fmt: skip
    finally:
        local.kill()
        local.wait(5)
    assert not evil_can_list(lab, "EVILCAROL1", "evilcarolsecret1", wait=8), out
    assert not evil_can_list(lab, "EVILLOCAL1", "evillocalsecret1", wait=0)


# -- 3. code-server ---------------------------------------------------------------------------------------


def test_carol_cannot_use_bobs_code_server(lab):
    if not CODE_SERVER.exists():
        pytest.skip("code-server is not installed (scripts/bootstrap.sh installs it)")
    bob = lab.bob
    bob.start({"service": "vscode-python"}, server="code")
    deadline, r = time.monotonic() + 90, None
    while time.monotonic() < deadline:  # jupyter-server-proxy starts code-server on the first request
        r = bob.get("/user/bob/code/vscode/")
        if r.status_code == 200:
            break
        time.sleep(1)
    assert r.status_code == 200 and "vscode" in r.text.lower(), r.text[:300]
    r = requests.put(
        f"{lab.url}/user/bob/code/api/contents/vscode-secret.txt", headers=bob.headers, timeout=30,
        json={"type": "file", "format": "text", "content": SECRET.decode()},
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    target = str(Path(account(lab, "bob").pw_dir) / "vscode-secret.txt")
    request = (
        f"GET /vscode-remote-resource?path={target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    out = lab.carol.run(PROBE + textwrap.dedent(f"""
        hits = [str(t) for t, body in try_all({request.encode()!r}) if body and {SECRET!r} in body]
        print(len(listeners()), hits)
    """))  # fmt: skip
    count, hits = out.strip().split(" ", 1)
    assert int(count) > 5 and hits == "[]", out
    # Through the proxy, JupyterHub refuses carol bob's server.
    r = lab.carol.get(f"/user/bob/code/vscode/vscode-remote-resource?path={target}", allow_redirects=False)
    assert r.status_code != 200 and SECRET not in r.content


# -- 4. PostgreSQL ----------------------------------------------------------------------------------------

WATCH = """
import os, sys, time
out, seen, end = sys.argv[1], set(), time.monotonic() + 240
while time.monotonic() < end and not os.path.exists(out + ".stop"):
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    seen.add(f.read().replace(b"\\0", b" "))
            except OSError:
                pass
with open(out + ".tmp", "wb") as f:
    f.write(b"\\n".join(seen))
os.rename(out + ".tmp", out)
"""


def test_bobs_database_password_and_role_give_carol_nothing(lab):
    carol, bob = lab.carol, lab.bob
    seen = Path(account(lab, "carol").pw_dir) / "cmdlines.txt"
    # carol watches every command line on the machine while bob's session starts its PostgreSQL.
    carol.run(f"""
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", {WATCH!r}, {str(seen)!r}], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    """)  # fmt: skip
    bob.start({"service": "jupyter-python", "postgres": True})
    carol.run(f"open({str(seen) + '.stop'!r}, 'w').close()")
    deadline = time.monotonic() + 30
    while not seen.exists():
        assert time.monotonic() < deadline, "carol's watcher did not finish"
        time.sleep(0.2)
    session_dir = Path(lab.state) / "run" / lab.accounts.format(username="bob")
    host, port, _, user, password = (session_dir / "pgpass").read_text().splitlines()[0].split(":", 4)
    lines = seen.read_bytes().splitlines()
    assert len(lines) > 20  # the watcher did see the machine's processes
    leaked = [line for line in lines if password.encode() in line or b"PASSWORD '" in line.upper()]
    assert leaked == [], leaked

    # bob's own role owns his database but is no superuser: it cannot run programs on the server.
    out = bob.run("""
        import psycopg
        with psycopg.connect() as conn:
            print(conn.execute("select rolsuper, current_user from pg_roles where rolname = current_user").fetchone())
            conn.execute("create table if not exists mine (x text)")
            try:
                conn.execute("copy mine from program 'id -un'")
                print("ran a program")
            except psycopg.Error as e:
                print("refused", e.sqlstate)
    """)  # fmt: skip
    assert out.splitlines() == [f"(False, '{user}')", "refused 42501"], out

    # Even holding bob's password (as if it had leaked), carol cannot reach his server; nor could she
    # run a program there as bob (tried here from outside the filter).
    creds = str(session_dir / "credentials.json")
    attack = f"""
        import psycopg
        try:
            with psycopg.connect(host={host!r}, port={port}, user={user!r}, password={password!r},
                                 dbname="datalab", connect_timeout=5) as conn:
                conn.execute("create temp table loot (line text)")
                conn.execute("copy loot from program 'cat {creds}'")
                print("read", len(conn.execute("select * from loot").fetchall()), "lines")
        except psycopg.Error as e:
            print("refused", type(e).__name__, e.sqlstate)
    """
    assert carol.run(attack).startswith("refused OperationalError"), "carol reached bob's PostgreSQL"
    with psycopg.connect(host=host, port=port, user=user, password=password, dbname="datalab") as conn:
        conn.execute("create temp table loot (line text)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"copy loot from program 'cat {creds}'")


# -- every listening socket -------------------------------------------------------------------------------


def test_carol_reaches_only_the_allowed_services_and_her_own_sockets(lab):
    socks = datalab_listeners(lab)
    carol_uid = account(lab, "carol").pw_uid
    p = lab.ports
    allowed = {lab.port, p["hub"], p["s3"], p["vault"], p["idp"]}
    targets = []
    for s in socks:
        if s["kind"] == "unix":
            path = s["path"]
            targets.append(("AF_UNIX", "\0" + path[1:] if path.startswith("@") else path))
        else:
            targets.append(("AF_INET6" if s["kind"] == "tcp6" else "AF_INET",
                            ("::1" if s["kind"] == "tcp6" else "127.0.0.1", s["port"])))  # fmt: skip
    out = lab.carol.run(PROBE + textwrap.dedent(f"""
        import json
        targets = [(getattr(socket, family), tuple(a) if isinstance(a, list) else a) for family, a in {targets!r}]
        print(json.dumps([body is not None for _, body in try_all(None, targets)]))
    """))  # fmt: skip
    reached = json.loads(out)
    rows, wrong = [], []
    for s, ok in zip(socks, reached, strict=True):
        expected = s["uid"] == carol_uid or (s["kind"] != "unix" and s["port"] in allowed)
        where = s.get("path") or f"{s['kind']}:{s['port']}"
        row = f"{where:<60} {s['process']:<16} pid {s['pid']:<7} uid {s['uid']:<6} reached={ok}"
        rows.append(row)
        if ok != expected:
            wrong.append(row)
    print("\n".join(rows))  # shown with -s: the datalab's listening sockets and what carol reached
    assert len(socks) > 10 and not wrong, "\n".join(["wrong:", *wrong, "all:", *rows])
    # The allowed services and carol's own server were among them, and reached.
    ports = {s["port"] for s, ok in zip(socks, reached, strict=True) if ok and s["kind"] != "unix"}
    assert allowed <= ports


def test_no_secret_on_any_command_line(lab):
    state = Path(lab.state)
    secrets = [f.read_text().strip() for f in (state / "secrets").iterdir()]
    secrets.append(json.loads((state / "vault" / "init.json").read_text())["root_token"])
    for f in (state / "run").glob("*/pgpass"):
        secrets.append(f.read_text().splitlines()[0].rsplit(":", 1)[1])
    for f in (state / "run").glob("*/credentials.json"):
        doc = json.loads(f.read_text())
        secrets += [doc["s3"]["secret_access_key"], doc["vault"]["token"]]
    secrets = [s for s in secrets if len(s) >= 8]
    assert len(secrets) > 8
    for pid in datalab_pids(lab):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert not [s for s in secrets if s in argv], f"a secret in the command line of {pid}: {argv[:200]}"


# -- the filter's life ------------------------------------------------------------------------------------


@pytest.mark.skipif(not NFT, reason="nftables is not installed")
def test_the_filter_replaced_a_stale_table_and_goes_with_the_datalab(lab):
    listed = subprocess.run([NFT, "list", "table", "inet", lab.table], capture_output=True, text=True)
    assert listed.returncode == 0 and "chain stale" not in listed.stdout, listed.stdout + listed.stderr
    assert "hook output" in listed.stdout
    status = lab.cli("status")
    assert "sessions isolated by nftables" in status.stdout, status.stdout
    assert lab.terminate() < 15
    listed = subprocess.run([NFT, "list", "table", "inet", lab.table], capture_output=True, text=True)
    assert listed.returncode != 0, listed.stdout
    prefix = lab.accounts.split("{")[0]
    assert not list(Path(tempfile.gettempdir()).glob(f"datalab-{prefix}*")), "a session's TMPDIR was left"

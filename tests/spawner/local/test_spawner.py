"""The local backend in a real hub: catalog options -> processes of the user's own system account.

One hub (real JupyterHub + proxy) runs LocalCatalogSpawner; alice starts jupyter-python with a PostgreSQL
server and a git repository served over HTTPS on 127.0.0.1; code runs in real kernels through the
single-user server's API. As root, alice and bob are distinct system accounts: alice's kernel cannot read
bob's home. RStudio, not installable here, is shown unavailable with the reason and refused.
"""

from __future__ import annotations

import http.server
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from spawner.local import firewall
from tests.support.environments import ensure_session_environments
from tests.support.hub import run_hub
from tests.support.kernel import run_code
from tests.support.procs import CODE_SERVER, wait_until

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


# -- helpers: a git repository over HTTPS, code in a kernel ------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_git_https(top: Path):
    """A bare repository `demo.git` served over HTTPS (git's dumb protocol) with a self-signed certificate."""
    work = top / "src"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README.md").write_text("hello from the demo repository\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    served = top / "served"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(served / "demo.git")], check=True)
    subprocess.run(["git", "-C", str(served / "demo.git"), "update-server-info"], check=True)
    shutil.copytree(served / "demo.git", served / "internal.git")  # what a rebound name must not reach
    ca = top / "ca"
    ca.mkdir(mode=0o755)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", f"subjectAltName=DNS:localhost,DNS:{socket.gethostname()},IP:127.0.0.1",
         "-keyout", str(ca / "key.pem"), "-out", str(ca / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    os.chmod(ca / "cert.pem", 0o644)
    handler = lambda *a, **k: _QuietHandler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca / "cert.pem", ca / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"https://localhost:{server.server_address[1]}/demo.git", ca / "cert.pem"


def start_server(hub, user: str, options: dict, server: str = "", timeout: float = 120):
    path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
    r = hub.api("POST", path, json=options)
    assert r.status_code in (201, 202), r.text
    return hub.wait_server(user, server, timeout=timeout)


# -- fixtures ---------------------------------------------------------------------------------------------

SPAWNER_CONFIG = """
import json
from spawner.local.spawner import LocalCatalogSpawner
from spawner.plan import SessionCredentials

class TestLocalSpawner(LocalCatalogSpawner):
    async def resolve_repository_host(self, host):
        # The test's DNS, as a rebinding attacker's would answer: at spawn, this machine's name is 127.0.0.2,
        # an address the operator allows; when the clone runs, the system resolver says 127.0.0.1.
        if host == {machine!r}:
            return ["127.0.0.2"]
        return await super().resolve_repository_host(host)

    # The broker is tested with real STS and Vault elsewhere; here only its result's delivery matters.
    async def session_credentials(self):
        # One Vault token per user, as the broker's cache gives every server of a user (never contacted).
        vault = {{"token": "hvs.local-test-token-of-" + self.user.name, "addr": "http://127.0.0.1:9",
                 "expiration": "2099-01-01T00:00:00Z", "mount": "secret", "top_dir": "users/" + self.user.name,
                 "renewable": False}}
        doc = {{"s3": None, "vault": vault, "warnings": [], "marker": "local-test"}}
        return SessionCredentials(env={{"DATALAB_TEST": "1"}}, secret_files={{"credentials.json": json.dumps(doc)}})

c.JupyterHub.spawner_class = TestLocalSpawner
c.JupyterHub.allow_named_servers = True
c.LocalCatalogSpawner.state_dir = {state!r}
c.LocalCatalogSpawner.account_template = {template!r}
c.LocalCatalogSpawner.git_env = {{"GIT_SSL_CAINFO": {ca!r}}}
c.LocalCatalogSpawner.git_allowed_hosts = ["localhost", "127.0.0.2"]  # the test's repository is on this machine
c.LocalCatalogSpawner.single_user = "alice"
c.LocalCatalogSpawner.cmd = ["jupyterhub-singleuser"]  # the session environment's, not the test venv's
c.LocalCatalogSpawner.start_slots = 1  # two servers started together: the second waits in line
c.LocalProcessSpawner.interrupt_timeout = 3
c.LocalProcessSpawner.term_timeout = 2
"""


@pytest.fixture(scope="module")
def local_hub(tmp_path_factory):
    # Homes must be reachable by the users' accounts: not under pytest's 0700 temporary directory.
    top = Path(tempfile.mkdtemp(prefix="datalab-local-", dir="/tmp"))
    os.chmod(top, 0o711)
    state = top / "state"
    git_server, repo_url, ca = serve_git_https(top)
    template = "dlt" + uuid.uuid4().hex[:5] + "-{username}"
    ensure_session_environments()
    config = SPAWNER_CONFIG.format(
        state=str(state), template=template, ca=str(ca), machine=socket.gethostname()
    )
    try:
        with run_hub(tmp_path_factory.mktemp("hub"), config) as hub:
            assert hub.api("POST", "/users", json={"usernames": ["alice", "bob"]}).status_code == 201
            r = hub.api("POST", "/groups/datalab-users", json={"users": ["alice", "bob"]})
            assert r.status_code == 201, r.text
            hub.repo_url, hub.state, hub.template = repo_url, state, template
            yield hub
    finally:
        git_server.shutdown()
        for user in ("alice", "bob"):
            name = template.format(username=user)
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def account(hub, user: str) -> str:
    return hub.template.format(username=user) if ROOT else pwd.getpwuid(os.getuid()).pw_name


# -- tests ------------------------------------------------------------------------------------------------


def test_jupyter_python_with_postgres_and_git(local_hub):
    hub = local_hub
    start_server(
        hub,
        "alice",
        {"service": "jupyter-python", "cpu": 2, "postgres": True, "git_repository": hub.repo_url},
    )
    out = run_code(hub, "alice", """
import json, os, pwd, stat, psycopg
print(pwd.getpwuid(os.getuid()).pw_name)
print(open(os.path.expanduser("~/demo/README.md")).read().strip())
with psycopg.connect() as conn:
    print(conn.execute("select current_database(), current_user, 40 + 2").fetchone())
path = os.environ["DATALAB_CREDENTIALS_FILE"]
print(oct(stat.S_IMODE(os.stat(path).st_mode)), json.load(open(path))["marker"])
print(oct(stat.S_IMODE(os.stat(os.path.expanduser("~")).st_mode)))
print(sorted(k for k in os.environ if k.startswith("PG")), os.environ["CPU_LIMIT"])
""")  # fmt: skip
    lines = out.splitlines()
    assert lines[0] == account(hub, "alice")
    assert lines[1] == "hello from the demo repository"
    assert lines[2] == "('datalab', 'datalab', 42)"
    assert lines[3] == "0o600 local-test"
    assert lines[4] == "0o700"
    assert "PGPASSWORD" not in lines[5] and "'PGPASSFILE'" in lines[5] and lines[5].endswith(" 2.0")

    # The session extension is loaded (from jupyter-config/, as installed) and found the credentials.
    status = hub.get("/user/alice/datalab/credentials/status")
    assert status.status_code == 200, status.text

    # Progress told the user about the clone and the database.
    log = hub.log()
    assert "Git: cloned https://localhost" in log and "PostgreSQL: ready (datalab on 127.0.0.1:" in log

    # Stopping the server stops its PostgreSQL and removes the session's secrets.
    pg_data = next((hub.state / "homes" / account(hub, "alice") / ".datalab" / "postgres").iterdir())
    assert (pg_data / "postmaster.pid").exists()
    session_dirs = list((hub.state / "run").iterdir())
    assert hub.api("DELETE", "/users/alice/server").status_code in (202, 204)
    hub.wait_server("alice", ready=False, timeout=60)
    assert not (pg_data / "postmaster.pid").exists()
    assert not any(d.exists() for d in session_dirs)


@pytest.mark.skipif(not ROOT, reason="separate system accounts need root")
def test_users_cannot_read_each_others_homes(local_hub):
    hub = local_hub
    start_server(hub, "bob", {"service": "jupyter-python"})
    start_server(hub, "alice", {"service": "jupyter-python"}, server="second")
    run_code(
        hub,
        "bob",
        "open('/'.join([__import__('os').path.expanduser('~'), 'secret.txt']), 'w').write('bob only')",
    )
    bob_home = hub.state / "homes" / account(hub, "bob")
    bob_credentials = hub.state / "run" / account(hub, "bob") / "credentials.json"
    assert bob_credentials.exists()
    out = run_code(hub, "alice", f"""
try:
    print(open({str(bob_home / 'secret.txt')!r}).read())
except PermissionError as e:
    print("denied", e.errno)
try:
    print(open({str(bob_credentials)!r}).read())
except PermissionError as e:
    print("denied", e.errno)
""", server="second")  # fmt: skip
    assert out.splitlines() == ["denied 13", "denied 13"]  # bob's home and bob's session credentials
    assert (bob_home / "secret.txt").read_text() == "bob only"
    for user, server in (("bob", ""), ("alice", "second")):
        path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
        hub.api("DELETE", path)
        hub.wait_server(user, server, ready=False, timeout=60)


@pytest.mark.skipif(
    not CODE_SERVER.exists(), reason="code-server is not installed (scripts/bootstrap.sh installs it)"
)
def test_vscode_python_serves_code_server_through_the_proxy(local_hub):
    hub = local_hub
    start_server(hub, "alice", {"service": "vscode-python"}, server="code")
    model = hub.server("alice", "code")
    assert model["url"] == "/user/alice/code/"
    deadline, r = time.monotonic() + 60, None
    while time.monotonic() < deadline:  # jupyter-server-proxy starts code-server on the first request
        r = hub.get("/user/alice/code/vscode/", timeout=60)
        if r.status_code == 200:
            break
        time.sleep(1)
    assert r.status_code == 200 and "vscode" in r.text.lower(), r.text[:300]
    hub.api("DELETE", "/users/alice/servers/code")
    hub.wait_server("alice", "code", ready=False, timeout=60)


def test_rstudio_shown_unavailable_and_refused(local_hub):
    hub = local_hub
    r = hub.api("POST", "/users/alice/servers/rs", json={"service": "rstudio"})
    assert r.status_code == 400
    assert "RStudio is not available on this machine: rserver is not installed" in r.json()["message"]
    assert hub.server("alice", "rs") is None
    # The spawn form shows it as a greyed card with the reason, which cannot be chosen.
    browser = requests.Session()
    login = browser.get(hub.url + "/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', login.text).group(1)
    r = browser.post(
        hub.url + "/hub/login", data={"username": "alice", "password": "x", "_xsrf": xsrf}, timeout=30
    )
    assert r.status_code == 200, r.text[:300]
    page = browser.get(hub.url + "/hub/spawn/alice/form2", timeout=30)
    assert page.status_code == 200
    assert "RStudio is not available on this machine: rserver is not installed" in page.text
    assert re.search(r'value="rstudio"\s+disabled', page.text) and 'value="jupyter-python"' in page.text


def test_a_clone_that_fails_is_shown_in_the_session(local_hub):
    """The session starts without the repository, and tells its user: the notice the JupyterLab front end
    shows (GET .../datalab/notices) and a file at the top of the home, with git's own words. (That a start
    whose clone works removes the file: tests/jupyter_s3_ext/test_notices.py.)"""
    hub = local_hub
    missing = hub.repo_url.replace("demo.git", "missing.git")
    start_server(hub, "alice", {"service": "jupyter-python", "git_repository": missing}, server="clone")
    r = hub.get("/user/alice/clone/datalab/notices")
    assert r.status_code == 200, r.text
    (notice,) = r.json()["notices"]
    assert notice["kind"] == "git-clone-failed" and missing in notice["message"]
    assert "~/missing" in notice["message"] and notice["path"] == "GIT-CLONE-FAILED.txt"
    assert "not found" in notice["detail"] or "404" in notice["detail"], notice["detail"]
    home = hub.state / "homes" / account(hub, "alice")
    assert f"git clone {missing} ~/missing" in (home / "GIT-CLONE-FAILED.txt").read_text()
    hub.api("DELETE", "/users/alice/servers/clone")
    hub.wait_server("alice", "clone", ready=False, timeout=60)


def test_a_repository_name_rebound_to_this_machine_after_the_check_is_not_cloned(local_hub):
    """DNS rebinding: the repository's name resolved to an allowed address when the hub checked it, and to
    127.0.0.1 (where this machine's git server listens) when the clone ran. The clone connects to the
    address that was checked, so the machine's repository never reaches the home."""
    hub = local_hub
    machine = socket.gethostname()
    if {i[4][0] for i in socket.getaddrinfo(machine, None, type=socket.SOCK_STREAM)} != {"127.0.0.1"}:
        pytest.skip(f"this machine's name {machine!r} does not resolve to 127.0.0.1 only")
    rebound = hub.repo_url.replace("//localhost:", f"//{machine}:").replace("demo.git", "internal.git")
    start_server(hub, "alice", {"service": "jupyter-python", "git_repository": rebound}, server="rebound")
    home = hub.state / "homes" / account(hub, "alice")
    assert not (home / "internal" / "README.md").exists(), "the clone reached the rebound address"
    (notice,) = hub.get("/user/alice/rebound/datalab/notices").json()["notices"]
    assert notice["kind"] == "git-clone-failed" and rebound in notice["message"]
    assert "127.0.0.2" in notice["detail"] or "onnect" in notice["detail"], notice["detail"]
    hub.api("DELETE", "/users/alice/servers/rebound")
    hub.wait_server("alice", "rebound", ready=False, timeout=60)


def test_two_servers_of_one_user_share_the_vault_token_file_until_the_last_stops(local_hub):
    """Stopping one server removed ~/.vault-token while another ran (hvac.Client() failed there); the
    jpserver-*.json files of stopped servers piled up in the home."""
    hub = local_hub
    home = hub.state / "homes" / account(hub, "alice")
    token_file, runtime = home / ".vault-token", home / ".local" / "share" / "jupyter" / "runtime"
    with ThreadPoolExecutor(2) as pool:  # at once, with one start slot: one of them waits its turn
        started = pool.map(lambda name: start_server(hub, "alice", {"service": "jupyter-python"}, name),
                           ("one", "two"))  # fmt: skip
        assert all(started)
    log = hub.log()
    waited = re.search(r"alice:(one|two): Waiting for a free start slot: 0 ahead of you", log)
    assert waited, log[-3000:]
    first = "two" if waited.group(1) == "one" else "one"
    assert (
        log.index(f"alice:{first}: Starting")
        < waited.start()
        < log.index(f"alice:{waited.group(1)}: Starting")
    )
    assert token_file.read_text() == "hvs.local-test-token-of-alice"
    assert len(list(runtime.glob("jpserver-*.json"))) >= 2
    before = set(runtime.glob("jpserver-*"))

    assert hub.api("DELETE", "/users/alice/servers/one").status_code in (202, 204)
    hub.wait_server("alice", "one", ready=False, timeout=60)
    # The server still running finds its token where every Vault client looks.
    assert token_file.read_text() == "hvs.local-test-token-of-alice"
    out = run_code(hub, "alice", "import hvac; print(hvac.Client().token)", server="two")
    assert out.strip() == "hvs.local-test-token-of-alice"
    # What the session logs (its own log file, shown on the hub's pages): never with a query string.
    secret = "sig-" + uuid.uuid4().hex
    session_log = hub.state / "logs" / "sessions" / f"{account(hub, 'alice')}--two.log"
    assert hub.get(f"/user/alice/two/api/nowhere?X-Amz-Signature={secret}").status_code == 404
    wait_until(lambda: "GET /user/alice/two/api/nowhere?[query removed]" in session_log.read_text(),
               timeout=20, what="the session's access log line")  # fmt: skip
    assert secret not in session_log.read_text() and secret not in hub.log()
    left = set(runtime.glob("jpserver-*"))
    assert left < before and len([p for p in left if p.suffix == ".json"]) == 1, sorted(left)

    assert hub.api("DELETE", "/users/alice/servers/two").status_code in (202, 204)
    hub.wait_server("alice", "two", ready=False, timeout=60)
    assert not token_file.exists()  # no secret left in the home once the last server is gone
    assert not list(runtime.glob("jpserver-*")), sorted(runtime.glob("jpserver-*"))


@pytest.mark.skipif(not ROOT or firewall.nft_path() is None, reason="accounts and nftables need root and nft")
def test_a_new_account_is_not_confined_by_a_stale_table_that_held_its_uid(local_hub):
    """A datalab killed with -9 leaves its table; its accounts deleted since, useradd hands their uids out
    again: the new account's session could not reach its hub (never up). Its uid is released first."""
    hub = local_hub
    probe = hub.template.format(username="probe")
    subprocess.run(["useradd", "--no-create-home", probe], check=True, capture_output=True)
    freed = pwd.getpwnam(probe).pw_uid
    stale = "datalab_test" + uuid.uuid4().hex[:8]
    try:
        firewall.apply(firewall.ruleset(stale, [9], [freed]))  # allows none of this hub's ports
        subprocess.run(["userdel", probe], check=True, capture_output=True)
        assert hub.api("POST", "/users/dora").status_code == 201
        assert hub.api("POST", "/groups/datalab-users/users", json={"users": ["dora"]}).status_code == 200
        start_server(hub, "dora", {"service": "jupyter-python"})
        uid = pwd.getpwnam(account(hub, "dora")).pw_uid
        if uid != freed:
            pytest.skip(f"useradd gave dora uid {uid}, not the freed {freed} (another account took it)")
        listing = subprocess.run([firewall.nft_path(), "list", "table", "inet", stale], capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
        sessions = listing.split("set sessions {")[1].split("}")[0]  # the uids this table confines
        assert str(freed) not in sessions, listing
        assert f"uid {freed} was still confined by stale nftables table(s) ['{stale}']: released" in hub.log()
        assert hub.api("DELETE", "/users/dora/server").status_code in (202, 204)
        wait_until(lambda: not hub.server("dora"), timeout=60, what="dora's server to stop")
    finally:
        firewall.apply(firewall.removal(stale))
        subprocess.run(["userdel", probe], capture_output=True)
        subprocess.run(["userdel", account(hub, "dora")], capture_output=True)

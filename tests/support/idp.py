"""The development IdP (hub/idp, Node + oidc-provider) for tests: start it on a free port, sign in through its form.

    with run_idp(tmp_path, users={"alice": {"password": "pw", "groups": ["g"]}},
                 clients=[{"client_id": "hub", "client_secret": "s", "redirect_uris": [cb]}]) as idp:
        s = requests.Session()
        login(s, "alice", "pw", start_url=hub.url + "/hub/oauth_login")   # the browser-like HTML form flow
        tokens = idp.tokens("alice", "pw")                                 # id/access/refresh tokens, no hub

The fixture also registers its own confidential client (`idp.test_client_id`) used by `tokens()`.

`LossyProxy` stands between a client and the IdP and loses chosen replies after the IdP has answered
(optionally killing the IdP at that moment): a crash during a token request, made deterministic.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import secrets
import shutil
import signal
import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import requests
import yaml

from tests.support.log_secrets import register_secret
from tests.support.procs import REPO, ManagedProcess, free_port, start_when_ready, tool_env, wait_until

IDP_DIR = REPO / "hub" / "idp"
TEST_CLIENT_ID = "datalab-tests"
TEST_REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: tokens() stops at the redirect


class LoginFailed(AssertionError):
    """The IdP did not accept the credentials, or the flow did not end where it should."""


def node_available() -> bool:
    return shutil.which("node") is not None and (IDP_DIR / "node_modules" / "oidc-provider").is_dir()


class IdP:
    """A running development IdP. `issuer` is its URL; `users_file` can be rewritten while it runs."""

    def __init__(self, workdir: Path, *, users: dict, clients: list[dict], ttl: dict[str, int] | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.users_file = self.workdir / "users.yaml"
        self.clients_file = self.workdir / "clients.yaml"
        self.state_dir = self.workdir / "state"
        self.test_client_id = TEST_CLIENT_ID
        self.test_client_secret = secrets.token_urlsafe(24)
        register_secret(self.test_client_secret, *(c.get("client_secret") for c in clients or ()))
        self.ttl = dict(ttl or {})
        self.set_users(users)
        all_clients = list(clients) + [
            {
                "client_id": TEST_CLIENT_ID,
                "client_secret": self.test_client_secret,
                "redirect_uris": [TEST_REDIRECT],
            }
        ]
        self.clients_file.write_text(yaml.safe_dump({"clients": all_clients}))
        self.proc: ManagedProcess | None = None
        self.start()

    # -- process ---------------------------------------------------------------------------------------
    def argv(self) -> list[str]:
        argv = ["node", IDP_DIR / "idp.js", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--issuer", self.issuer, "--users", self.users_file, "--clients", self.clients_file]
        argv += ["--state", self.state_dir]
        for name, value in self.ttl.items():  # e.g. {"access-token-ttl": 5}
            argv += [f"--{name}", str(value)]
        return [str(a) for a in argv]

    def start(self) -> None:
        self.proc = start_when_ready(
            self.argv(), self.discovery_url, log_path=self.workdir / "idp.log", env=tool_env(), name="idp"
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def kill(self) -> None:
        """SIGKILL the IdP, as a crash would: no shutdown, whatever it was doing is cut off."""
        if self.proc is not None and self.proc.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.proc.log() if self.proc else ""

    def set_users(self, users: dict) -> None:
        """Rewrite users.yaml; the IdP re-reads it on the next request."""
        tmp = self.users_file.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump({"users": users}))
        tmp.replace(self.users_file)

    # -- endpoints -------------------------------------------------------------------------------------
    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict:
        return requests.get(self.discovery_url, timeout=10).json()

    def tokens(self, username: str, password: str, scope: str = "openid profile email groups offline_access"):
        """Sign in as `username` with the fixture's own client; return the token endpoint's JSON."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "client_id": TEST_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": TEST_REDIRECT,
            "scope": scope,
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        s = requests.Session()
        start = requests.Request("GET", f"{self.issuer}/auth", params=params).prepare().url
        final = login(s, username, password, start_url=start, stop_at=TEST_REDIRECT)
        code = parse_qs(urlparse(final).query).get("code", [None])[0]
        if not code:
            raise LoginFailed(f"no code in the redirect {final}")
        r = requests.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": TEST_REDIRECT,
                "code_verifier": verifier,
            },
            auth=(TEST_CLIENT_ID, self.test_client_secret),
            timeout=10,
        )
        r.raise_for_status()
        return r.json()

    def refresh(self, refresh_token: str) -> requests.Response:
        return requests.post(
            f"{self.issuer}/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(TEST_CLIENT_ID, self.test_client_secret),
            timeout=10,
        )


_FORM = re.compile(r'<form method="post" action="([^"]*/login)"', re.I)


def login(
    session: requests.Session, username: str, password: str, *, start_url: str, stop_at: str | None = None
):
    """Do the browser's part of a sign-in with plain HTTP: follow redirects to the IdP's form, post it.

    Returns the final `requests.Response` (following redirects back to the application), or, when `stop_at`
    is given, the first redirect URL starting with it (as a string) without requesting it.
    Raises LoginFailed when the IdP rejects the credentials.
    """

    def follow(resp):
        while resp.is_redirect or resp.is_permanent_redirect:
            target = urljoin(resp.url, resp.headers["Location"])
            if stop_at and target.startswith(stop_at):
                return target
            resp = session.get(target, allow_redirects=False, timeout=30)
        return resp

    resp = follow(session.get(start_url, allow_redirects=False, timeout=30))
    if isinstance(resp, str):  # already signed in at the IdP: straight back to the application
        return resp
    m = _FORM.search(resp.text) if resp.status_code == 200 else None
    if not m:
        if "/interaction/" not in resp.url:
            return resp  # already signed in: the flow went back to the application without a form
        raise LoginFailed(f"no login form at {resp.url} ({resp.status_code}): {resp.text[:300]}")
    action = urljoin(resp.url, html.unescape(m.group(1)))
    posted = session.post(
        action, data={"username": username, "password": password}, allow_redirects=False, timeout=30
    )
    if posted.status_code == 401:
        raise LoginFailed(f"the IdP refused the password of {username!r}")
    return follow(posted)


@contextmanager
def run_idp(workdir: Path, *, users: dict, clients: list[dict] | None = None, **ttl):
    """Start the IdP (keywords, seconds: access_token_ttl, id_token_ttl, refresh_token_ttl, session_ttl,
    refresh_token_reuse_grace)."""
    idp = IdP(
        workdir,
        users=users,
        clients=clients or [],
        ttl={k.replace("_", "-"): v for k, v in ttl.items()},
    )
    try:
        yield idp
    finally:
        idp.stop()


# ---- a proxy that loses replies ------------------------------------------------------------------------
def _read_message(sock: socket.socket, head: bytes = b"") -> bytes:
    """One HTTP/1.1 message (headers and a Content-Length body, or everything until EOF) from `sock`."""
    data = head
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    headers, _, body = data.partition(b"\r\n\r\n")
    length = None
    for line in headers.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            raise ValueError("LossyProxy does not handle chunked messages")
    while length is None or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return headers + b"\r\n\r\n" + body


class LossyProxy:
    """A TCP proxy to 127.0.0.1:`upstream_port`, one HTTP request per connection.

    `lose_next(marker, then=...)`: the next request containing `marker` (e.g. b"grant_type=refresh_token")
    is forwarded and fully answered by the IdP, then `then()` runs (e.g. `idp.kill`) and the client's
    connection is closed without the reply. While the IdP is down, connections are accepted and closed.
    """

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lost: list[bytes] = []  # the replies that never reached the client
        self.forwarded = 0
        self._pending: list[tuple[bytes, object]] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True, name="lossy-proxy").start()

    def lose_next(self, marker: bytes, then=None) -> None:
        with self._lock:
            self._pending.append((marker, then))

    def wait_lost(self, count: int = 1, timeout: float = 60.0) -> None:
        wait_until(lambda: len(self.lost) >= count, timeout, f"{count} lost replies")

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _take(self, request: bytes):
        with self._lock:
            for i, (marker, then) in enumerate(self._pending):
                if marker in request:
                    del self._pending[i]
                    return True, then
        return False, None

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                request = _read_message(client)
                with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=60) as upstream:
                    upstream.sendall(request)
                    reply = _read_message(upstream)
            except OSError:
                return  # the IdP is down: the client's connection closes without an answer
            lose, then = self._take(request)
            if lose:
                if then is not None:
                    then()
                self.lost.append(reply)
                return
            self.forwarded += 1
            client.sendall(reply)


@contextmanager
def lossy_proxy(upstream_port: int):
    proxy = LossyProxy(upstream_port)
    try:
        yield proxy
    finally:
        proxy.stop()

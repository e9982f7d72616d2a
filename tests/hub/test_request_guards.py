"""The hub's request guards hold whatever the authenticator: a datalab hub configured with JupyterHub's dummy
authenticator (as the chart's values or a one-machine test may choose) refuses oversized spawn bodies before
reading them, on the REST API and the spawn form, and tokens of another user holding the credentials scope.

Real JupyterHub + configurable-http-proxy; requests go through the proxy, as a browser's or a script's do.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.hub import run_hub

pytestmark = pytest.mark.e2e

CONFIG = """
import hub
c.JupyterHub.spawner_class = "local-catalog"
c.LocalCatalogSpawner.state_dir = {state!r}
hub.configure(c)
"""
USER = "ana"
DECLARED = 50 * 1024 * 1024  # what the attacker announces; only a few bytes of it are ever sent


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    state = Path(tempfile.mkdtemp(prefix="datalab-guards-"))
    with run_hub(tmp_path_factory.mktemp("hub"), CONFIG.format(state=str(state))) as handle:
        assert "DummyAuthenticator" in handle.log()  # not Datalab's authenticator: the point of this module
        assert handle.api("POST", f"/users/{USER}").status_code == 201
        handle.browser = handle.login(USER)
        yield handle


def announce_body(url: str, path: str, headers: dict[str, str], content_type: str) -> tuple[bytes, float]:
    """Send a request's headers announcing DECLARED bytes and its first bytes only: (what the hub answered
    within 15 s while the rest was never sent, seconds it took)."""
    parts = urlsplit(url)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Type: {content_type}",
        f"Content-Length: {DECLARED}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    start = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"x" * 1024)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass
    return answer, time.monotonic() - start


def test_an_oversized_rest_spawn_is_refused_before_it_is_sent(hub):
    answer, took = announce_body(
        hub.url,
        f"/hub/api/users/{USER}/server",
        {"Authorization": f"token {hub.admin_token}"},
        "application/json",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert took < 10
    assert hub.server(USER) is None


def test_an_oversized_spawn_form_is_refused_before_it_is_sent(hub):
    cookies = "; ".join(f"{c.name}={c.value}" for c in hub.browser.cookies)
    answer, took = announce_body(
        hub.url, f"/hub/spawn/{USER}", {"Cookie": cookies}, "application/x-www-form-urlencoded"
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert took < 10
    assert hub.server(USER) is None


def test_a_large_spawn_form_is_refused_with_the_limit_named(hub):
    b = hub.browser
    data = {"service": "jupyter-python", "notes": "z" * 200_000, "_xsrf": b.cookies.get("_xsrf", "")}
    r = b.post(f"{hub.url}/hub/spawn/{USER}", data=data, allow_redirects=False, timeout=60)
    assert r.status_code == 413 and "at most 65536" in r.text, (r.status_code, r.text[-500:])
    assert "z" * 100 not in r.text and "z" * 100 not in hub.log()
    assert hub.server(USER) is None


def test_the_form_still_needs_its_xsrf_token(hub):
    """The guard reads the form's body itself, so JupyterHub's xsrf check runs after it: still refused."""
    r = hub.browser.post(
        f"{hub.url}/hub/spawn/{USER}", data={"service": "jupyter-python"}, allow_redirects=False, timeout=60
    )
    assert r.status_code == 403 and "_xsrf" in r.text, (r.status_code, r.text[-500:])
    assert hub.server(USER) is None


def test_an_admin_cannot_mint_a_token_with_another_users_credentials(hub):
    r = hub.api("POST", f"/users/{USER}/tokens", json={"scopes": ["custom:datalab-credentials:read!user"]})
    assert r.status_code == 403 and "allow_granting_to_others" in r.json()["message"], r.text


def test_a_spawn_body_sent_without_a_length_is_cut_off_at_the_limit(hub):
    parts = urlsplit(hub.url)
    head = (
        f"POST /hub/api/users/{USER}/server HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: token {hub.admin_token}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"z" * 16384
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as s:
        s.sendall(head.encode())
        answer = b""
        try:
            for part in [b'{"notes": "', *[chunk] * 64, b'"}']:  # 1 MiB of JSON, far past the 64 KiB limit
                s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            s.sendall(b"0\r\n\r\n")
            answer = s.recv(65536)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
    # The hub stopped reading at the limit (Tornado's bare 400, the proxy's 503 for the dropped connection, or
    # no answer): JupyterHub never parsed the options, so nothing of them is answered ("unknown option
    # 'notes'" was), logged or stored.
    assert not answer.startswith((b"HTTP/1.1 2", b"HTTP/1.1 3")) and b"notes" not in answer, answer[:300]
    assert hub.server(USER) is None
    assert "z" * 100 not in hub.log()

"""A local OIDC provider answering discovery and a token endpoint, for the authenticator's tests."""

import json
import ssl
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.procs import free_port


class Provider:
    """A local provider answering discovery (optionally over TLS, slowly, or only after a while) and a token
    endpoint refusing every grant. Counts the discovery requests."""

    def __init__(self, *, delay: float = 0.0, tls: ssl.SSLContext | None = None):
        self.delay, self.tls = delay, tls
        self.port = free_port()
        self.scheme = "https" if tls else "http"
        self.issuer = f"{self.scheme}://127.0.0.1:{self.port}"
        self.requests = 0
        self.server: ThreadingHTTPServer | None = None

    def document(self) -> dict:
        i = self.issuer
        return {
            "issuer": i,
            "authorization_endpoint": f"{i}/auth",
            "token_endpoint": f"{i}/token",
            "userinfo_endpoint": f"{i}/me",
            "jwks_uri": f"{i}/jwks",
            "end_session_endpoint": f"{i}/session/end",
        }

    def start(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                provider.requests += 1
                time.sleep(provider.delay)
                self.answer(provider.document())

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.answer({"error": "invalid_grant", "error_description": "grant request is invalid"})

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        if self.tls:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.server = server

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


@contextmanager
def provider(**kwargs):
    p = Provider(**kwargs)
    p.start()
    try:
        yield p
    finally:
        p.stop()

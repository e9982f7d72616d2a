"""A git repository served over HTTPS on 127.0.0.1 (git's dumb HTTP protocol), by a private CA, for clones
from the emulator's pods: `with serve_repository(tmp, {"README.md": "..."}) as repo: repo.url, repo.ca`."""

from __future__ import annotations

import functools
import http.server
import socket
import ssl
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hub.stack.tls import make_pems


@dataclass(frozen=True)
class Repository:
    url: str  # https://localhost:PORT/NAME.git
    ca: Path  # the CA certificate a client must trust (GIT_SSL_CAINFO)


def _git(*args, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@contextmanager
def serve_repository(workdir: Path, files: dict[str, str], name: str = "analysis"):
    workdir = Path(workdir)
    source, served = workdir / "source", workdir / "served"
    source.mkdir(parents=True)
    served.mkdir()
    for path, text in files.items():
        (source / path).write_text(text)
    _git("init", "-q", "-b", "main", cwd=source)
    _git("add", ".", cwd=source)
    _git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "first", cwd=source)
    _git("clone", "-q", "--bare", str(source), str(served / f"{name}.git"), cwd=workdir)
    _git("update-server-info", cwd=served / f"{name}.git")
    ca, cert, key = make_pems("git-server", (socket.gethostname(),))  # the name a rebinding test uses
    for file, pem in (("ca.crt", ca), ("server.crt", cert), ("server.key", key)):
        (workdir / file).write_bytes(pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(workdir / "server.crt", workdir / "server.key")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Repository(f"https://localhost:{server.server_address[1]}/{name}.git", workdir / "ca.crt")
    finally:
        server.shutdown()
        server.server_close()

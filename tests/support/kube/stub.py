"""Fast mode's stand-in for a single-user server: an HTTP 200 on the pod's address, served by the emulator's loop."""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.parse

log = logging.getLogger("kube-emulator.kubelet")


def main_port(container: dict) -> int:
    for env in container.get("env") or []:
        if env.get("name") == "JUPYTERHUB_SERVICE_URL" and env.get("value"):
            return urllib.parse.urlsplit(env["value"]).port or 8888
    ports = container.get("ports") or []
    return ports[0].get("containerPort", 8888) if ports else 8888


async def _answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while (await reader.readline()).strip():
            pass
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class StubServer:
    """The stub's server, started on the loop a moment after its socket was bound."""

    def __init__(self, holder: dict, sock: socket.socket):
        self._holder = holder
        self._sock = sock

    def close(self) -> None:
        if (server := self._holder.get("server")) is not None:
            server.close()
        else:
            self._sock.close()


def open_stub(ip: str, port: int, spawn_task) -> StubServer | None:
    """Fast mode: answer HTTP 200 on ip:port (bound now, served by the loop) instead of a real server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(64)
    except OSError as e:
        sock.close()
        log.warning("kubelet: cannot listen on %s:%s for a fast-mode pod: %s", ip, port, e)
        return None
    holder: dict = {}

    async def serve():
        holder["server"] = await asyncio.start_server(_answer_ok, sock=sock)

    spawn_task(serve())
    return StubServer(holder, sock)

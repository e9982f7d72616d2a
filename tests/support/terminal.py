"""Run a command in a user's Jupyter terminal through the proxy (REST + terminado's websocket), as the
browser's terminal does: the shell is the one users get, with the environment they get."""

from __future__ import annotations

import json
import time
import uuid

import websocket


def run_in_terminal(hub, user: str, command: str, server: str = "", timeout: float = 90) -> str:
    """What the terminal printed for `command` (between markers), in a new terminal closed afterwards."""
    base = f"/user/{user}/{server + '/' if server else ''}"
    headers = {"Authorization": f"token {hub.admin_token}"}
    r = hub.session.post(hub.url + base + "api/terminals", headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    name = r.json()["name"]
    ws = websocket.create_connection(
        hub.url.replace("http", "ws", 1) + base + f"terminals/websocket/{name}",
        header=[f"Authorization: token {hub.admin_token}"],
        timeout=timeout,
    )
    mark = uuid.uuid4().hex[:8]
    try:
        # The markers are printed by the shell, not echoed with the typed line (the quotes split them).
        ws.send(json.dumps(["stdin", f"echo BEGIN''{mark}; {command}; echo END''{mark}\r"]))
        out, deadline = "", time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg[0] == "stdout":
                out += msg[1]
                if f"\nEND{mark}" in out.replace("\r", ""):
                    text = out.replace("\r", "")
                    return text.split(f"BEGIN{mark}\n", 1)[-1].split(f"\nEND{mark}", 1)[0]
        raise TimeoutError(f"the terminal did not finish {command!r} in {timeout}s: {out[-2000:]!r}")
    finally:
        ws.close()
        hub.session.delete(hub.url + base + f"api/terminals/{name}", headers=headers, timeout=30)

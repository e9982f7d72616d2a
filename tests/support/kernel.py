"""Run code in a kernel of a user's server through the proxy (REST + the kernel's websocket), as a browser would."""

from __future__ import annotations

import json
import time
import uuid

import websocket


def run_code(
    hub, user: str, code: str, server: str = "", timeout: float = 60, kernel_name: str = "python3"
) -> str:
    """Execute `code` in a new kernel (python3 unless `kernel_name` says another) of the user's server; its stdout (raises on an error)."""
    base = f"/user/{user}/{server + '/' if server else ''}"
    r = hub.get(base + "api/status")
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"token {hub.admin_token}"}
    r = hub.session.post(
        hub.url + base + "api/kernels", json={"name": kernel_name}, headers=headers, timeout=60
    )
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    ws = websocket.create_connection(
        hub.url.replace("http", "ws", 1) + base + f"api/kernels/{kernel}/channels",
        header=[f"Authorization: token {hub.admin_token}"],
        timeout=timeout,
    )
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))  # fmt: skip
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
        raise TimeoutError(f"no result from the kernel after {timeout}s")
    finally:
        ws.close()
        hub.session.delete(hub.url + base + f"api/kernels/{kernel}", headers=headers, timeout=30)

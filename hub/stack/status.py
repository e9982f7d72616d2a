"""What `datalab status` reports: from stack.json (written by `datalab up`) and a probe of each part."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from .layout import Layout, secret, state_dir


def _probe(url: str | None, codes: list[int]) -> bool:
    if not url:
        return False
    try:
        with urllib.request.urlopen(url, timeout=3) as r:  # our own parts
            return r.status in codes
    except urllib.error.HTTPError as e:
        return e.code in codes
    except OSError:
        return False


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect(layout: Layout | None = None) -> dict:
    layout = layout or Layout(state_dir())
    try:
        saved = json.loads(layout.status_file.read_text())
    except (OSError, ValueError):
        saved = None
    from .versions import session_tools

    tools = session_tools()
    if saved is None or not _alive(saved.get("pid")):
        return {"running": False, "state_dir": str(layout.root), "parts": {}, "session_tools": tools}
    parts = {
        name: {
            "up": _alive(p.get("pid")) and _probe(p.get("health_url"), p.get("ready_codes", [200])),
            "address": p.get("address"),
            "version": p.get("version"),
            "pid": p.get("pid"),
        }
        for name, p in saved["parts"].items()
    }
    return {
        "running": True,
        "pid": saved["pid"],
        "started": saved.get("started"),
        "url": saved.get("url"),
        "state_dir": str(layout.root),
        "parts": parts,
        "isolation": (saved.get("isolation") or {}).get("description", "unknown"),
        "session_tools": tools,
    }


def render(status: dict) -> str:
    tools = ", ".join(f"{k} {v}" for k, v in status.get("session_tools", {}).items())
    if not status["running"]:
        return (
            f"datalab: not running (state directory {status['state_dir']}); start it with `datalab up`\n"
            f"  sessions can use: {tools}"
        )
    lines = [f"datalab: running (pid {status['pid']}, since {status['started']}) at {status['url']}"]
    for name, p in status["parts"].items():
        lines.append(f"  {name:<11} {'up' if p['up'] else 'DOWN':<5} {p['address']:<28} {p['version']}")
    lines.append(f"  isolation: {status.get('isolation', 'unknown')}")
    lines.append(f"  sessions can use: {tools}")
    return "\n".join(lines)


def ensure_bucket_if_running(layout: Layout, username: str) -> str:
    """Create a new user's bucket now when the datalab runs (else the next `datalab up` does)."""
    status = collect(layout)
    s3 = status["parts"].get("seaweedfs") if status["running"] else None
    if not s3 or not s3["up"]:
        return "Their S3 bucket will be created by the next `datalab up`."
    from .up import ensure_buckets

    key = "admin-" + secret(layout, "s3_admin_key", 8)
    ensure_buckets(s3["address"], key, secret(layout, "s3_admin_secret"), [username], timeout=10)
    return f"Their S3 bucket user-{username} is ready."

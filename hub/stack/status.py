"""What `datalab status` reports: from stack.json (written by `datalab up`) and a probe of each part.

stack.json is believed only when the process it names is still the one that wrote it (same pid, same
start time, same stack id): a stale file naming a reused pid means "not running". Without a running
`datalab up`, processes still carrying this stack's mark are leftovers of one killed with -9, said as such.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from .layout import Layout, secret, state_dir
from .supervisor import marked_pids, stack_id, start_ticks
from .volumes import check_volumes, entry_size


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


def same_process(record: dict) -> bool:
    """The process `record` names ({"pid", "pid_start"}) is still running: not ended, not a reused pid."""
    pid, start = record.get("pid"), record.get("pid_start")
    return isinstance(pid, int) and pid > 0 and start is not None and start_ticks(pid) == start


def owns(saved: object, mark: str) -> bool:
    """stack.json was written by a `datalab up` of this state directory that still runs."""
    return isinstance(saved, dict) and saved.get("stack_id") == mark and same_process(saved)


def volume_damage(layout: Layout) -> dict:
    """With SeaweedFS stopped: the volumes cut short on disk, and the objects found unreadable before."""
    from .versions import version_of

    try:
        unreadable = json.loads((layout.s3 / "unreadable.json").read_text())
    except (OSError, ValueError):
        unreadable = []
    damaged = check_volumes(layout.s3 / "data", entry_size(version_of("seaweedfs")))
    return {"damaged": [d.describe() for d in damaged], "unreadable": unreadable}


def collect(layout: Layout | None = None) -> dict:
    layout = layout or Layout(state_dir())
    try:
        saved = json.loads(layout.status_file.read_text())
    except (OSError, ValueError):
        saved = None
    from .versions import session_tools

    mark = stack_id(layout.root)
    base = {"state_dir": str(layout.root), "session_tools": session_tools()}
    if not owns(saved, mark):
        base["volumes"] = volume_damage(layout)
        stale = saved.get("pid") if isinstance(saved, dict) else None
        return {**base, "running": False, "parts": {}, "leftovers": marked_pids(mark), "stale_pid": stale}
    base["volumes"] = {"damaged": saved.get("damaged", []), "unreadable": saved.get("unreadable", [])}
    parts = {
        name: {
            "up": same_process(p) and _probe(p.get("health_url"), p.get("ready_codes", [200])),
            "address": p.get("address"),
            "version": p.get("version"),
            "pid": p.get("pid"),
        }
        for name, p in saved["parts"].items()
    }
    return {
        **base,
        "running": True,
        "pid": saved["pid"],
        "started": saved.get("started"),
        "url": saved.get("url"),
        "parts": parts,
        "isolation": (saved.get("isolation") or {}).get("description", "unknown"),
    }


def _not_running(status: dict) -> list[str]:
    lines = [f"datalab: not running (state directory {status['state_dir']}); start it with `datalab up`"]
    left = status.get("leftovers") or []
    if left:
        shown = ", ".join(map(str, left[:10])) + (", ..." if len(left) > 10 else "")
        lines[0] = f"datalab: not running, leftovers found (state directory {status['state_dir']})"
        lines.append(
            f"  {len(left)} process(es) of an earlier `datalab up` of this state directory still run "
            f"unsupervised (pids {shown}); `datalab up` stops them before it starts"
        )
    if status.get("stale_pid") is not None:
        lines.append(
            f"  stack.json is stale: its pid {status['stale_pid']} is not a running `datalab up` of this state"
        )
    return lines


def render(status: dict) -> str:
    tools = ", ".join(f"{k} {v}" for k, v in status.get("session_tools", {}).items())
    if not status["running"]:
        lines = _not_running(status)
    else:
        lines = [f"datalab: running (pid {status['pid']}, since {status['started']}) at {status['url']}"]
        for name, p in status["parts"].items():
            lines.append(f"  {name:<11} {'up' if p['up'] else 'DOWN':<5} {p['address']:<28} {p['version']}")
        lines.append(f"  isolation: {status.get('isolation', 'unknown')}")
    volumes = status.get("volumes") or {}
    for damage in volumes.get("damaged", []):
        lines.append(f"  S3 DAMAGED: {damage}")
    bad = volumes.get("unreadable", [])
    if bad:
        lines.append(f"  S3 objects unreadable at the last start ({len(bad)}): {', '.join(bad[:20])}")
    lines.append(f"  sessions can use: {tools}")
    return "\n".join(lines)


def ensure_bucket_if_running(layout: Layout, username: str) -> str:
    """Create a new user's bucket now when the datalab runs (else the next `datalab up` does)."""
    status = collect(layout)
    s3 = status["parts"].get("seaweedfs") if status["running"] else None
    if not s3 or not s3["up"]:
        return "Their S3 bucket will be created by the next `datalab up`."
    from .s3check import ensure_buckets

    key = "admin-" + secret(layout, "s3_admin_key", 8)
    ensure_buckets(s3["address"], key, secret(layout, "s3_admin_secret"), [username], timeout=10)
    return f"Their S3 bucket user-{username} is ready."

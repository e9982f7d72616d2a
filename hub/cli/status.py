"""`datalab status`: which parts of the one-machine datalab are up, their addresses and versions."""

from __future__ import annotations


def register(commands) -> None:
    p = commands.add("status", help="Show which parts of the datalab started by `datalab up` are up.")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=_status)


def _status(args) -> int:
    import json

    from hub.stack.status import collect, render

    status = collect()
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0 if status["running"] and all(p["up"] for p in status["parts"].values()) else 3

"""`datalab up`: the whole datalab on this machine (see hub/stack)."""

from __future__ import annotations


def register(commands) -> None:
    p = commands.add(
        "up",
        help="Run the whole datalab on this machine (IdP, S3, Vault, hub) until Ctrl-C. "
        "State: DATALAB_STATE_DIR (default .datalab); address: DATALAB_HOST, DATALAB_PORT (127.0.0.1:8000); "
        "system accounts of users, as root: DATALAB_ACCOUNT_TEMPLATE (default dl-{username}); sessions "
        "starting at once: DATALAB_START_SLOTS (default: two per core).",
    )
    p.set_defaults(func=_up)


def _up(args) -> int:
    from hub.stack.up import StackError, run

    try:
        return run()
    except (StackError, FileNotFoundError, ValueError) as e:
        print(f"datalab up: {e}")
        return 1

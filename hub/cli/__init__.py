"""The `datalab` command: a thin dispatcher over the command modules listed in MODULES.

To add commands, write `hub/cli/<topic>.py` with `register(commands: Commands)`, calling e.g.
`commands.add("profiles", "render", help=...)` (a subcommand of a group) or `commands.add("up", help=...)`
(a top-level command) and `parser.set_defaults(func=...)`; `func(args)` returns the exit status. Then add
the module to MODULES. Import heavy dependencies (jupyterhub, kubernetes...) inside `func`, not at module
level, so every command stays quick to start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import preview, profiles, render, status, up, users

# In the order `datalab --help` lists them.
MODULES = (up, status, users, profiles, preview, render)


class Commands:
    """Where command modules register their subcommands, grouped (`datalab profiles lint`) or not."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser
        self._root = parser.add_subparsers(dest="command", metavar="COMMAND")
        self._groups: dict[str, argparse._SubParsersAction] = {}

    def add(self, group: str, name: str | None = None, *, help: str, **kwargs) -> argparse.ArgumentParser:
        """A parser for `datalab GROUP NAME` (or `datalab GROUP` when `name` is None)."""
        if name is None:
            return self._root.add_parser(group, help=help, description=help, **kwargs)
        if group not in self._groups:
            group_parser = self._root.add_parser(group, help=f"{group} commands")
            self._groups[group] = group_parser.add_subparsers(dest=f"{group}_command", metavar="COMMAND")
            group_parser.set_defaults(func=lambda args, p=group_parser: _usage(p))
        return self._groups[group].add_parser(name, help=help, description=help, **kwargs)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datalab", description="Datalab: a JupyterHub distribution.")
    commands = Commands(parser)
    for module in MODULES:
        module.register(commands)
    parser.set_defaults(func=lambda args: _usage(parser))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # never a traceback for users; DATALAB_DEBUG=1 shows it
        if os.environ.get("DATALAB_DEBUG"):
            raise
        print(f"datalab: error: {e}", file=sys.stderr)
        return 1

"""The `datalab` command: a thin dispatcher; each command group lives in its own `hub/cli_*.py` module.

To add commands, create `hub/cli_<topic>.py` with `register(commands: Commands)` and call e.g.
`commands.add("profiles", "render", help=...)` (a subcommand of a group) or
`commands.add("up", help=...)` (a top-level command); set `func=` with `parser.set_defaults(func=...)`.
`func(args)` returns the exit status. Modules are discovered, so nobody edits this file to add one;
import heavy dependencies (jupyterhub, kubernetes...) inside `func`, not at module level, so every
command stays quick to start.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

import hub


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


def command_modules() -> list[str]:
    """The `hub.cli_*` modules, in name order."""
    return sorted(
        f"hub.{m.name}"
        for m in pkgutil.iter_modules(hub.__path__)
        if m.name.startswith("cli_") and not m.ispkg
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datalab", description="Datalab: a JupyterHub distribution.")
    commands = Commands(parser)
    for module in command_modules():
        try:
            importlib.import_module(module).register(commands)
        except Exception as e:  # one broken module must not take every command down
            print(f"datalab: cannot load the commands of {module}: {e}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())

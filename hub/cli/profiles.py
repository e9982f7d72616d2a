"""`datalab profiles lint [DIR]`: check a catalog, printing every problem as FILE:LINE: message."""

from __future__ import annotations

import argparse
import sys

from spawner.catalog import Catalog, CatalogError, default_catalog_dir, load_catalog


def register(commands) -> None:
    lint = commands.add("profiles", "lint", help="check a catalog directory; exit 1 listing every problem")
    lint.add_argument("dir", nargs="?", help="the catalog directory (default: the one the hub uses)")
    lint.add_argument("--registry", help="the image registry, overriding catalog.yaml's `registry`")
    lint.set_defaults(func=run_lint)


def load_or_report(directory: str, registry: str | None, *, suffix: str = "") -> Catalog | None:
    """The catalog in `directory`, or None after printing every problem (stdout) and their count (stderr)."""
    try:
        return load_catalog(directory, registry=registry)
    except CatalogError as e:
        for problem in e.problems:
            print(problem)
        sys.stdout.flush()
        count = len(e.problems)
        print(f"{directory}: {count} problem{'s' if count != 1 else ''}{suffix}", file=sys.stderr)
        return None


def run_lint(args: argparse.Namespace) -> int:
    directory = args.dir or str(default_catalog_dir())
    catalog = load_or_report(directory, args.registry)
    if catalog is None:
        return 1
    lists = ", ".join(f"{name} ({len(offers)})" for name, offers in catalog.offers.items()) or "none"
    print(f"OK {directory}: {len(catalog.services)} services, {len(catalog.lists)} lists: {lists}")
    return 0

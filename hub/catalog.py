"""The catalog as the hub sees it: the same shared source as the spawners, the hub refusing to start on
an invalid catalog, and a refused catalog change shown to the people who can fix it.

`hub.configure(c)` calls `configure_catalog(c)` (JupyterHub has no other startup hook than its config):

- At startup the catalog is loaded once: if it is invalid, the problems are printed as `FILE:LINE:
  message` lines and the hub exits with status 1 (no traceback).
- A banner on every hub page (JupyterHub's `announcement`, through `template_vars`) lists the problems
  of a refused hot-reload: admins see all of them, members of a list's `organiser_groups` those of
  their list's file. Everybody else sees nothing (the last valid catalog is still in force).
"""

from __future__ import annotations

import html
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from spawner.catalog import Catalog, CatalogError, Problem, default_catalog_dir
from spawner.runtime.source import DEFAULT_CHECK_INTERVAL, CatalogSource, shared_source, shared_sources

# Where jupyterhub_config.py may set the catalog settings (spawner.runtime.options.CatalogOptionsMixin).
_SECTIONS = ("CatalogSpawner", "LocalCatalogSpawner", "CatalogMixin", "CatalogOptionsMixin")


def spawner_setting(c: Any, name: str) -> Any:
    """A catalog setting from jupyterhub_config.py's `c`, whichever spawner section sets it (None if unset).

    Read from the config object because the hub has not built a spawner yet when this runs.
    """
    for section in _SECTIONS:
        if section in c and name in c[section]:
            return c[section][name]
    return None


def source_for(c: Any) -> CatalogSource:
    """The hub's shared CatalogSource for config `c`: the same key the spawners use, so they share it."""
    directory = str(spawner_setting(c, "catalog_dir") or default_catalog_dir())
    interval = spawner_setting(c, "catalog_check_interval")
    return shared_source(
        directory,
        registry=spawner_setting(c, "image_registry"),
        check_interval=DEFAULT_CHECK_INTERVAL if interval is None else float(interval),
        logger=logging.getLogger("JupyterHub"),
    )


def require_valid_catalog(source: CatalogSource) -> Catalog:
    """The hub's catalog, or exit 1 after the source logged every problem (FILE:LINE: message)."""
    try:
        return source.get()
    except CatalogError:
        print(
            f"datalab: the service catalog in {source.directory} is invalid (problems above); the hub does "
            f"not start. Check it with `datalab profiles lint {source.directory}`.",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1) from None


def configure_catalog(c: Any) -> Catalog:
    """Check the catalog the spawner is configured with, and add the problems banner to the hub's pages."""
    catalog = require_valid_catalog(source_for(c))
    template_vars = dict(c.JupyterHub.template_vars) if "template_vars" in c.JupyterHub else {}
    template_vars["announcement"] = AnnouncementWithProblems(template_vars.get("announcement"))
    c.JupyterHub.template_vars = template_vars
    return catalog


def _list_organisers(source: CatalogSource, path: Path) -> set[str]:
    """Organiser groups of the list in `path`: from the catalog in force, else read from the file itself."""
    catalog = source.catalog
    if catalog is not None and path.stem in catalog.lists:
        groups = set(catalog.lists[path.stem].organiser_groups)
    else:
        groups = set()
    try:  # the refused file may name (new) organisers itself
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        found = data.get("organiser_groups") if isinstance(data, dict) else None
        if isinstance(found, list):
            groups.update(g for g in found if isinstance(g, str))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        pass
    return groups


def problems_for(user: Any, sources: list[CatalogSource] | None = None) -> list[Problem]:
    """The refused-change problems `user` may see: all for admins, their lists' files for organisers."""
    if user is None:
        return []
    admin = bool(getattr(user, "admin", False))
    groups = {getattr(g, "name", g) for g in (getattr(user, "groups", None) or [])}
    seen: list[Problem] = []
    for source in sources if sources is not None else shared_sources():
        lists_dir = source.directory / "lists"
        for problem in source.problems:
            path = Path(problem.file)
            visible = admin or (path.parent == lists_dir and bool(groups & _list_organisers(source, path)))
            if visible and problem not in seen:
                seen.append(problem)
    return seen


def problems_banner(user: Any) -> str:
    """HTML for the hub's announcement area (empty when there is nothing for this user)."""
    problems = problems_for(user)
    if not problems:
        return ""
    lines = "".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in problems)
    return (
        '<div class="datalab-catalog-problems" style="text-align:left">'
        "<strong>A change to the service catalog was refused</strong>; the last valid catalog stays in "
        "force until these problems are fixed:"
        f"<ul>{lines}</ul></div>"
    )


class AnnouncementWithProblems:
    """`template_vars["announcement"]`: the operator's announcement (if any) plus the problems banner."""

    def __init__(self, original: Any = None):
        self.original = original

    def __call__(self, user: Any) -> str:
        original = self.original(user) if callable(self.original) else (self.original or "")
        banner = problems_banner(user)
        return "<br>".join(part for part in (original, banner) if part)

"""`datalab up`'s environment step: build the session environments the catalog's images map to.

Runs before the hub starts, with the build's progress on the terminal. Each environment is cached by its
definition's content (spawner.local.environments), so a start with nothing changed costs a few stats.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spawner.catalog import CatalogError, load_catalog
from spawner.local import environment_cache, environments


class EnvironmentStepError(RuntimeError):
    """An environment the catalog needs could not be built (the datalab does not start half-ready)."""


def catalog_images(catalog_dir: Path) -> list[str]:
    """Every image any offer of the catalog names (its choices and defaults)."""
    try:
        catalog = load_catalog(catalog_dir)
    except CatalogError:
        return []  # the hub refuses an invalid catalog itself, naming its problems
    images: set[str] = set()
    for offers in catalog.offers.values():
        for offer in offers:
            bounds = offer.options["image"]
            images.add(bounds.default)
            images.update(c.image for c in bounds.choices)
    return sorted(images)


def needed(images: list[str], images_dir: Path) -> list[environments.Definition]:
    """The definitions those images map to, one per content (the same content is built once)."""
    by_key: dict[str, environments.Definition] = {}
    for name in sorted({n for n in map(environments.image_environment, images) if n}):
        try:
            d = environments.definition(name, images_dir)
        except environments.EnvironmentError_:
            continue  # no such definition here: that service is shown unavailable, with the reason
        by_key.setdefault(d.key, d)
    return list(by_key.values())


def build_for_catalog(
    catalog_dir: Path, cache: Path, say: Callable[[str], None] = print, images_dir: Path | None = None
) -> dict[str, float]:
    """Build what the catalog needs; {definition name: seconds spent} (about 0 when already built)."""
    images_dir = environments.images_dir() if images_dir is None else images_dir
    spent: dict[str, float] = {}
    for d in needed(catalog_images(catalog_dir), images_dir):
        try:
            _, spent[d.name] = environments.build(d, cache, say)
        except environments.EnvironmentError_ as e:
            raise EnvironmentStepError(f"the {d.name} session environment could not be built: {e}") from None
    return spent


def hold_and_prune(
    catalog_dir: Path, cache: Path, say: Callable[[str], None] = print, images_dir: Path | None = None
) -> environment_cache.Held:
    """Hold the environments the catalog uses for as long as this datalab runs; remove the ones no
    datalab has used for environment_cache.UNUSED_DAYS days (old definitions' leftovers)."""
    images_dir = environments.images_dir() if images_dir is None else images_dir
    used = [d.directory(cache) for d in needed(catalog_images(catalog_dir), images_dir)]
    held = environment_cache.Held(cache, used)
    environment_cache.prune(cache, used, say=say)
    return held

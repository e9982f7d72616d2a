"""The catalog: services and profile lists from YAML, resolved for a user, options validated into a plan.

Pure core (no I/O except reading the catalog files in `load_catalog`). See profiles/README.md.
The catalog as a running hub holds it (reloaded when its files change) is spawner.runtime.source.
"""

from .checks import ImageBounds
from .load import Catalog, CatalogError, Problem, default_catalog_dir, load_catalog
from .offer import Offer
from .resolve import resolve
from .validate import OptionsError, validate_options

__all__ = [
    "Catalog",
    "CatalogError",
    "ImageBounds",
    "Offer",
    "OptionsError",
    "Problem",
    "default_catalog_dir",
    "load_catalog",
    "resolve",
    "validate_options",
]

"""The catalog: services and profile lists from YAML, resolved for a user, options validated into a plan.

Pure core (no I/O except reading the catalog files in `load_catalog`). See profiles/README.md.
"""

from .checks import ImageBounds
from .load import Catalog, CatalogError, Problem, default_catalog_dir, load_catalog
from .resolve import Offer, resolve
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

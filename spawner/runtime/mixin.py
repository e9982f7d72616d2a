"""CatalogMixin: everything of the catalog a spawner needs, the same for every backend."""

from __future__ import annotations

from .capacity import CapacityMixin
from .credentials import CredentialsMixin
from .options import CatalogOptionsMixin
from .progress import ProgressMixin


class CatalogMixin(ProgressMixin, CredentialsMixin, CapacityMixin, CatalogOptionsMixin):
    """Mix in before the backend's Spawner class: catalog form and validation into one plan per spawn
    (`self.plan`), capacity and window end, the credentials seam, and spawn progress."""

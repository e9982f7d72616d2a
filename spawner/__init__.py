"""Catalog -> launch plan -> pod (CatalogSpawner, a KubeSpawner) or local processes."""


def __getattr__(name):
    # Imported lazily so the pure core (catalog, plan) loads without KubeSpawner.
    if name == "CatalogSpawner":
        from .kube import CatalogSpawner

        return CatalogSpawner
    if name == "LocalCatalogSpawner":
        from .local import LocalCatalogSpawner

        return LocalCatalogSpawner
    raise AttributeError(name)

"""Catalog -> launch plan -> pod (CatalogSpawner, a KubeSpawner) or local processes (LocalCatalogSpawner).

plan (the contract of every backend) · catalog/ (pure) · runtime/ (the catalog inside the hub) ·
kube/ and local/ (the two backends).
"""


def __getattr__(name):
    # Imported lazily so the pure core (catalog, plan) loads without KubeSpawner.
    if name == "CatalogSpawner":
        from .kube.spawner import CatalogSpawner

        return CatalogSpawner
    if name == "LocalCatalogSpawner":
        from .local.spawner import LocalCatalogSpawner

        return LocalCatalogSpawner
    raise AttributeError(name)

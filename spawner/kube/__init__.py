"""The Kubernetes backend: CatalogSpawner (spawner), the pod's parts from a plan (pod, pure), and the
same manifests built with no cluster (offline, for `datalab profiles render`)."""


def __getattr__(name):
    # Lazily, so the pure pod layout imports without KubeSpawner.
    if name == "CatalogSpawner":
        from .spawner import CatalogSpawner

        return CatalogSpawner
    raise AttributeError(name)

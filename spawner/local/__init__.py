"""The one-machine backend: LocalCatalogSpawner (spawner), system accounts (accounts), what runs around a
session (session: commands as the user, private files, git clone, what this machine can run), the
session's PostgreSQL (postgres)."""


def __getattr__(name):
    if name == "LocalCatalogSpawner":
        from .spawner import LocalCatalogSpawner

        return LocalCatalogSpawner
    raise AttributeError(name)

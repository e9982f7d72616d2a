"""The KubeSpawner private methods and attributes spawner/kube/spawner.py, spawn.py and watchers.py rely on
(their module docstrings list them) were read on the KubeSpawner versions named here; another version fails
until someone has read them again in its kubespawner/spawner.py and added it."""

from __future__ import annotations

import importlib.metadata
import inspect

from jupyterhub.spawner import Spawner
from kubespawner import KubeSpawner

import spawner.kube.spawn as spawn_module
import spawner.kube.spawner as module
import spawner.kube.watchers as watchers_module
from spawner.kube.offline import make_spawner, offline_kube_config
from spawner.kube.spawner import CatalogSpawner

# 7.0.0: the chart's hub image (.venv-z2jh, helm-values/z2jh-4.4.0-constraints.txt); 7.1.0: .venv.
KUBESPAWNER_CHECKED = {"7.0.0", "7.1.0"}

OVERRIDDEN = {
    "_make_create_pod_request": ["self", "pod", "request_timeout"],
    "_make_create_pvc_request": ["self", "pvc", "request_timeout"],
    "_start": ["self"],
}
CALLED = {
    "_build_common_labels": ["self", "extra_labels"],
    "_expand_all": ["self", "src"],
    "_sorted_dict_values": ["self", "src"],
    "_start_watching_events": ["self", "replace"],
    "_start_watching_pods": ["self", "replace"],
}
ATTRIBUTES = ("_pvc_exists", "_start_future")


def test_the_installed_kubespawner_was_checked():
    version = importlib.metadata.version("jupyterhub-kubespawner")
    assert version in KUBESPAWNER_CHECKED, (
        f"KubeSpawner {version} is installed: read what spawner/kube/spawner.py's and spawn.py's docstrings list in its "
        "kubespawner/spawner.py, then add it to KUBESPAWNER_CHECKED"
    )


def test_the_module_docstrings_list_every_seam_checked_here():
    docs = module.__doc__ + spawn_module.__doc__ + watchers_module.__doc__
    for name in [*OVERRIDDEN, *CALLED, *ATTRIBUTES, "_log_name"]:
        assert f"`{name}`" in docs or f"`Spawner.{name}`" in docs, name


def test_the_private_methods_have_the_signatures_we_override_and_call():
    for name, params in {**OVERRIDDEN, **CALLED}.items():
        assert list(inspect.signature(getattr(KubeSpawner, name)).parameters) == params, name
    for name in OVERRIDDEN:
        ours, theirs = getattr(CatalogSpawner, name), getattr(KubeSpawner, name)
        assert (
            ours is not theirs and inspect.iscoroutinefunction(ours) and inspect.iscoroutinefunction(theirs)
        )


def test_kubespawner_still_starts_through_the_overridden_steps():
    start = inspect.getsource(KubeSpawner._start)
    for step in ("self._make_create_pvc_request", "self._make_create_pod_request", "self._pvc_exists"):
        assert step in start, step
    assert "self._start_future = asyncio.ensure_future(self._start())" in inspect.getsource(KubeSpawner.start)
    assert isinstance(inspect.getattr_static(Spawner, "_log_name"), property)


async def test_a_new_spawner_has_the_private_attributes():
    with offline_kube_config():
        spawner = make_spawner(username="ada")
        assert spawner._pvc_exists is False and spawner._start_future is None
        assert spawner._log_name == "ada"

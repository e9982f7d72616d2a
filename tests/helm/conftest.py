"""The hub pod as the chart makes it from helm-values/, shared by the tests of what it yields.

Package-scoped, so the pod's files are laid out once per combination for all of tests/helm.
"""

from __future__ import annotations

import pytest

from tests.helm import values as chart
from tests.helm.hubpod import HubPod, can_run


@pytest.fixture(scope="package")
def configmaps():
    return {name: chart.configmap(name) for name in chart.CONFIGMAP_NAMES}


@pytest.fixture(scope="package", params=["values", "values+hackathon"])
def hub_catalog(request, configmaps, tmp_path_factory):
    """The hub pod as the chart makes it: its files, and the config the chart's jupyterhub_config.py loads."""
    if reason := can_run():
        pytest.skip(reason)
    values = chart.merged_values(*chart.COMBINATIONS[request.param])
    pod = HubPod.lay_out(values, chart.SECRETS, configmaps, tmp_path_factory.mktemp("hubpod"))
    config = pod.load_config()
    return values, config, pod, config.CatalogSpawner.catalog_dir


@pytest.fixture(scope="package")
def deployment(hub_catalog):
    values, config, pod, _ = hub_catalog
    return values, config, pod.env


@pytest.fixture(scope="package")
def hub_app(deployment):
    from jupyterhub.app import JupyterHub

    _, config, _ = deployment
    return JupyterHub(config=config)

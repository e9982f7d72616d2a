"""One call that makes a JupyterHub a datalab, in jupyterhub_config.py:

    import hub
    hub.configure(c)

after your own settings (spawner class and its catalog settings, `c.JupyterHub.load_roles`, the
CredentialBroker section). It:
- scrubs tokens, OAuth codes and states from every log line of the hub (hub/log_scrubbing.py);
- puts the request guards before JupyterHub's own handlers, whatever the authenticator (hub/overrides.py):
  oversized spawn requests (REST and form) refused before they are read, tokens for another user that
  would hold the credentials scope refused;
- checks the catalog the spawner is configured with (an invalid one stops the hub, every problem named)
  and adds the banner that shows a refused catalog change to admins and the list's organisers;
- registers the credential renewal endpoint and its scope, held by users for themselves and by their
  servers' tokens (`server_token_scopes=False` leaves c.Spawner.server_token_scopes alone);
- checks the Projects settings (groups that are projects, their buckets and Vault folders: hub/projects/);
- gives the catalog spawners the broker as their credentials provider;
- registers the Datalab pages (launch links, organiser pages, sharing) with their roles
  (`sharing_scopes=False`: users get no sharing scopes);
- with a Kubernetes spawner, starts its pod and event watchers while the hub starts, not at the first
  spawn (spawner/kube/watchers.py; `c.CatalogSpawner.watch_from_hub_start = False` leaves it to spawns).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


def configure(c: Any, *, sharing_scopes: bool = True, server_token_scopes: bool = True) -> None:
    """Configure the JupyterHub config `c` as a datalab (see the module docstring)."""
    from .catalog import configure_catalog
    from .credentials.api import configure_endpoint
    from .credentials.broker import CredentialBroker
    from .credentials.spawn import session_credentials
    from .log_scrubbing import install_log_scrubbing
    from .overrides import datalab_guards, install
    from .pages import configure_pages
    from .projects.settings import Projects

    install_log_scrubbing()
    install(datalab_guards())
    CredentialBroker(config=c)  # a wrong CredentialBroker setting stops the hub now, not at the first spawn
    Projects(config=c).check()  # so do project settings that cannot work (hub.projects.model.check_rules)
    configure_catalog(c)
    configure_endpoint(c, server_token_scopes=server_token_scopes)
    if "credentials_provider" not in c.CredentialsMixin:
        c.CredentialsMixin.credentials_provider = session_credentials
    if "projects_provider" not in c.CatalogOptionsMixin:
        from .projects.settings import member_projects

        c.CatalogOptionsMixin.projects_provider = member_projects
    configure_pages(c, sharing_scopes=sharing_scopes)
    watch_kubernetes_from_hub_start()


_STARTUP_TASKS: set[asyncio.Task] = set()


def watch_kubernetes_from_hub_start() -> None:
    """Schedule the Kubernetes watchers' start on the starting hub's event loop.

    JupyterHub has no startup hook other than its config, which it loads inside its running event loop
    (`JupyterHub.initialize` is a coroutine): the task runs once the config is loaded, while the hub
    initializes, and nothing waits for it. Anywhere else (no running loop, no JupyterHub application, a
    `jupyterhub` subcommand loading the config) this does nothing.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    from jupyterhub.app import JupyterHub

    if not JupyterHub.initialized():
        return
    app = JupyterHub.instance()
    if app.subapp is not None or app.generate_config or app.show_config or app.show_config_json:
        return
    task = loop.create_task(_start_kubernetes_watchers(app))
    _STARTUP_TASKS.add(task)
    task.add_done_callback(_STARTUP_TASKS.discard)


async def _start_kubernetes_watchers(app: Any) -> None:
    # A KubeSpawner subclass has imported kubespawner; a local hub has not (and need not pay for it).
    kubespawner = sys.modules.get("kubespawner")
    if kubespawner is None or not issubclass(app.spawner_class, kubespawner.KubeSpawner):
        return
    from spawner.kube.watchers import start_watchers

    await start_watchers(app.spawner_class, app.config, app.log)

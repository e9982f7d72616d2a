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
  (`sharing_scopes=False`: users get no sharing scopes).
"""

from __future__ import annotations

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

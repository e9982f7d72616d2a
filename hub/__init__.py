"""Hub side of the datalab: `hub.configure(c)` (config), login (auth), credentials (credentials/), the
catalog as the hub sees it (catalog), pages (pages/), the `datalab` command (cli/), the one-machine
stack (stack/) and its development IdP (idp/)."""


def configure(c, **kwargs) -> None:
    """Make the JupyterHub config `c` a datalab: see hub.config.configure."""
    from .config import configure as _configure

    _configure(c, **kwargs)

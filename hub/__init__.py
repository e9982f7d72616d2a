"""Hub side of the datalab: login (OIDC), credential broker, catalog pages, CLI, one-machine stack."""

"""Project spaces: IdP groups marked as projects get a bucket (or prefix), a Vault folder and sessions."""

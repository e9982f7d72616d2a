"""The session extension: S3 in the file browser, and S3/Vault credentials that never go stale."""

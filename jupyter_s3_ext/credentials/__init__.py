"""Session credentials that never go stale: S3 (AWS SDKs via credential_process) and Vault (token file).

For code in the session server (e.g. the S3 contents manager), fresh botocore credentials:
`botocore_session()`, `s3_client_kwargs()`, `refreshable_credentials()`, `aio_refreshable_credentials()`.
Imports are lazy so that the `datalab-credentials` command starts fast.
"""

from __future__ import annotations

_AWS = ("botocore_session", "s3_client_kwargs", "refreshable_credentials", "aio_refreshable_credentials")

__all__ = [*_AWS, "CredentialSource"]


def __getattr__(name):
    if name in _AWS:
        from . import aws

        return getattr(aws, name)
    if name == "CredentialSource":
        from .source import CredentialSource

        return CredentialSource
    raise AttributeError(name)

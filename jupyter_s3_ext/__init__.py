"""The session extension: S3 in the file browser, and S3/Vault credentials that never go stale."""


def _jupyter_server_extension_points():
    # Imported here, not at module level: `datalab-credentials` (run by AWS SDKs before requests)
    # imports this package and must not pay for importing jupyter_server.
    from .app import DatalabExtensionApp

    return [{"module": "jupyter_s3_ext", "app": DatalabExtensionApp}]

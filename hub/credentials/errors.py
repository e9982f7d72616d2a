"""What the broker says when an integration fails: the integration, the endpoint, what the server said."""

from __future__ import annotations


class BrokerError(Exception):
    """A required integration failed. `integration` is "s3" or "vault"; the message is safe to show."""

    def __init__(self, integration: str, message: str):
        super().__init__(message)
        self.integration = integration


def server_said(e: Exception) -> str:
    """What a server said, from a botocore/hvac error, without request details."""
    response = getattr(e, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip().rstrip(":")
    errors = getattr(e, "errors", None)
    if errors:
        return "; ".join(str(x) for x in errors)[:500]
    return f"{type(e).__name__}: {e}"[:500]

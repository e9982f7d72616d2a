"""SpawnException on every JupyterHub we support.

JupyterHub 6 has `jupyterhub.spawner.SpawnException`: a refused spawn (bad options, a cap, a Kubernetes
error) reaches the REST caller and the spawn page with its status and message, and no traceback is
logged. The chart 4.4.0 hub image ships JupyterHub 5.5, which lacks it but shows any `web.HTTPError`
the same way, taking the user-facing text from `jupyterhub_message`. This class gives both the same
interface (`message`, `reason`, `status_code`, `log_message`, `message_html`).
"""

from __future__ import annotations

from tornado import web

try:
    from jupyterhub.spawner import SpawnException
except ImportError:  # JupyterHub < 6

    class SpawnException(web.HTTPError):
        """A spawn refused by policy or by the backend, with the message the user sees."""

        # Plain attributes shadowing tornado's properties, as JupyterHub 6's class does.
        reason = ""
        status_code = 400
        message = ""
        message_html = ""
        log_message = ""

        def __init__(self, message, *, reason, log_message="", message_html="", status_code=400):
            super().__init__(status_code, log_message or message)
            self.message = self.jupyterhub_message = message
            self.reason = reason
            self.log_message = log_message or message
            self.message_html = message_html
            if message_html:
                self.jupyterhub_html_message = message_html
            self.status_code = status_code

        def __str__(self):
            return f"{self.status_code} SpawnException(reason={self.reason}): {self.log_message}"


__all__ = ["SpawnException"]

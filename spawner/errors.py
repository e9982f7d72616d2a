"""SpawnException on every JupyterHub we support, showing users its message in words.

JupyterHub 6 has `jupyterhub.spawner.SpawnException`: a refused spawn (bad options, a cap, a Kubernetes
error) reaches the REST caller and the spawn page with its status and message, and no traceback is
logged. But its pages show `format_exception(e)`, which is `str(e)` ("400 SpawnException(reason=...):
...") unless the exception has `jupyterhub_message`: ours sets it, so the spawn form and the progress
page say the message only. The chart 4.4.0 hub image ships JupyterHub 5.5, which lacks the class but shows
any `web.HTTPError` the same way, taking the user-facing text from `jupyterhub_message`. Both versions get
the same interface (`message`, `reason`, `status_code`, `log_message`, `message_html`) plus `field`: the
option a refusal is about (None when it is about no single option), so the form can show it there.
"""

from __future__ import annotations

from tornado import web

try:
    from jupyterhub.spawner import SpawnException as _Base
except ImportError:  # JupyterHub < 6
    _Base = None


if _Base is not None:

    class SpawnException(_Base):
        """JupyterHub's SpawnException whose pages show the message, not the class name."""

        def __init__(self, message, *, reason, log_message="", message_html="", status_code=400, field=None):
            super().__init__(
                message, reason=reason, log_message=log_message, message_html=message_html,
                status_code=status_code,
            )  # fmt: skip
            self.jupyterhub_message = message
            if message_html:
                self.jupyterhub_html_message = message_html
            self.field = field

else:

    class SpawnException(web.HTTPError):
        """A spawn refused by policy or by the backend, with the message the user sees."""

        # Plain attributes shadowing tornado's properties, as JupyterHub 6's class does.
        reason = ""
        status_code = 400
        message = ""
        message_html = ""
        log_message = ""

        def __init__(self, message, *, reason, log_message="", message_html="", status_code=400, field=None):
            super().__init__(status_code, log_message or message)
            self.message = self.jupyterhub_message = message
            self.reason = reason
            self.log_message = log_message or message
            self.message_html = message_html
            if message_html:
                self.jupyterhub_html_message = message_html
            self.status_code = status_code
            self.field = field

        def __str__(self):
            return f"{self.status_code} SpawnException(reason={self.reason}): {self.log_message}"


__all__ = ["SpawnException"]

"""What the hub logs of renewals: each token's first sight of a set of credentials at info, repeats at debug.

1,000 sessions renewing every minute would write 2,000 info lines a minute (JupyterHub's access line and
ours), which costs the hub CPU and drowns the log. So:
- `Told` remembers, for the last MAX_TOKENS tokens, which credentials each was last given: the endpoint logs
  at info when a token gets credentials it was not given before (a new token, new keys after a mint or a
  forced renewal) and at debug when it gets the same ones again. Who holds which credentials is therefore
  still in the info log; refusals and failures stay at warning.
- `log_request` is JupyterHub's access log (tornado's `log_function`, jupyterhub.log.log_request) with a
  successful renewal at debug; every other request, and a renewal that took a second or more, is logged
  by upstream's function as before. The request metrics are recorded for every request, as upstream does.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from jupyterhub.log import access_log
from jupyterhub.log import log_request as upstream_log_request
from jupyterhub.metrics import prometheus_log_method

MAX_TOKENS = 20_000  # tokens remembered; past that the oldest seen is forgotten (logged at info again)


def fingerprint(document) -> tuple:
    """What tells one set of credentials from the next (never a secret): key id and expiry times."""
    s3, vault = document.s3, document.vault
    return (
        s3.access_key_id if s3 else None,
        s3.expiration if s3 else None,
        vault.expiration if vault else None,
    )


class Told:
    """Token id -> fingerprint of the credentials it was last given (least recently given dropped first)."""

    def __init__(self, max_tokens: int = MAX_TOKENS):
        self.max_tokens = max_tokens
        self._last: OrderedDict[str, tuple] = OrderedDict()

    def first_time(self, token_id: str, document) -> bool:
        """Whether `token_id` is given these credentials for the first time (and remember it was)."""
        mark = fingerprint(document)
        new = self._last.get(token_id) != mark
        self._last[token_id] = mark
        self._last.move_to_end(token_id)
        while len(self._last) > self.max_tokens:
            self._last.popitem(last=False)
        return new


def renewal_log_function(handler_class: type):
    """A tornado `log_function`: upstream's access log, with successful requests to `handler_class` at
    debug (a second or slower: info, as upstream does)."""

    def log_request(handler) -> None:
        request_ms = 1000.0 * handler.request.request_time()
        if not (isinstance(handler, handler_class) and handler.get_status() == 200 and request_ms < 1000):
            return upstream_log_request(handler)
        if access_log.isEnabledFor(logging.DEBUG):
            user = getattr(handler.current_user, "name", "")
            access_log.debug(
                "200 %s %s (%s@%s) %.2fms",
                handler.request.method,
                handler.request.path,  # no query: ?force=1 at most, but upstream scrubs queries too
                user,
                handler.request.remote_ip,
                request_ms,
            )
        prometheus_log_method(handler)

    return log_request

"""No query string in the session's access log: a URL of the session may carry secrets in its query.

Jupyter Server's and JupyterHub's request loggers (whichever the server uses) write
`<status> <method> <uri> (<user>@<ip>) <time>ms [referer=<url>]` and scrub only parameters named like
tokens. On one machine a session's log is a file the hub shows; on Kubernetes the pod's log. A record
factory rather than replacing the server's `log_function` (which the single-user extension sets too):
every record of the process is seen, whatever loads first.
"""

from __future__ import annotations

import logging
import re

REMOVED = "?[query removed]"
# The request line of an access-log message, and a referer it quotes: the query goes, the path stays.
_REQUEST = re.compile(r"^(?P<lead>\d{3} [A-Z]+ [^\s?]*)\?\S*")
_REFERER = re.compile(r"(?P<lead>referer=[^\s?]*)\?\S*")


def without_queries(message: str) -> str:
    """An access-log message with the query of its URI (and of its referer) removed."""
    if "?" not in message:
        return message
    message = _REQUEST.sub(lambda m: m["lead"] + REMOVED, message, count=1)
    return _REFERER.sub(lambda m: m["lead"] + REMOVED, message)


def install() -> None:
    """Make every access-log record of this process lose its queries (once, however often called)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "drops_queries", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit: logging reports that when the record is written
            return record
        cleaned = without_queries(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return record

    factory.drops_queries = True
    logging.setLogRecordFactory(factory)

"""Keep tokens, OAuth codes and states out of the hub's log: every log record is scrubbed as it is made.

JupyterHub's access log scrubs the query of the request it logs (jupyterhub.log._scrub_uri); other lines
do not. Tornado's log_exception writes the request line and its repr ("Uncaught exception GET
/hub/oauth_callback?code=...&state=..."), its HTTPError warnings the request line, and oauthenticator
prints a state it could not decode or match. `install_log_scrubbing()` (called by hub.configure) makes every
record of the process pass through `scrub_record`: its message, exception text and stack text lose

- the value of every query parameter whose name contains token, auth, key, code, state or _xsrf (the
  names JupyterHub's access log scrubs), wherever a `?name=value` or `&name=value` appears in the text;
- the state that oauthenticator's decode and mismatch messages quote;
- the whole query of a user server's URL (`/user/<name>/...?...`, also as `/hub/user/...` when the hub
  answers for a server that is not running): it belongs to the session and may carry its secrets.

A record factory rather than a filter on some loggers: a logger's filter never sees the records of its
child loggers (oauthlib's, for one), and JupyterHub replaces its handlers (with their filters) when the
configuration sets the log level.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote

SECRET = "[secret]"
# Query parameters whose value is scrubbed: a name containing one of these (jupyterhub.log.SCRUB_PARAM_KEYS).
SECRET_PARAMS = ("token", "auth", "key", "code", "state", "_xsrf")
QUERY_PARAM = re.compile(r"(?P<lead>[?&;](?P<name>[^=&?#\s'\"<>]+)=)(?P<value>[^&#\s'\"<>]*)")
# oauthenticator 17.4 (oauth2.py): the states it quotes; the rest of the line is the state.
USER_SERVER_QUERY = re.compile(r"(?P<lead>/user/[^\s?'\"<>]*)\?[^\s'\"<>]*")
QUERY_REMOVED = "?[query removed]"
UPSTREAM_STATE_MESSAGES = re.compile(
    r"(?P<lead>Failed to (?:b64|json)-decode state: |OAuth state mismatch: ).+"
)


def scrub(text: str) -> str:
    """`text` without the values of secret query parameters and the states oauthenticator quotes."""
    if "/user/" in text and "?" in text:
        text = USER_SERVER_QUERY.sub(lambda m: m["lead"] + QUERY_REMOVED, text)
    if "=" in text:
        text = QUERY_PARAM.sub(_scrub_param, text)
    if "state" in text:
        text = UPSTREAM_STATE_MESSAGES.sub(lambda m: m["lead"] + SECRET, text)
    return text


def _scrub_param(m: re.Match) -> str:
    name = m["name"].lower()
    if m["value"] and any(secret in name for secret in SECRET_PARAMS):
        return m["lead"] + SECRET
    if name == "next" and "user" in m["value"]:  # a user server's URL, percent-encoded, to go back to
        target = unquote(m["value"])
        if "/user/" in target and "?" in target:
            return m["lead"] + quote(target.partition("?")[0], safe="/") + quote(QUERY_REMOVED, safe="")
    return m[0]


def _format_exception(exc_info) -> str:
    try:  # the hub's own formatter, which the hub's log would have used
        from jupyterhub.log import CoroutineLogFormatter

        return CoroutineLogFormatter().formatException(exc_info)
    except ImportError:
        return logging.Formatter().formatException(exc_info)


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub the record's message, exception text and stack text (the exception is formatted now)."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: logging reports that when the record is written
        message = None
    if message is not None:
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _format_exception(record.exc_info)
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


def install_log_scrubbing() -> None:
    """Make every log record of this process go through scrub_record (once, however often called)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "scrubs_secrets", False):
        return

    def factory(*args, **kwargs):
        return scrub_record(previous(*args, **kwargs))

    factory.scrubs_secrets = True
    logging.setLogRecordFactory(factory)

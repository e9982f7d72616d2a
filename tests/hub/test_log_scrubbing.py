"""hub/log_scrubbing.py: no token, OAuth code or state in a log line, whichever logger writes it.

The hub itself, with the IdP dying during a sign-in, is tests/hub/test_auth.py's
test_an_idp_gone_during_the_code_exchange_gets_a_clear_error_and_leaves_no_secret_in_the_log.
"""

from __future__ import annotations

import io
import logging

import pytest
from jupyterhub.log import SCRUB_PARAM_KEYS, CoroutineLogFormatter, _scrub_uri

from hub.log_scrubbing import SECRET_PARAMS, install_log_scrubbing, scrub

CALLBACK = "/hub/oauth_callback?code=c0de-value&state=eyJzdGF0ZV9pZCI6ICJhYmMifQ==&iss=http%3A%2F%2Fidp"


def test_secret_query_parameters_are_scrubbed_wherever_they_appear():
    # Tornado's log_exception: the request summary, then the request's repr.
    line = (
        f"Uncaught exception GET {CALLBACK} (127.0.0.1)\n"
        f"HTTPServerRequest(protocol='http', host='hub', method='GET', uri='{CALLBACK}', version='HTTP/1.1')"
    )
    out = scrub(line)
    assert "c0de-value" not in out and "eyJzdGF0ZV9pZCI6ICJhYmMifQ" not in out
    assert out.count("code=[secret]&state=[secret]&iss=http%3A%2F%2Fidp") == 2
    assert out.endswith("version='HTTP/1.1')")
    # Any name containing a secret word, in any case; other parameters are kept.
    assert scrub("GET /x?next=/hub/home&Access_Token=t0k&api_key=k3y&_xsrf=x5") == (
        "GET /x?next=/hub/home&Access_Token=[secret]&api_key=[secret]&_xsrf=[secret]"
    )
    assert scrub("nothing to see: a=b, ratio 1=1") == "nothing to see: a=b, ratio 1=1"


def test_scrubbing_agrees_with_jupyterhubs_access_log():
    assert set(SCRUB_PARAM_KEYS) <= set(SECRET_PARAMS)
    for uri in (
        CALLBACK,
        "/hub/login?next=%2Fhub%2F&token=abc",
        "/hub/api/users?x=1&authcode=9",
        "/hub/home",
    ):
        assert scrub(uri) == _scrub_uri(uri)
        assert scrub(_scrub_uri(uri)) == _scrub_uri(uri)  # an access log line stays as it is


def test_the_query_of_a_user_servers_url_is_removed_wherever_it_appears():
    """It belongs to the session (an app's own parameters, a presigned URL) and may carry its secrets."""
    line = (
        "302 GET /hub/user/ana/lab?presigned=s3cr3t-1 -> /hub/spawn/ana?next=%2Fhub%2Fuser%2Fana%2Flab"
        "%3Fpresigned%3Ds3cr3t-1 (ana@127.0.0.1) 2.00ms"
    )
    out = scrub(line)
    assert "s3cr3t" not in out
    assert out.startswith(
        "302 GET /hub/user/ana/lab?[query removed] -> /hub/spawn/ana?next=/hub/user/ana/lab"
    )
    assert scrub("200 GET /user/ana/proxy/8050/?sig=abc&x=1 (ana@127.0.0.1) 1ms") == (
        "200 GET /user/ana/proxy/8050/?[query removed] (ana@127.0.0.1) 1ms"
    )
    assert scrub("200 GET /hub/api/users?limit=5 (x@1) 1ms") == "200 GET /hub/api/users?limit=5 (x@1) 1ms"


def test_the_states_oauthenticator_quotes_are_scrubbed():
    assert scrub("OAuth state mismatch: 9ee0e4101b52 != ffffffff") == "OAuth state mismatch: [secret]"
    assert scrub("Failed to b64-decode state: b'eyJz!!'") == "Failed to b64-decode state: [secret]"
    assert scrub('Failed to json-decode state: {"state_id": "9ee"') == "Failed to json-decode state: [secret]"


@pytest.fixture
def hub_like_log():
    """A logger set up as JupyterHub sets its own (its formatter), a child logger, a clean record factory."""
    factory = logging.getLogRecordFactory()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(CoroutineLogFormatter(fmt="%(levelname)s %(name)s %(message)s"))
    parent = logging.getLogger("datalab-test-hub")
    parent.addHandler(handler)
    parent.propagate = False
    parent.setLevel(logging.DEBUG)
    try:
        yield logging.getLogger("datalab-test-hub.child"), out
    finally:
        parent.removeHandler(handler)
        logging.setLogRecordFactory(factory)


def test_every_record_is_scrubbed_message_arguments_and_exception_text(hub_like_log):
    log, out = hub_like_log
    install_log_scrubbing()
    install_log_scrubbing()  # once is enough: a second call changes nothing
    log.warning("%d %s: failed", 503, f"GET {CALLBACK} (127.0.0.1)")
    try:
        raise RuntimeError("fetching https://idp/userinfo?access_token=s3cret-at failed, 100% sure")
    except RuntimeError:
        log.exception("Uncaught exception %s\n%r", f"GET {CALLBACK}", {"uri": CALLBACK})
    log.info("no secret here: %s=%d%%", "ratio", 5)
    text = out.getvalue()
    for secret in ("c0de-value", "eyJzdGF0ZV9pZCI6ICJhYmMifQ", "s3cret-at"):
        assert secret not in text
    assert "503 GET /hub/oauth_callback?code=[secret]&state=[secret]&iss=" in text
    assert "RuntimeError: fetching https://idp/userinfo?access_token=[secret] failed, 100% sure" in text
    assert "Traceback" in text  # the exception is still there, only scrubbed
    assert text.rstrip().endswith("no secret here: ratio=5%")

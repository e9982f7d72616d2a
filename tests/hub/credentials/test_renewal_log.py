"""A real hub and IdP (static S3 keys, no Vault): what the hub logs of renewals, and that the cheaper
renewal path still checks the token on every request.

Repeated renewals are logged at debug (ours and JupyterHub's access line), a token's first credentials and
forced renewals at info, refusals at warning; a revoked token is refused from the next request on.
"""

from __future__ import annotations

import re

import pytest

from tests.support.credentials_hub import new_secret, own_token, run_credentials_hub, run_hub_idp, signed_in

USERS = {"alice": {"password": "alice-pw", "groups": ["datalab-users"]}}
ENDPOINT = "/datalab/credentials"
SCOPES = ["custom:datalab-credentials:read!user"]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    work = tmp_path_factory.mktemp("renewlog")
    with run_hub_idp(work, USERS) as (idp, client_secret):
        broker = {
            "s3_mode": "required",
            "s3_endpoint": "http://127.0.0.1:9",  # static keys: nothing is asked of S3
            "s3_static_access_key_id": "static-key-id",
            "s3_static_secret_access_key": new_secret(),
        }
        with run_credentials_hub(work, idp, client_secret, broker=broker) as hub:
            yield hub


@pytest.fixture(scope="module")
def browser(hub):
    return signed_in(hub, "alice", "alice-pw")


def token_id(hub, note: str) -> str:
    tokens = hub.api("GET", "/users/alice/tokens").json()["api_tokens"]
    return next(t["id"] for t in tokens if t["note"] == note)


def levels(log: str, pattern: str) -> list[str]:
    """The level letters (D, I, W, ...) of the hub log lines matching `pattern`."""
    return re.findall(r"^\[(\w) [^\]]*\] .*" + pattern, log, flags=re.MULTILINE)


def test_repeats_are_logged_at_debug_and_a_tokens_first_credentials_at_info(hub, browser):
    token = own_token(hub.url, browser, "alice", SCOPES, note="repeats")
    tid = token_id(hub, "repeats")
    for _ in range(3):
        assert hub.api("GET", ENDPOINT, token=token).status_code == 200
    ours = rf"Credentials of alice given to token {tid} \(note 'repeats'\) of alice"
    assert levels(hub.log(), ours + "$") == ["I"]  # the first answer, at info
    assert levels(hub.log(), ours + r" \(the same as before\)$") == ["D", "D"]
    assert hub.api("GET", ENDPOINT + "?force=1", token=token).status_code == 200
    assert levels(hub.log(), ours + r" \(forced renewal\)") == ["I"]
    # JupyterHub's access line of a successful renewal is at debug, with who asked; other requests as before
    access = levels(hub.log(), r"200 GET /hub/api/datalab/credentials \(alice@127\.0\.0\.1\)")
    assert access and set(access) == {"D"}, access
    assert "I" in levels(hub.log(), r"200 GET /hub/api/users/alice/tokens")


def test_another_token_of_the_same_user_is_logged_at_info(hub, browser):
    first = own_token(hub.url, browser, "alice", SCOPES, note="first")
    second = own_token(hub.url, browser, "alice", SCOPES, note="second")
    for token in (first, second, first, second):
        assert hub.api("GET", ENDPOINT, token=token).status_code == 200
    for note in ("first", "second"):
        ours = rf"Credentials of alice given to token {token_id(hub, note)} \(note '{note}'\) of alice"
        assert levels(hub.log(), ours + "$") == ["I"]


def test_a_revoked_token_is_refused_from_the_next_request_on(hub, browser):
    token = own_token(hub.url, browser, "alice", SCOPES, note="revoked")
    tid = token_id(hub, "revoked")
    assert hub.api("GET", ENDPOINT, token=token).status_code == 200
    assert hub.api("DELETE", f"/users/alice/tokens/{tid}").status_code == 204
    refused = hub.api("GET", ENDPOINT, token=token)
    assert refused.status_code == 403, refused.text
    assert "only given to a user's own token" in refused.json()["message"]
    assert "W" in levels(hub.log(), r"403 GET /hub/api/datalab/credentials")  # refusals stay visible


def test_a_renewal_still_records_the_tokens_activity(hub, browser):
    token = own_token(hub.url, browser, "alice", SCOPES, note="activity")
    assert hub.api("GET", ENDPOINT, token=token).status_code == 200
    tokens = hub.api("GET", "/users/alice/tokens").json()["api_tokens"]
    assert next(t for t in tokens if t["note"] == "activity")["last_activity"] is not None


def test_the_operators_activity_resolution_and_log_function_are_kept():
    from traitlets.config import Config

    from hub.credentials.api import ACTIVITY_RESOLUTION, configure_endpoint

    ours = Config()
    configure_endpoint(ours)
    assert ours.JupyterHub.activity_resolution == ACTIVITY_RESOLUTION
    assert callable(ours.JupyterHub.tornado_settings["log_function"])

    def mine(handler):
        pass

    theirs = Config()
    theirs.JupyterHub.activity_resolution = 10
    theirs.JupyterHub.tornado_settings = {"log_function": mine, "slow_spawn_timeout": 30}
    configure_endpoint(theirs)
    assert theirs.JupyterHub.activity_resolution == 10
    assert theirs.JupyterHub.tornado_settings == {"log_function": mine, "slow_spawn_timeout": 30}

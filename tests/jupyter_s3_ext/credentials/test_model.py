"""The pure core: when to renew, what tools are given (parsing is test_document's)."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta

from jupyter_s3_ext.credentials.document import CacheDocument, CachedS3, CachedVault
from jupyter_s3_ext.credentials.model import (
    adopt_renewal,
    aws_config_text,
    backoff_delay,
    credential_process_output,
    describe,
    due_at,
    expected_parts,
    export_lines,
    first_seen,
    freshest,
    is_due,
    missing_message,
    missing_parts,
    newer,
    next_wakeup,
    session_env,
    session_state,
    with_lifetime,
)
from tests.jupyter_s3_ext.credentials.samples import HUB_JSON, SECRETS

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def S3(key, secret, **kw) -> CachedS3:
    return CachedS3(access_key_id=key, secret_access_key=secret, **kw)


def Vault(token, **kw) -> CachedVault:
    return CachedVault(token=token, **kw)


def parse(data) -> CacheDocument:
    return CacheDocument.parse(data, source="hub")


def test_renewal_is_due_once_the_fraction_of_the_lifetime_is_spent():
    s3 = with_lifetime(S3("a", "b", expiration=T0 + timedelta(seconds=60)), None, T0)
    assert s3.lifetime == 60
    assert due_at(s3, 0.5) == T0 + timedelta(seconds=30)
    assert not is_due(s3, T0 + timedelta(seconds=29), 0.5)
    assert is_due(s3, T0 + timedelta(seconds=30), 0.5)
    # The same credential seen again later keeps its original lifetime (so it stays due) ...
    later = with_lifetime(S3("a", "b", expiration=s3.expiration), s3, T0 + timedelta(seconds=40))
    assert later.lifetime == 60
    # ... a new one gets its own.
    new = with_lifetime(S3("c", "d", expiration=T0 + timedelta(seconds=100)), s3, T0 + timedelta(seconds=40))
    assert new.lifetime == 60
    # Credentials without expiry are never due.
    assert not is_due(S3("a", "b"), T0 + timedelta(days=999), 0.5)


def test_next_wakeup_takes_the_earliest_due_credential_and_retries_soon_when_still_due():
    s3 = S3("a", "b", expiration=T0 + timedelta(seconds=3600), lifetime=3600)
    vault = Vault("t", expiration=T0 + timedelta(seconds=60), lifetime=60)
    kw = {"fraction": 0.5, "min_interval": 1, "max_interval": 3600}
    assert next_wakeup(CacheDocument(s3=s3, vault=vault), T0, **kw) == 30
    assert next_wakeup(CacheDocument(), T0, **kw) == 3600
    # The hub handed back the same credential, already due: look again at a quarter of what is left.
    assert next_wakeup(CacheDocument(vault=vault), T0 + timedelta(seconds=40), **kw) == 5
    assert next_wakeup(CacheDocument(vault=vault), T0 + timedelta(seconds=59), **kw) == 1


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_delay(n, 2, 60) for n in (1, 2, 3, 4, 5, 6, 7)] == [2, 4, 8, 16, 32, 60, 60]


def test_the_longer_lived_credential_wins():
    a = S3("a", "x", expiration=T0)
    b = S3("b", "y", expiration=T0 + timedelta(seconds=1))
    assert newer(a, b) is b and newer(b, a) is b
    assert newer(None, a) is a and newer(a, None) is a
    static = S3("s", "z")
    assert newer(b, static) is static


def test_credential_process_output_is_aws_version_1():
    doc = parse(HUB_JSON)
    assert credential_process_output(doc.s3) == {
        "Version": 1,
        "AccessKeyId": "AKIAEXAMPLE",
        "SecretAccessKey": "s3cr3t-key-value",
        "SessionToken": "session-token-value",
        "Expiration": "2026-11-27T09:00:00Z",
    }
    static = credential_process_output(S3("a", "b"))
    assert "Expiration" not in static and "SessionToken" not in static


def test_aws_config_has_the_process_endpoint_and_region_but_no_secret():
    doc = parse(HUB_JSON)
    text = aws_config_text("/venv/bin/datalab-credentials aws", doc.s3, "us-east-1")
    assert "[default]\ncredential_process = /venv/bin/datalab-credentials aws\n" in text
    assert "region = eu-west-3" in text and "endpoint_url = http://127.0.0.1:8333" in text
    assert "addressing_style = path" in text
    for secret in SECRETS:
        assert secret not in text


def test_session_env_is_onyxia_compatible_and_not_secret():
    env = session_env(parse(HUB_JSON), "us-east-1")
    assert env == {
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:8333",
        "AWS_S3_ENDPOINT": "127.0.0.1:8333",
        "DATALAB_S3_BUCKET": "user-alice",
        "VAULT_ADDR": "http://127.0.0.1:8200",
        "VAULT_MOUNT": "secret",
        "VAULT_TOP_DIR": "users/alice",
    }


def test_export_lines_are_shell_safe():
    data = json.loads(json.dumps(HUB_JSON))
    data["s3"]["secret_access_key"] = "it's $(rm -rf /) `x`"
    lines = export_lines(parse(data), "us-east-1")
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in lines.splitlines()
        if line.startswith("export ")
    )
    assert shlex.split(exports["AWS_SECRET_ACCESS_KEY"]) == ["it's $(rm -rf /) `x`"]
    assert shlex.split(exports["VAULT_TOKEN"]) == ["hvs.vault-token-value"]
    assert "# S3 credentials expire at 2026-11-27T09:00:00Z" in lines


def test_describe_tells_expiry_and_no_secret():
    doc = parse(HUB_JSON)
    s3 = describe(doc.s3, T0)
    assert s3["expires_in_seconds"] == 3600 and not s3["expired"] and s3["temporary"]
    vault = describe(doc.vault, T0 + timedelta(minutes=11))
    assert vault["expired"] and vault["renewable"]
    text = json.dumps([s3, vault])
    for secret in (*SECRETS, "AKIAEXAMPLE"):
        assert secret not in text


def test_a_document_read_from_a_file_is_stamped_and_the_longer_lived_parts_win():
    doc = first_seen(parse(HUB_JSON), T0)
    assert doc.s3.lifetime == 3600 and doc.vault.lifetime == 600 and doc.fetched_at == T0
    merged = freshest(_doc("OLD", "held"), doc)  # the old one ends at T0 + 60 s
    assert merged.s3.access_key_id == "AKIAEXAMPLE"
    assert merged.vault.token.get_secret_value() == "hvs.vault-token-value"
    assert merged.warnings == ("vault is optional",) and merged.fetched_at == T0
    assert freshest(None, doc) is doc and freshest(doc, None) is doc


def _doc(s3_key, vault_token, expires_in=60.0, now=T0):
    exp = now + timedelta(seconds=expires_in)
    s3 = S3(s3_key, "x", expiration=exp, lifetime=60) if s3_key else None
    vault = Vault(vault_token, expiration=exp, lifetime=60) if vault_token else None
    return CacheDocument(s3=s3, vault=vault)


def test_a_renewal_takes_new_s3_keys_but_keeps_a_healthy_vault_token():
    now = T0 + timedelta(seconds=30)
    merged, missing = adopt_renewal(
        _doc("OLD", "held"), _doc("NEW", "other", 60, now), need_vault=False, now=now
    )
    assert (
        merged.s3.access_key_id == "NEW" and merged.vault.token.get_secret_value() == "held" and missing == []
    )
    merged, _ = adopt_renewal(_doc("OLD", "held"), _doc("NEW", "other", 60, now), need_vault=True, now=now)
    assert merged.vault.token.get_secret_value() == "other"


def test_null_parts_from_the_hub_keep_current_credentials_while_valid_and_are_reported():
    now = T0 + timedelta(seconds=30)
    merged, missing = adopt_renewal(
        _doc("OLD", "held"), CacheDocument(warnings=("S3 down",)), need_vault=True, now=now
    )
    assert merged.s3.access_key_id == "OLD" and merged.vault.token.get_secret_value() == "held"
    assert missing == ["S3", "Vault"] and merged.warnings == ("S3 down",)
    later = T0 + timedelta(seconds=61)
    merged, missing = adopt_renewal(_doc("OLD", "held"), CacheDocument(), need_vault=False, now=later)
    assert merged.s3 is None and merged.vault is None and missing == ["S3"]


def test_what_the_session_should_have_comes_from_the_hubs_variables():
    assert expected_parts({"DATALAB_S3_BUCKET": "user-alice", "VAULT_ADDR": "http://v"}) == ["s3", "vault"]
    assert expected_parts({"AWS_ENDPOINT_URL": "http://s3"}) == ["s3"]
    assert expected_parts({"VAULT_ADDR": ""}) == []


def test_a_part_never_given_or_expired_is_missing_and_named_with_the_hubs_words():
    doc = CacheDocument.parse(HUB_JSON, source="t")
    no_s3 = doc.model_copy(update={"s3": None, "warnings": ("S3 credentials for alice: STS unreachable",)})
    assert missing_parts(doc, ["s3", "vault"], T0) == []
    assert missing_parts(no_s3, ["s3", "vault"], T0) == ["s3"]
    assert missing_parts(no_s3, ["vault"], T0) == []  # S3 not served here: nothing to wait for
    assert missing_parts(doc, ["s3", "vault"], T0 + timedelta(days=1)) == ["s3", "vault"]
    assert missing_parts(None, ["vault"], T0) == ["vault"]
    message = missing_message(["s3"], no_s3.warnings)
    assert message == "no S3 credentials yet (S3 credentials for alice: STS unreachable)"
    assert missing_message(["s3", "vault"], ()) == "no S3 and Vault credentials yet"
    assert session_state(["vault"], 3) == "waiting"
    assert (session_state([], 2), session_state([], 0)) == ("retrying", "ready")

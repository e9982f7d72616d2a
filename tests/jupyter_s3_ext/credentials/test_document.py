"""The credentials document both sides use: parsing, errors, secrets, times, the cache's extension of it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from jupyter_s3_ext.credentials.document import (
    CacheDocument,
    CachedS3,
    CredentialsDocument,
    CredentialsError,
    S3Credentials,
    format_time,
    parse_time,
)
from tests.jupyter_s3_ext.credentials.samples import HUB_JSON, SECRETS

# A cache file exactly as the session wrote it before the document was defined with pydantic
# (model.bundle_to_json + json.dumps(indent=1) of commit 48a15dd).
OLD_CACHE_FILE = """{
 "version": 1,
 "fetched_at": "2026-11-27T08:00:00.123456Z",
 "s3": {
  "access_key_id": "AKIAOLD",
  "secret_access_key": "old-s3cr3t",
  "session_token": "old-session-token",
  "expiration": "2026-11-27T09:00:00.250000Z",
  "endpoint": "http://127.0.0.1:8333",
  "region": "us-east-1",
  "bucket": "user-alice",
  "prefix": null,
  "lifetime": 3600.126544
 },
 "vault": {
  "token": "hvs.old-token",
  "expiration": "2026-11-27T08:10:00Z",
  "addr": "http://127.0.0.1:8200",
  "mount": "secret",
  "top_dir": "users/alice",
  "renewable": true,
  "lifetime": 599.876544
 },
 "warnings": []
}"""


def test_the_hub_json_parses_and_round_trips_through_the_cache_format():
    doc = CacheDocument.parse(HUB_JSON, source="hub")
    assert doc.s3.expiration == datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert doc.s3.prefix is None  # an empty string means none
    assert doc.s3.secret_access_key.get_secret_value() == "s3cr3t-key-value"
    assert doc.vault.renewable and doc.vault.top_dir == "users/alice"
    assert doc.warnings == ("vault is optional",) and doc.s3.lifetime is None
    again = CacheDocument.parse(json.loads(json.dumps(doc.to_json())), source="cache")
    assert again == doc
    wire = CredentialsDocument.parse(HUB_JSON, source="hub")
    assert wire.to_json()["vault"]["expiration"] == "2026-11-27T08:10:00Z"
    assert CacheDocument.parse(wire.to_json(), source="hub") == doc


def test_the_cache_is_the_wire_document_plus_lifetimes():
    cache = CacheDocument.parse(json.loads(OLD_CACHE_FILE), source="cache")
    assert isinstance(cache, CredentialsDocument) and isinstance(cache.s3, S3Credentials)
    wire = CredentialsDocument.parse(cache.to_json(), source="cache")  # a wire reader ignores the rest
    assert set(wire.to_json()["s3"]) == set(HUB_JSON["s3"])
    assert set(wire.to_json()["vault"]) == set(HUB_JSON["vault"])
    assert set(wire.to_json()) == {"s3", "vault", "warnings"}


def test_a_cache_file_written_by_the_old_code_still_loads_and_is_written_back_the_same():
    doc = CacheDocument.parse(json.loads(OLD_CACHE_FILE), source="credentials.json")
    assert doc.version == 1 and doc.fetched_at == datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=UTC)
    assert doc.s3.access_key_id == "AKIAOLD" and doc.s3.lifetime == 3600.126544
    assert doc.s3.session_token.get_secret_value() == "old-session-token"
    assert doc.s3.expiration == datetime(2026, 11, 27, 9, 0, 0, 250000, tzinfo=UTC)
    assert doc.vault.token.get_secret_value() == "hvs.old-token" and doc.vault.lifetime == 599.876544
    assert doc.to_json() == json.loads(OLD_CACHE_FILE)


def test_null_and_missing_parts_mean_not_configured():
    for data in ({"s3": None, "vault": None, "warnings": None}, {}):
        doc = CacheDocument.parse(data, source="hub")
        assert doc.s3 is None and doc.vault is None and doc.warnings == ()
    assert CredentialsDocument().to_json() == {"s3": None, "vault": None, "warnings": []}


def test_unknown_keys_are_ignored():
    data = json.loads(json.dumps(HUB_JSON))
    data["s3"]["storage_class"] = "GLACIER"
    data["projects"] = [{"bucket": "project-x"}]
    doc = CacheDocument.parse(data, source="hub")
    assert doc == CacheDocument.parse(HUB_JSON, source="hub")
    assert "projects" not in doc.to_json() and "storage_class" not in doc.to_json()["s3"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "hub: expected a JSON object, got list"),
        ({"s3": {"secret_access_key": "s3cr3t"}}, "hub: s3.access_key_id is missing"),
        ({"s3": {"access_key_id": "", "secret_access_key": "s3cr3t"}}, "hub: s3.access_key_id is missing"),
        (
            {"s3": {"access_key_id": "a", "secret_access_key": 3}},
            "hub: s3.secret_access_key: expected a string, got int",
        ),
        (
            {"s3": {"access_key_id": "a", "secret_access_key": ["s3cr3t"]}},
            "hub: s3.secret_access_key: expected a string, got list",
        ),
        (
            {"s3": {"access_key_id": "a", "secret_access_key": "s3cr3t", "expiration": "soon"}},
            "hub: s3.expiration: 'soon' is not an ISO 8601 date and time",
        ),
        (
            {"s3": {"access_key_id": "a", "secret_access_key": "s3cr3t", "lifetime": -1}},
            "hub: s3.lifetime: expected a positive number",
        ),
        ({"vault": "s3cr3t"}, "hub: vault: expected an object or null, got str"),
        ({"vault": {"addr": "http://x"}}, "hub: vault.token is missing"),
        (
            {"vault": {"token": "s3cr3t", "renewable": "perhaps"}},
            "hub: vault.renewable: expected true or false",
        ),
        ({"warnings": "oops"}, "hub: warnings: expected a list, got str"),
        ({"warnings": [1]}, "hub: warnings.0: expected a string, got int"),
        (
            {"s3": {"secret_access_key": "s3cr3t"}, "vault": {}},
            "hub: s3.access_key_id is missing; hub: vault.token is missing",
        ),
    ],
)
def test_an_invalid_document_is_refused_naming_source_and_field_never_the_secret(data, message):
    with pytest.raises(CredentialsError) as e:
        CacheDocument.parse(data, source="hub")
    assert str(e.value) == message
    assert "s3cr3t" not in str(e.value)


def test_secrets_are_not_in_repr_str_dumps_logs_or_errors(caplog):
    doc = CacheDocument.parse(HUB_JSON, source="hub")
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("document %s %r, part %s", doc, doc, doc.s3)
    shown = [repr(doc), str(doc), f"{doc.s3} {doc.vault}", doc.model_dump_json(), str(doc.model_dump())]
    shown.append(caplog.text)
    # pydantic's own errors (for code that builds a model itself) hide their input too.
    with pytest.raises(ValidationError) as e:
        CachedS3(access_key_id=7, secret_access_key="s3cr3t-key-value", session_token="session-token-value")
    shown.append(str(e.value))
    assert "AKIAEXAMPLE" in shown[0] and "**********" in shown[3]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text
    assert json.dumps(doc.to_json()).count("-value") == 3  # only to_json() gives the values


def test_times_are_iso_8601_with_z_and_naive_means_utc():
    assert parse_time("2026-11-27T09:00:00") == datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert parse_time("2026-11-27T10:00:00+01:00") == datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert parse_time("2026-11-27T10:00:00+01:00").tzinfo is UTC
    assert parse_time("") is None and parse_time(None) is None
    assert format_time(datetime(2026, 11, 27, 9)) == "2026-11-27T09:00:00Z"
    assert (
        format_time(datetime(2026, 11, 27, 10, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-27T09:00:00Z"
    )
    assert format_time(None) is None
    s3 = CachedS3(access_key_id="a", secret_access_key="b", expiration=datetime(2026, 11, 27, 9))
    assert s3.to_json()["expiration"] == "2026-11-27T09:00:00Z"
    with pytest.raises(ValueError, match="expected an ISO 8601 string, got int"):
        parse_time(1764234000)

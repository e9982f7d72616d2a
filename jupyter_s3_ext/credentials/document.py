"""The credentials document: what the hub hands a session, and the session's cache of it. Defined once here.

The hub builds a `CredentialsDocument` (hub.credentials.broker) and sends it as JSON: as the renewal
endpoint's answer (`GET /hub/api/datalab/credentials`) and as the secret file `credentials.json` at spawn.
The session reads it, and keeps it in its private cache, as a `CacheDocument`:

    {"s3":    {access_key_id, secret_access_key, session_token, expiration, endpoint, region, bucket, prefix,
               lifetime*} | null,
     "vault": {token, expiration, addr, mount, top_dir, renewable, lifetime*} | null,
     "warnings": [str, ...],
     "fetched_at"*, "version"*}                                         (* cache only)

How the cache extends the wire document: by subclassing, in the same flat layout (a `lifetime` in each part,
`fetched_at` and `version` at the top). That is the layout cache files have always had, so they still load;
every wire document (the spawn file, an endpoint answer) is then a valid cache document whose lifetimes are
not known yet, so the session reads all three with one reader; and a cache document is a wire document.

Rules for every reader:
- Secrets (`secret_access_key`, `session_token`, `token`) are pydantic `SecretStr`: repr, str, logs and
  `model_dump()` show `**********`. Only `to_json()` (writing the document for a session) and
  `.get_secret_value()` (handing one to a tool) give the value.
- Unknown keys are ignored (a tolerant reader): a session lives for days and its image is updated apart from
  the hub, so a session must keep reading the answers of a newer hub that added a field.
- An empty string means absent, like null. Times are ISO 8601 instants (`Z` when written, any offset read;
  naive means UTC).
- A document that is not valid raises CredentialsError naming its source and the field
  (`<path>: s3.access_key_id is missing`), never a value other than a time.

Kept to pydantic and the standard library: the hub imports it, and `datalab-credentials` starts with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    SerializationInfo,
    ValidationError,
)
from pydantic_core import PydanticCustomError

CACHE_VERSION = 1
_REVEAL = "reveal_secrets"  # serialisation context key: to_json() writes the secrets' values


class CredentialsError(ValueError):
    """Credentials that cannot be used; the message names what was wrong, never a secret value."""


# ---- times ------------------------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 instant (with Z or an offset; naive means UTC) or a datetime, in UTC; None for null or ""."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"expected an ISO 8601 string, got {type(value).__name__}")
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with `Z` (naive means UTC); None stays None."""
    if value is None:
        return None
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.isoformat().replace("+00:00", "Z")


# ---- field types --------------------------------------------------------------------------------------------
def _required(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, SecretStr) and not value.get_secret_value()):
        raise PydanticCustomError("missing", "is missing")
    return value


def _empty_is_none(value: Any) -> Any:
    if value == "" or (isinstance(value, SecretStr) and not value.get_secret_value()):
        return None
    return value


def _reveal(value: SecretStr | None, info: SerializationInfo) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if (info.context or {}).get(_REVEAL) else str(value)


Time = Annotated[datetime | None, PlainValidator(parse_time), PlainSerializer(format_time)]
Text = Annotated[str | None, BeforeValidator(_empty_is_none)]
RequiredText = Annotated[str, BeforeValidator(_required)]
Secret = Annotated[SecretStr, BeforeValidator(_required), PlainSerializer(_reveal)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_empty_is_none), PlainSerializer(_reveal)]
Lifetime = Annotated[float, Field(gt=0, strict=True)] | None


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True, defer_build=True)

    @classmethod
    def parse(cls, data: Any, *, source: str) -> Self:
        """Parsed JSON -> the model; CredentialsError naming `source` and the fields otherwise."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise CredentialsError(describe_errors(e, source)) from None

    def to_json(self) -> dict:
        """The JSON document with the secrets' values: only for the session (secret file, endpoint, cache)."""
        return self.model_dump(mode="json", context={_REVEAL: True})


# ---- the wire document (the hub writes it) ------------------------------------------------------------------
class S3Credentials(_Model):
    """Temporary (STS) or static S3 keys, and where to use them."""

    access_key_id: RequiredText
    secret_access_key: Secret
    session_token: OptionalSecret = None  # None: static keys
    expiration: Time = None  # None: they do not expire
    endpoint: Text = None
    region: Text = None
    bucket: Text = None
    prefix: Text = None


class VaultCredentials(_Model):
    """A Vault token, and the user's place in the KV mount."""

    token: Secret
    expiration: Time = None
    addr: Text = None
    mount: Text = None
    top_dir: Text = None
    renewable: Annotated[bool, BeforeValidator(lambda v: False if v is None else v)] = False


class CredentialsDocument(_Model):
    """The hub's answer: each part null when that integration is off or (optional) failed, with a warning."""

    s3: S3Credentials | None = None
    vault: VaultCredentials | None = None
    warnings: Annotated[tuple[str, ...], BeforeValidator(lambda v: () if v is None else v)] = ()


# ---- the session's cache (the same document, plus what renewal needs) ----------------------------------------
class CachedS3(S3Credentials):
    lifetime: Lifetime = None  # seconds it was valid for when first seen ("renew at half its life")


class CachedVault(VaultCredentials):
    lifetime: Lifetime = None


class CacheDocument(CredentialsDocument):
    s3: CachedS3 | None = None
    vault: CachedVault | None = None
    fetched_at: Time = None
    version: Annotated[int, Field(strict=True)] = CACHE_VERSION


# ---- error messages -----------------------------------------------------------------------------------------
def _message(error: dict, top: bool) -> str:
    kind, got = error["type"], type(error.get("input")).__name__
    if kind == "missing":
        return "is missing"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a JSON object, got {got}" if top else f"expected an object or null, got {got}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {got}"
    known = {
        "string_type": f"expected a string, got {got}",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
        "float_type": f"expected a number, got {got}",
        "int_type": f"expected an integer, got {got}",
        "greater_than": "expected a positive number",
    }
    return known.get(kind, error["msg"])


def describe_errors(error: ValidationError, source: str) -> str:
    """`<source>: <field> <what was wrong>` for each problem; types of inputs, never their values."""
    parts = []
    for e in error.errors(include_url=False):
        path = ".".join(str(p) for p in e["loc"])
        text = _message(e, top=not path)
        if not path:
            parts.append(f"{source}: {text}")
        elif e["type"] == "missing":
            parts.append(f"{source}: {path} {text}")
        else:
            parts.append(f"{source}: {path}: {text}")
    return "; ".join(parts)

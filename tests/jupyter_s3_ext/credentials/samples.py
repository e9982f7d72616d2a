"""One credentials document as the hub sends it (the renewal API's JSON), and the secret values in it."""

HUB_JSON = {
    "s3": {
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "s3cr3t-key-value",
        "session_token": "session-token-value",
        "expiration": "2026-11-27T09:00:00Z",
        "endpoint": "http://127.0.0.1:8333",
        "region": "eu-west-3",
        "bucket": "user-alice",
        "prefix": "",
    },
    "vault": {
        "token": "hvs.vault-token-value",
        "expiration": "2026-11-27T08:10:00+00:00",
        "addr": "http://127.0.0.1:8200",
        "mount": "secret",
        "top_dir": "users/alice",
        "renewable": True,
    },
    "warnings": ["vault is optional"],
}
SECRETS = ("s3cr3t-key-value", "session-token-value", "hvs.vault-token-value")

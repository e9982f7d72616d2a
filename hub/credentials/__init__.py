"""Session credentials on the hub side: the broker (broker: settings, cache, threads; s3: STS or static keys;
vault: JWT login; errors), the renewal endpoint sessions call (api), the provider the spawners call at spawn
(spawn), the user's id_token (tokens). The document they hand out is defined once, in
jupyter_s3_ext.credentials.document."""

"""The renewal endpoint's token lookup: JupyterHub's `APIToken.find` with one lean SQL query.

Upstream loads every token row of the prefix as an ORM object to compare hashes; here one Core query reads
only the id, hash and client of the unexpired tokens of the prefix, the hash is compared with upstream's
`compare_token`, and the matching token comes from the session (`db.get`, no query when it is loaded).
Same answers, about half the hub CPU (~0.2 ms less per renewal, measured in a real hub). A token whose
client is missing (a stale OAuth token, which upstream deletes) is handed to upstream's `find`.

Upstream parts this relies on (checked on JupyterHub 5.4 / 6.1): the `api_tokens` columns `id`, `prefix`,
`hashed`, `expires_at` and `client_id`, `APIToken.prefix_length`, `APIToken.now` and
`jupyterhub.utils.compare_token`; tests/hub/credentials/test_token_lookup.py compares both lookups.
"""

from __future__ import annotations

from jupyterhub import orm
from jupyterhub.utils import compare_token
from sqlalchemy import or_, select


def find_token(db, token: str) -> orm.APIToken | None:
    """The unexpired API token whose value is `token`, as `orm.APIToken.find(db, token)` gives it."""
    table = orm.APIToken.__table__
    query = select(table.c.id, table.c.hashed, table.c.client_id).where(
        table.c.prefix == token[: orm.APIToken.prefix_length],
        or_(table.c.expires_at.is_(None), table.c.expires_at >= orm.APIToken.now()),
    )
    for token_id, hashed, client_id in db.execute(query).all():
        if compare_token(hashed, token):
            if not client_id:
                return orm.APIToken.find(db, token)
            return db.get(orm.APIToken, token_id)
    return None

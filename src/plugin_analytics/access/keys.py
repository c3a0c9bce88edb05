"""Access keys made with `plugin-analytics keys create`: shown once, kept as digests, revocable.

A key is 256 random bits, so an unsalted SHA-256 digest is enough to keep it safe at rest (as
with GitHub tokens): nobody can guess a key from its digest, and checking one costs a microsecond
on the ingestion hot path, where a password hash would cost tens of milliseconds.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, or_, select, update

from plugin_analytics.db.models import api_key_table
from plugin_analytics.privacy.audit import record

Kind = Literal["write", "admin"]
PREFIXES: dict[str, str] = {"write": "pa_write_", "admin": "pa_admin_"}
ID = re.compile(r"[0-9]{1,18}")  # an id as `keys list` shows it (and that fits a BIGINT)
SHOWN_CHARS = 6  # of the random part, after the prefix: enough to tell keys apart in a list


def digest(key: str) -> str:
    """The SHA-256 digest a key is stored and looked up by."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class NewKey:
    id: int
    kind: Kind
    name: str
    key: str  # the only time it exists in the clear


def create_key(connection: Connection, kind: Kind, name: str) -> NewKey:
    """Make a key of `kind` and store its digest; the caller shows the key once."""
    key = PREFIXES[kind] + secrets.token_urlsafe(32)
    key_id = connection.execute(
        insert(api_key_table)
        .values(
            kind=kind,
            name=name,
            prefix=key[: len(PREFIXES[kind]) + SHOWN_CHARS],
            digest=digest(key),
            created_at=datetime.now(UTC),
        )
        .returning(api_key_table.c.id)
    ).scalar_one()
    record(connection, "key_created", 1, {"key_id": key_id, "kind": kind, "name": name})
    return NewKey(key_id, kind, name, key)


def revoke_key(connection: Connection, id_or_key: str) -> dict[str, Any] | None:
    """Revoke the key with this id (as `keys list` shows it) or this very key; None when there
    is no such key. Revoking a revoked key changes nothing."""
    match = api_key_table.c.digest == digest(id_or_key)
    if ID.fullmatch(id_or_key):
        match = or_(match, api_key_table.c.id == int(id_or_key))
    row = connection.execute(select(api_key_table).where(match)).mappings().first()
    if row is None:
        return None
    if row["revoked_at"] is None:
        revoked_at = datetime.now(UTC)
        connection.execute(
            update(api_key_table)
            .where(api_key_table.c.id == row["id"])
            .values(revoked_at=revoked_at)
        )
        record(connection, "key_revoked", 1, {"key_id": row["id"], "kind": row["kind"]})
        return {**row, "revoked_at": revoked_at}
    return dict(row)


def list_keys(connection: Connection) -> list[dict[str, Any]]:
    """Every key ever made, oldest first, without digests."""
    columns = [column for column in api_key_table.c if column.name != "digest"]
    rows = connection.execute(select(*columns).order_by(api_key_table.c.id)).mappings()
    return [dict(row) for row in rows]

"""Access keys made with `plugin-analytics keys create` or `POST /keys`: shown once, kept as
digests, revocable.

Three kinds: a write key sends events to its site, a viewer key reads its site, an admin key
reads every site and administers the installation. A key is 256 random bits, so an unsalted
SHA-256 digest is enough to keep it safe at rest (as with GitHub tokens): nobody can guess a key
from its digest, and checking one costs a microsecond on the ingestion hot path, where a password
hash would cost tens of milliseconds.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Select, insert, or_, select, update

from plugin_analytics.db.models import DEFAULT_SITE, api_key_table, site_table
from plugin_analytics.privacy.audit import record

Kind = Literal["write", "viewer", "admin"]
KINDS: tuple[Kind, ...] = ("write", "viewer", "admin")
# Keys made here never hold a colon (token_urlsafe is A-Z, a-z, 0-9, - and _): WRITE_KEYS
# relies on it to tell SITE:KEY from a key.
PREFIXES: dict[Kind, str] = {"write": "pa_write_", "viewer": "pa_viewer_", "admin": "pa_admin_"}
ID = re.compile(r"[0-9]{1,18}")  # an id as `keys list` shows it (and that fits a BIGINT)
MAX_ID = 10**18 - 1
SHOWN_CHARS = 6  # of the random part, after the prefix: enough to tell keys apart in a list


class KeyRefused(ValueError):
    """A key cannot be made as asked; `field` names what was wrong (`site`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def digest(key: str) -> str:
    """The SHA-256 digest a key is stored and looked up by."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_site(kind: Kind, site: str | None) -> str | None:
    """The site a key of `kind` asked for with `site` belongs to: `default` for a write key
    naming none; a viewer key must name one; an admin key (every site) must name none."""
    if kind == "admin":
        if site is not None:
            raise KeyRefused("site", "an admin key reads every site, so it takes no site")
        return None
    if site is None:
        if kind == "viewer":
            raise KeyRefused("site", "a viewer key reads one site: name it")
        return DEFAULT_SITE
    return site


@dataclass(frozen=True)
class NewKey:
    id: int
    kind: Kind
    site: str | None  # None: an admin key, for every site
    name: str
    prefix: str
    created_at: datetime
    key: str  # the only time it exists in the clear


def create_key(connection: Connection, kind: Kind, name: str, *, site: str | None = None) -> NewKey:
    """Make a key of `kind` for `site` (see key_site) and store its digest; the caller shows
    the key once. KeyRefused when the site does not fit the kind or does not exist."""
    site = key_site(kind, site)
    site_num = None if site is None else _site_num(connection, site)
    key = PREFIXES[kind] + secrets.token_urlsafe(32)
    prefix, created_at = key[: len(PREFIXES[kind]) + SHOWN_CHARS], datetime.now(UTC)
    key_id = connection.execute(
        insert(api_key_table)
        .values(
            kind=kind,
            site_num=site_num,
            name=name,
            prefix=prefix,
            digest=digest(key),
            created_at=created_at,
        )
        .returning(api_key_table.c.id)
    ).scalar_one()
    detail = {"key_id": key_id, "kind": kind, "site": site, "name": name}
    record(connection, "key_created", 1, detail)
    return NewKey(key_id, kind, site, name, prefix, created_at, key)


def _site_num(connection: Connection, site: str) -> int:
    num = connection.execute(
        select(site_table.c.num).where(site_table.c.id == site)
    ).scalar_one_or_none()
    if num is None:
        raise KeyRefused("site", f"there is no site {site!r}")
    return int(num)


def revoke_key(connection: Connection, id_or_key: str) -> dict[str, Any] | None:
    """Revoke the key with this id (as `keys list` shows it) or this very key; None when there
    is no such key. Revoking a revoked key changes nothing."""
    match = api_key_table.c.digest == digest(id_or_key)
    if ID.fullmatch(id_or_key):
        match = or_(match, api_key_table.c.id == int(id_or_key))
    return _revoke(connection, match)


def revoke_key_by_id(connection: Connection, key_id: int) -> dict[str, Any] | None:
    """Revoke the key with this id; None when there is none. Repeating it changes nothing."""
    return _revoke(connection, api_key_table.c.id == key_id)


def _revoke(connection: Connection, match: ColumnElement[bool]) -> dict[str, Any] | None:
    row = connection.execute(_listed().where(match)).mappings().first()
    if row is None:
        return None
    if row["revoked_at"] is not None:
        return dict(row)
    revoked_at = datetime.now(UTC)
    connection.execute(
        update(api_key_table).where(api_key_table.c.id == row["id"]).values(revoked_at=revoked_at)
    )
    detail = {"key_id": row["id"], "kind": row["kind"], "site": row["site"]}
    record(connection, "key_revoked", 1, detail)
    return {**row, "revoked_at": revoked_at}


def list_keys(connection: Connection) -> list[dict[str, Any]]:
    """Every key ever made, oldest first, with its site's id and without digests."""
    rows = connection.execute(_listed().order_by(api_key_table.c.id)).mappings()
    return [dict(row) for row in rows]


def _listed() -> Select[Any]:
    """A key as it is shown: every column but the digest, and `site`, its site's id."""
    columns = [c for c in api_key_table.c if c.name not in {"digest", "site_num"}]
    return select(*columns, site_table.c.id.label("site")).outerjoin(
        site_table, site_table.c.num == api_key_table.c.site_num
    )

"""The keys a worker accepts and the sites it knows, held in memory and reloaded from the
database every few seconds.

Ingestion checks a key on every request, so it must not cost a query. Each worker reads the
digests of every key, and every site, at start and again every REFRESH_SECONDS: a key made or
revoked with the CLI or the API, or a site made or given a domain, takes effect in every worker
within that time, with no restart.
"""

import asyncio
import base64
import binascii
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from anyio import to_thread
from sqlalchemy import Engine, Row, select
from sqlalchemy.exc import SQLAlchemyError

from plugin_analytics.access.keys import digest
from plugin_analytics.config import Settings
from plugin_analytics.db.models import api_key_table, site_table
from plugin_analytics.errors import APIError, StorageUnavailable
from plugin_analytics.sites.registry import SLUG

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
INGESTION_CHALLENGE = 'Basic realm="ingestion"'  # WWW-Authenticate of an ingestion 401
# Site ids looked up in vain between two reloads, remembered so that a client naming sites at
# random costs one query each, and at most this many queries until the next reload.
MAX_MISSES = 1000
KeyRow = Row[str, str, int | None, datetime | None]  # kind, digest, site_num, revoked_at
SiteRow = tuple[int, str, list[str], int | None]  # num, id, domains, retention_days


class Unauthorized(APIError):
    status_code = 401

    def __init__(self, detail: str, scheme: str = "Bearer") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": scheme})


class Forbidden(APIError):
    status_code = 403


@dataclass(frozen=True, slots=True)
class WriteAccess:
    """A write key in force: its digest (what the rate limit counts by) and its site."""

    digest: str
    site_num: int


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads: an admin key (every site) or a viewer key (its site)."""

    site_num: int | None  # None: an admin key, every site

    @property
    def is_admin(self) -> bool:
        return self.site_num is None


ADMIN_READER = Reader(None)


@dataclass(frozen=True)
class KeySet:
    """Digests of the keys in force, by kind, with the site of each write and viewer key; and
    the sites, to resolve an id without a query."""

    write: Mapping[str, int] = field(default_factory=dict)  # digest -> site num
    viewer: Mapping[str, int] = field(default_factory=dict)  # digest -> site num
    admin: frozenset[str] = frozenset()
    revoked: frozenset[str] = frozenset()
    # Once any write key exists (WRITE_KEYS, or one made with the CLI, even if revoked since),
    # ingestion needs one: revoking the last key must not open ingestion to everybody.
    write_required: bool = False
    sites: Mapping[str, int] = field(default_factory=dict)  # id -> num
    origins: frozenset[str] = frozenset()  # what browsers on the sites' domains send as Origin
    retention: Mapping[int, int] = field(default_factory=dict)  # num -> a site's own days
    # id -> the site's row as stored, so that a read finds its site without a query
    site_rows: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    site_ids: Mapping[int, str] = field(default_factory=dict)  # num -> id

    def check_write(self, key: str | None) -> WriteAccess | None:
        """The write key and its site (None while ingestion is open); 401/403 otherwise."""
        if not self.write_required:
            return None
        if key is None:
            raise Unauthorized(
                "a write key is required: send it as X-Write-Key, as `write_key` in the JSON "
                "body, or as the HTTP Basic user name",
                INGESTION_CHALLENGE,
            )
        key_digest = digest(key)
        site_num = self.write.get(key_digest)
        if site_num is not None:
            return WriteAccess(key_digest, site_num)
        if key_digest in self.admin:
            raise Forbidden("this is an admin key; ingestion takes a write key")
        if key_digest in self.viewer:
            raise Forbidden("this is a viewer key, which only reads; ingestion takes a write key")
        raise Unauthorized(self._invalid("write", key_digest), INGESTION_CHALLENGE)

    def check_reader(self, key: str) -> Reader:
        """Who reads with an admin or viewer key; 401 for an unknown or revoked key, 403 for a
        write key."""
        key_digest = digest(key)
        if key_digest in self.admin:
            return ADMIN_READER
        site_num = self.viewer.get(key_digest)
        if site_num is not None:
            return Reader(site_num)
        if key_digest in self.write:
            raise Forbidden(
                f"this is a write key, which can only send events; reading takes an "
                f"{self.reader_kinds} key"
            )
        raise Unauthorized(self._invalid(self.reader_kinds, key_digest))

    @property
    def reader_kinds(self) -> str:
        """The keys that read, as refusals name them: an installation without viewer keys
        answers as it did before there were any."""
        return "admin or viewer" if self.viewer else "admin"

    def check_admin(self, key: str) -> None:
        """Pass an admin key; 401 for an unknown or revoked key, 403 for a write or viewer key."""
        key_digest = digest(key)
        if key_digest in self.admin:
            return
        if key_digest in self.viewer:
            raise Forbidden(
                "a viewer key can only read its own site's data; this takes an admin key"
            )
        if key_digest in self.write:
            raise Forbidden(
                "this is a write key, which can only send events; reading takes an admin key"
            )
        raise Unauthorized(self._invalid("admin", key_digest))

    def _invalid(self, kind: str, key_digest: str) -> str:
        return "this key was revoked" if key_digest in self.revoked else f"invalid {kind} key"


def site_origins(domains: Iterable[str]) -> frozenset[str]:
    """The Origin headers a site's domains stand for. A domain written as an origin
    (`https://shop.example:8443`) is that origin; a bare host (`shop.example`) stands for it
    over https and http. Browsers send the scheme and host in lower case."""
    origins: set[str] = set()
    for domain in domains:
        written = domain.strip().rstrip("/").lower()
        if "://" in written:
            origins.add(written)
        elif written:
            origins.update((f"https://{written}", f"http://{written}"))
    return frozenset(origins)


class KeyRing:
    """The current KeySet of this worker, from the settings and the `api_key` and `site`
    tables."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._write_keys = [(site, digest(key)) for site, key in settings.site_write_keys]
        admin = settings.admin_api_key
        self._admin_keys = frozenset([digest(admin.get_secret_value())] if admin else [])
        self._current: KeySet | None = None
        self._task: asyncio.Task[None] | None = None
        # Loads from the refresh task and from a route that just changed a key take turns, so
        # that an older read never replaces a newer one.
        self._lock = threading.Lock()
        self._unknown_sites: set[str] = set()  # named by WRITE_KEYS, warned about
        self._found: dict[str, int] = {}  # sites made since the last reload, by id
        self._misses: set[str] = set()  # ids of no site, since the last reload

    @property
    def current(self) -> KeySet:
        """The keys in force; 503 until they were read once (fail closed)."""
        if self._current is None:
            raise StorageUnavailable("access keys could not be read from the database yet")
        return self._current

    @property
    def has_admin_key(self) -> bool:
        """Whether any admin key exists: ADMIN_API_KEY, or one made with the CLI or the API."""
        return bool(self._current.admin if self._current else self._admin_keys)

    @property
    def has_reader_key(self) -> bool:
        """Whether any key that may read exists: an admin key or a viewer key."""
        return self.has_admin_key or bool(self._current and self._current.viewer)

    @property
    def origins(self) -> frozenset[str]:
        """The sites' origins in force (none until the keys were read once)."""
        return self._current.origins if self._current else frozenset()

    def load(self) -> KeySet:
        """Read the keys and sites from the database and put them in force."""
        with self._lock:
            with self._engine.connect() as connection:
                # Keys first: a key's site was made before it, so the later read sees it.
                rows = connection.execute(
                    select(
                        api_key_table.c.kind,
                        api_key_table.c.digest,
                        api_key_table.c.site_num,
                        api_key_table.c.revoked_at,
                    )
                ).all()
                site_rows = [dict(row) for row in connection.execute(select(site_table)).mappings()]
            sites = [
                (row["num"], row["id"], row["domains"], row["retention_days"]) for row in site_rows
            ]
            self._current = replace(
                self._key_set(rows, sites),
                site_rows={row["id"]: row for row in site_rows},
                site_ids={row["num"]: row["id"] for row in site_rows},
            )
            self._found, self._misses = {}, set()
        return self._current

    def _key_set(self, rows: Sequence[KeyRow], sites: Sequence[SiteRow]) -> KeySet:
        by_id = {site_id: num for num, site_id, *_ in sites}
        numbers = frozenset(by_id.values())
        active = [(kind, key, num) for kind, key, num, revoked_at in rows if revoked_at is None]

        def of_kind(kind: str) -> dict[str, int]:  # a key of a site no longer there is void
            return {key: num for k, key, num in active if k == kind and num in numbers}

        return KeySet(
            write={**self._configured_write_keys(by_id), **of_kind("write")},
            viewer=of_kind("viewer"),
            admin=self._admin_keys | {key for kind, key, _ in active if kind == "admin"},
            revoked=frozenset(key for _, key, _, revoked_at in rows if revoked_at is not None),
            write_required=bool(self._write_keys) or any(row.kind == "write" for row in rows),
            sites=by_id,
            origins=frozenset().union(*(site_origins(domains or ()) for _, _, domains, _ in sites)),
            retention={num: days for num, _, _, days in sites if days},
        )

    def _configured_write_keys(self, sites: Mapping[str, int]) -> dict[str, int]:
        """WRITE_KEYS, digest to site number. An entry naming a site that does not exist is
        ignored (ingestion still needs a key), with a warning when it is first found missing."""
        keys, unknown = {}, set()
        for site_id, key_digest in self._write_keys:
            if site_id in sites:
                keys[key_digest] = sites[site_id]
            else:
                unknown.add(site_id)
        for site_id in sorted(unknown - self._unknown_sites):
            logger.warning(
                "WRITE_KEYS names the site %r, which does not exist: its keys are ignored until "
                "it is made",
                site_id,
            )
        self._unknown_sites = unknown
        return keys

    async def site_num_of(self, site_id: str) -> int | None:
        """The number of the site `site_id`, None when there is none; 503 before the first
        load. A site made since the last reload (on another worker, a second ago) is looked up
        in the database, on a thread; an id of no site is not looked up again until the next
        reload, and at most MAX_MISSES of them are."""
        num = self.current.sites.get(site_id) or self._found.get(site_id)
        if num is not None or site_id in self._misses or not SLUG.fullmatch(site_id):
            return num
        if len(self._misses) >= MAX_MISSES:
            return None
        num = await to_thread.run_sync(self._look_up, site_id)
        if num is None:
            self._misses.add(site_id)
        else:
            self._found[site_id] = num
        return num

    def _look_up(self, site_id: str) -> int | None:
        try:
            with self._engine.connect() as connection:
                num = connection.execute(
                    select(site_table.c.num).where(site_table.c.id == site_id)
                ).scalar_one_or_none()
        except SQLAlchemyError as exc:
            logger.warning("could not look up the site %r: %s", site_id, exc)
            raise StorageUnavailable() from None
        return None if num is None else int(num)

    def reload_now(self) -> None:
        """After a change of keys or sites made here: put it in force on this worker at once.
        Should that fail, the change is made all the same and the next reload, within
        seconds, puts it in force."""
        try:
            self.load()
        except Exception as exc:  # the change is committed: the request answers it
            logger.warning("could not reload access keys and sites after a change: %s", exc)

    async def start(self, interval: float = REFRESH_SECONDS) -> None:
        try:
            await to_thread.run_sync(self.load)
        except Exception as exc:  # the database may come up later; until then, fail closed
            logger.warning("could not read access keys (retrying every %ss): %s", interval, exc)
        self._task = asyncio.create_task(self._refresh_every(interval))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _refresh_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await to_thread.run_sync(self.load)
            except Exception as exc:  # keep the keys in force; try again next time
                logger.warning("could not reload access keys: %s", exc)


def header_write_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The write key sent as X-Write-Key, as the HTTP Basic user name (Segment's way: the key,
    a colon and no password) or as a Bearer token; None when no header carries one."""
    for name, value in headers:
        if name == b"x-write-key":
            return value.decode("latin-1").strip() or None
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return credentials.strip() or None
            if scheme.lower() == "basic":
                return _basic_user(credentials.strip())
    return None


def _basic_user(credentials: str) -> str | None:
    try:
        user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed HTTP Basic credentials", INGESTION_CHALLENGE) from None
    return user or password or None

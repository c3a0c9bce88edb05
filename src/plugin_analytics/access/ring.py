"""The keys a worker accepts, held in memory and reloaded from the database every few seconds.

Ingestion checks a key on every request, so it must not cost a query. Each worker reads the
digests of every key at start and again every REFRESH_SECONDS: a key made or revoked with the
CLI takes effect in every worker within that time, with no restart.
"""

import asyncio
import base64
import binascii
import logging
from dataclasses import dataclass

from anyio import to_thread
from sqlalchemy import Engine, select

from plugin_analytics.access.keys import digest
from plugin_analytics.config import Settings
from plugin_analytics.db.models import api_key_table
from plugin_analytics.errors import APIError, StorageUnavailable

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
INGESTION_CHALLENGE = 'Basic realm="ingestion"'  # WWW-Authenticate of an ingestion 401


class Unauthorized(APIError):
    status_code = 401

    def __init__(self, detail: str, scheme: str = "Bearer") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": scheme})


class Forbidden(APIError):
    status_code = 403


@dataclass(frozen=True)
class KeySet:
    """Digests of the keys in force, by kind."""

    write: frozenset[str] = frozenset()
    admin: frozenset[str] = frozenset()
    revoked: frozenset[str] = frozenset()
    # Once any write key exists (WRITE_KEYS, or one made with the CLI, even if revoked since),
    # ingestion needs one: revoking the last key must not open ingestion to everybody.
    write_required: bool = False

    def check_write(self, key: str | None) -> str | None:
        """The digest of a valid write key (None when ingestion is open); 401/403 otherwise."""
        if not self.write_required:
            return None
        if key is None:
            raise Unauthorized(
                "a write key is required: send it as X-Write-Key, as `write_key` in the JSON "
                "body, or as the HTTP Basic user name",
                INGESTION_CHALLENGE,
            )
        key_digest = digest(key)
        if key_digest in self.write:
            return key_digest
        if key_digest in self.admin:
            raise Forbidden("this is an admin key; ingestion takes a write key")
        raise Unauthorized(self._invalid("write", key_digest), INGESTION_CHALLENGE)

    def check_admin(self, key: str) -> None:
        """Pass an admin key; 401 for an unknown or revoked key, 403 for a write key."""
        key_digest = digest(key)
        if key_digest in self.admin:
            return
        if key_digest in self.write:
            raise Forbidden(
                "this is a write key, which can only send events; reading takes an admin key"
            )
        raise Unauthorized(self._invalid("admin", key_digest))

    def _invalid(self, kind: str, key_digest: str) -> str:
        return "this key was revoked" if key_digest in self.revoked else f"invalid {kind} key"


class KeyRing:
    """The current KeySet of this worker, from the settings and the `api_key` table."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._write_keys = frozenset(digest(key) for key in settings.write_keys)
        admin = settings.admin_api_key
        self._admin_keys = frozenset([digest(admin.get_secret_value())] if admin else [])
        self._current: KeySet | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def current(self) -> KeySet:
        """The keys in force; 503 until they were read once (fail closed)."""
        if self._current is None:
            raise StorageUnavailable("access keys could not be read from the database yet")
        return self._current

    @property
    def has_admin_key(self) -> bool:
        """Whether any admin key exists: ADMIN_API_KEY, or one made with the CLI."""
        return bool(self._current.admin if self._current else self._admin_keys)

    def load(self) -> KeySet:
        """Read the keys from the database and put them in force."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(api_key_table.c.kind, api_key_table.c.digest, api_key_table.c.revoked_at)
            ).all()
        active = {(kind, key) for kind, key, revoked_at in rows if revoked_at is None}
        self._current = KeySet(
            write=self._write_keys | {key for kind, key in active if kind == "write"},
            admin=self._admin_keys | {key for kind, key in active if kind == "admin"},
            revoked=frozenset(key for _, key, revoked_at in rows if revoked_at is not None),
            write_required=bool(self._write_keys) or any(kind == "write" for kind, *_ in rows),
        )
        return self._current

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

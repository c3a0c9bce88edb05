"""The durable writer: group commit of concurrent ingestion requests.

Each request hands its rows to the writer and waits. A single writer task takes everything that
queued up while the previous commit ran, stores it in one transaction on a dedicated thread, and
then releases every waiting request. A request is answered only after its rows are committed, and
durability costs one commit per group, not one per request.
"""

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from plugin_analytics.db.models import DEFAULT_SITE_NUM, rollup_delta_table, site_table
from plugin_analytics.db.session import write_transaction
from plugin_analytics.derived.profiles import update_profiles
from plugin_analytics.derived.rollups import COMPACT_BATCH, compact, record_deltas
from plugin_analytics.errors import APIError, StorageUnavailable
from plugin_analytics.ingest.schemas import EventCreate
from plugin_analytics.ingest.store import (
    SITE_NUM,
    Identity,
    StoredRow,
    facts,
    identity,
    prepare,
    store_for,
)

logger = logging.getLogger(__name__)

# Two workers storing the same new event_ids in different orders wait on each other; PostgreSQL
# aborts one (SQLSTATE 40P01) and the other commits, so the retry finds them stored and skips them.
DEADLOCK = "40P01"
DEADLOCK_RETRIES = 3
GROUP_INTERVAL_S = 0.002
# The writer thread waits on the database several times per group and must then take the GIL
# back from the busy event loop, which by default yields it only every 5 ms: per round trip, up
# to 5 ms added to every group commit. 0.5 ms cut what rollups cost single-event ingestion on
# PostgreSQL from 15-30% to under 10% (bench/ingest.py) with no loss without them.
SWITCH_INTERVAL_S = 0.0005
# How often pending rollup deltas are folded into the rollup rows (readers add the pending ones).
COMPACT_INTERVAL_S = 1.0


class EventsRefused(APIError):
    """The database refused a request's events for what they hold (validation should make this
    unreachable); nothing of the request was stored."""

    status_code = 422

    def __init__(self) -> None:
        super().__init__("the database refused these events; nothing was stored")


class SiteGone(APIError):
    """The site was deleted after this worker last reloaded its keys and sites: nothing of
    the request was stored (a deleted site keeps no data)."""

    status_code = 422

    def __init__(self) -> None:
        super().__init__("the site these events are for was deleted; nothing was stored")


class Overloaded(APIError):
    status_code = 503

    def __init__(self) -> None:
        super().__init__("ingestion is overloaded; retry shortly", headers={"Retry-After": "1"})


@dataclass(frozen=True)
class WriteResult:
    new: int
    duplicates: int


@dataclass
class _Pending:
    rows: Sequence[StoredRow]
    done: asyncio.Future[WriteResult] = field(repr=False)


class EventWriter:
    """Stores rows in groups; `write` returns once the rows are committed."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_group_rows: int = 20_000,
        max_queued_rows: int = 200_000,
        group_interval: float = GROUP_INTERVAL_S,
        compact_interval: float = COMPACT_INTERVAL_S,
    ) -> None:
        self._engine = engine
        self._store = store_for(engine.dialect.name)
        self._dbapi = engine.dialect.loaded_dbapi
        self._max_group_rows = max_group_rows
        self._max_queued_rows = max_queued_rows
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._queued_rows = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-writer")
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._group_interval = group_interval
        self._last_group_at = 0.0
        self._compact_interval = compact_interval
        self._compactor: asyncio.Task[None] | None = None
        self._compaction_failing = False

    async def start(self) -> None:
        if sys.getswitchinterval() > SWITCH_INTERVAL_S:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._task = asyncio.create_task(self._run(), name="event-writer")
        self._compactor = asyncio.create_task(self._compact_periodically(), name="rollup-compactor")

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._stopping

    async def stop(self) -> None:
        """Commit whatever is queued, then stop."""
        self._stopping = True
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
            self._compactor = None
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
            # Leave the rows folded; if this fails, the next start (or another worker) folds.
            await asyncio.get_running_loop().run_in_executor(self._thread, self.compact)
        await asyncio.to_thread(self._thread.shutdown)

    async def write(
        self, events: Sequence[EventCreate], received_at: datetime, site_num: int
    ) -> WriteResult:
        """Store `events` atomically under the site numbered `site_num`; duplicates of event_ids
        the site has stored are skipped and counted."""
        if not self.running:
            raise StorageUnavailable("the event writer is not running")
        if self._queued_rows + len(events) > self._max_queued_rows:
            raise Overloaded()
        rows = prepare(events, received_at, site_num)
        pending = _Pending(rows, asyncio.get_running_loop().create_future())
        self._queued_rows += len(events)
        self._queue.put_nowait(pending)
        return await asyncio.shield(pending.done)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            group, stopping = await self._next_group()
            if not group:
                continue
            self._queued_rows -= sum(len(p.rows) for p in group)
            try:
                results = await loop.run_in_executor(self._thread, self._store_group, group)
            except BaseException as exc:  # never leave a request waiting, never stop the loop
                logger.exception("the event writer failed")
                results = [exc] * len(group)
            for pending, result in zip(group, results, strict=True):
                if pending.done.done():
                    continue
                if isinstance(result, BaseException):
                    pending.done.set_exception(result)
                else:
                    pending.done.set_result(result)

    async def _compact_periodically(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._compact_interval)
            # On the writer's thread: between group commits, never competing with them.
            await loop.run_in_executor(self._thread, self.compact)

    def compact(self) -> None:
        """Fold the pending rollup deltas into the rollup rows, a batch a transaction. Failures
        are logged and left for the next round: readers count pending deltas in meanwhile."""
        try:
            with self._engine.connect() as connection:  # SQLite: no write lock when idle
                first = connection.execute(select(rollup_delta_table.c.id).limit(1)).first()
            pending = first is not None
            while pending:
                with write_transaction(self._engine) as connection:
                    pending = compact(connection) == COMPACT_BATCH
        except Exception as exc:
            if not self._compaction_failing:
                logger.warning("folding rollup deltas failed (will retry): %s", exc)
            self._compaction_failing = True
        else:
            self._compaction_failing = False

    async def _next_group(self) -> tuple[list[_Pending], bool]:
        first = await self._queue.get()
        if first is None:
            return [], True
        # Let a group gather for a moment after the previous commit, so that a fast database
        # does not turn a busy stream into many tiny transactions (each with its rollup work).
        wait = self._group_interval - (time.monotonic() - self._last_group_at)
        if wait > 0 and self._queued_rows < self._max_group_rows:
            await asyncio.sleep(wait)
        self._last_group_at = time.monotonic()
        group, rows = [first], len(first.rows)
        while rows < self._max_group_rows and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return group, True
            group.append(item)
            rows += len(item.rows)
        return group, False

    def _store_group(self, group: list[_Pending]) -> list[WriteResult | BaseException]:
        try:
            return list(self._commit(group))
        except Exception as exc:
            kind = self._failure(exc)
            if kind == "outage":
                return [self._outage(exc)] * len(group)
            if kind == "bug":
                logger.exception("unexpected error while storing events")
                return [exc] * len(group)
            # Some request's rows were refused (a constraint, a value): store each on its own,
            # so that only the request at fault fails.
            return [self._store_alone(pending) for pending in group]

    def _store_alone(self, pending: _Pending) -> WriteResult | BaseException:
        try:
            return self._commit([pending])[0]
        except Exception as exc:
            kind = self._failure(exc)
            if kind == "outage":
                return self._outage(exc)
            if kind == "bug":
                logger.exception("unexpected error while storing events")
                return exc
            if isinstance(exc, SiteGone):
                return exc
            logger.warning("the database refused a request's events: %s", exc)
            return EventsRefused()

    def _failure(self, exc: Exception) -> str:
        """`outage` (unreachable or unwritable), `refused` (our data), or `bug`. The stores use
        the driver's cursor, so its errors arrive unwrapped by SQLAlchemy as well as wrapped."""
        if isinstance(exc, SiteGone):
            return "refused"
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return "outage"
        error = exc.orig if isinstance(exc, DBAPIError) else exc
        if isinstance(error, self._dbapi.OperationalError) or isinstance(exc, OperationalError):
            return "outage"
        if isinstance(error, self._dbapi.Error) or isinstance(exc, SQLAlchemyError):
            return "refused"
        return "bug"

    def _outage(self, exc: Exception) -> StorageUnavailable:
        # Drop every pooled connection: one opened while the database was unwritable (SQLite
        # opens a read-only file read-only) would otherwise keep failing after it recovers.
        self._engine.dispose()
        logger.warning("storing events failed: %s", exc)
        return StorageUnavailable(
            "storage is unavailable; the events may not have been stored: "
            "retry with the same event_id"
        )

    def _commit(self, group: list[_Pending]) -> list[WriteResult]:
        unique = _first_of_each_event_id(group)
        retries = 0
        while True:
            try:
                return _account(group, self._insert(unique))
            except Exception as exc:
                error = exc.orig if isinstance(exc, DBAPIError) else exc
                if retries == DEADLOCK_RETRIES or getattr(error, "sqlstate", None) != DEADLOCK:
                    raise
                retries += 1
                logger.info("deadlock with another writer storing the same event_ids; retrying")

    def _insert(self, rows: list[StoredRow]) -> set[Identity]:
        with write_transaction(self._engine) as connection:
            stored, known = self._store.insert_numbered(connection, rows) if rows else ([], None)
            _check_sites(connection, {row[SITE_NUM] for row in rows})
            if stored:
                record_deltas(connection, facts(stored), known)
                update_profiles(connection, stored)
        return {identity(row) for row in stored}


def _check_sites(connection: Connection, site_nums: set[int]) -> None:
    """SiteGone unless every site exists. Checked after the insert, in its transaction: a
    site's deletion holds ingestion while it deletes (hold_ingestion), so either it waited for
    this transaction and deletes what it stores, or this insert waited for the deletion, and
    this query, a statement after it, sees the site gone."""
    if site_nums == {DEFAULT_SITE_NUM}:
        return  # never deleted
    found = connection.execute(
        select(func.count()).select_from(site_table).where(site_table.c.num.in_(site_nums))
    ).scalar_one()
    if found != len(site_nums):
        raise SiteGone()


def _first_of_each_event_id(group: list[_Pending]) -> list[StoredRow]:
    """The group's rows, each (site, event_id) once: the first request carrying it stores it."""
    seen: set[Identity] = set()
    unique = []
    for pending in group:
        for row in pending.rows:
            key = identity(row)
            if key not in seen:
                seen.add(key)
                unique.append(row)
    return unique


def _account(group: list[_Pending], inserted: set[Identity]) -> list[WriteResult]:
    """Credit each newly stored event_id to the first request in the group that carried it."""
    if len(inserted) == sum(len(pending.rows) for pending in group):  # the usual case: all new
        return [WriteResult(new=len(pending.rows), duplicates=0) for pending in group]
    results = []
    for pending in group:
        new = 0
        for row in pending.rows:
            key = identity(row)
            if key in inserted:
                inserted.discard(key)
                new += 1
        results.append(WriteResult(new=new, duplicates=len(pending.rows) - new))
    return results

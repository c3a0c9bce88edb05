"""The durable writer: group commit of concurrent ingestion requests.

Each request hands its rows to the writer and waits. A single writer task takes everything that
queued up while the previous commit ran, stores it in one transaction on a dedicated thread, and
then releases every waiting request. A request is answered only after its rows are committed, and
durability costs one commit per group, not one per request.
"""

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from plugin_analytics.db.models import event_table
from plugin_analytics.errors import APIError, StorageUnavailable

logger = logging.getLogger(__name__)

Row = dict[str, Any]


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
    rows: Sequence[Row]
    done: asyncio.Future[WriteResult] = field(repr=False)


class EventWriter:
    """Stores rows in groups; `write` returns once the rows are committed."""

    def __init__(
        self, engine: Engine, *, max_group_rows: int = 20_000, max_queued_rows: int = 200_000
    ) -> None:
        self._engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._insert = (sqlite_insert if engine.dialect.name == "sqlite" else pg_insert)(
            event_table
        ).on_conflict_do_nothing(index_elements=["event_id"])
        self._returning = self._insert.returning(event_table.c.event_id)
        self._max_group_rows = max_group_rows
        self._max_queued_rows = max_queued_rows
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._queued_rows = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-writer")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-writer")

    async def stop(self) -> None:
        """Commit whatever is queued, then stop."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        self._thread.shutdown(wait=True)

    async def write(self, rows: Sequence[Row]) -> WriteResult:
        """Store `rows` atomically; duplicates of stored event_ids are skipped and counted."""
        if self._task is None or self._task.done():
            raise StorageUnavailable("the event writer is not running")
        if self._queued_rows + len(rows) > self._max_queued_rows:
            raise Overloaded()
        done: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queued_rows += len(rows)
        self._queue.put_nowait(_Pending(rows, done))
        return await asyncio.shield(done)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            group, stopping = await self._next_group()
            if not group:
                continue
            self._queued_rows -= sum(len(p.rows) for p in group)
            results = await loop.run_in_executor(self._thread, self._store_group, group)
            for pending, result in zip(group, results, strict=True):
                if pending.done.done():
                    continue
                if isinstance(result, BaseException):
                    pending.done.set_exception(result)
                else:
                    pending.done.set_result(result)

    async def _next_group(self) -> tuple[list[_Pending], bool]:
        first = await self._queue.get()
        if first is None:
            return [], True
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
        except IntegrityError:
            # One request's rows broke a constraint: store each request on its own.
            return [self._store_alone(pending) for pending in group]
        except SQLAlchemyError as exc:
            return [_storage_error(exc)] * len(group)
        except Exception as exc:  # a bug must fail its requests, not stop the writer
            logger.exception("unexpected error while storing events")
            return [exc] * len(group)

    def _store_alone(self, pending: _Pending) -> WriteResult | BaseException:
        try:
            return self._commit([pending])[0]
        except SQLAlchemyError as exc:
            return _storage_error(exc)

    def _commit(self, group: list[_Pending]) -> list[WriteResult]:
        unique = _first_of_each_event_id(group)
        with self._engine.begin() as connection:
            inserted = (
                set(connection.execute(self._returning, unique).scalars()) if unique else set()
            )
        return _account(group, inserted)


def _first_of_each_event_id(group: list[_Pending]) -> list[Row]:
    seen: set[str] = set()
    unique = []
    for pending in group:
        for row in pending.rows:
            if row["event_id"] not in seen:
                seen.add(row["event_id"])
                unique.append(row)
    return unique


def _account(group: list[_Pending], inserted: set[str]) -> list[WriteResult]:
    """Credit each newly stored event_id to the first request in the group that carried it."""
    results = []
    for pending in group:
        new = 0
        for row in pending.rows:
            if row["event_id"] in inserted:
                inserted.discard(row["event_id"])
                new += 1
        results.append(WriteResult(new=new, duplicates=len(pending.rows) - new))
    return results


def _storage_error(exc: SQLAlchemyError) -> StorageUnavailable:
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
        logger.warning("storing events failed: %s", exc.orig)
    else:
        logger.warning("storing events failed: %s", exc)
    return StorageUnavailable("storage is unavailable; the events were not stored, retry shortly")

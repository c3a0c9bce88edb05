"""The insert behind the writer, one per database, lean because it runs for every event.

`prepare` turns validated events into StoredRows in one pass (on the event loop, so the writer's
thread does nothing but database work), with times as integer microseconds since the epoch on
both databases; `insert` runs inside the writer's transaction and returns the rows it newly
stored, skipping event_ids already stored.
"""

import itertools
import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, Final, Protocol

from sqlalchemy import Connection

from plugin_analytics.db.batches import chunked
from plugin_analytics.db.models import CHAT_EVENT_TYPES
from plugin_analytics.db.types import to_epoch_us
from plugin_analytics.derived.numbering import SESSION_KEY, USER_KEY, KeyNumbers
from plugin_analytics.derived.rollups import EventFacts
from plugin_analytics.ingest.ids import new_event_ids
from plugin_analytics.ingest.schemas import EventCreate

# One event as it is stored: the event table's columns but `id`, in COLUMNS order (the insert's
# parameters; PostgreSQL's reads them by position), times in microseconds since the epoch.
# A plain tuple read by name (row[EVENT_ID]), not a NamedTuple: the garbage collector untracks a
# plain tuple of strings and numbers at its first collection but keeps scanning a tuple
# subclass, and with tens of thousands of rows queued under batch load that made ingestion of
# batches of 1,000 on SQLite 17% slower (bench/ingest.py).
StoredRow = tuple[
    str, str, str, str, str, str, str | None, str | None, int, int,
    str | None, int | None, int | None, float | None, int,
]  # fmt: skip
COLUMNS = (
    "event_id", "user_id", "session_id", "event_type", "role", "message", "cta_id",
    "properties", "occurred_at", "received_at",
    "model", "input_tokens", "output_tokens", "latency_ms", "site_num",
)  # fmt: skip
# Where each column is in a StoredRow: row[EVENT_ID] (mypy knows each one's type).
EVENT_ID: Final = 0
USER_ID: Final = 1
SESSION_ID: Final = 2
EVENT_TYPE: Final = 3
ROLE: Final = 4
MESSAGE: Final = 5
CTA_ID: Final = 6
PROPERTIES: Final = 7  # JSON text
OCCURRED_AT: Final = 8
RECEIVED_AT: Final = 9
MODEL: Final = 10
INPUT_TOKENS: Final = 11
OUTPUT_TOKENS: Final = 12
LATENCY_MS: Final = 13
SITE_NUM: Final = 14
# An event's identity: its event_id is unique within its site.
Identity = tuple[int, str]

SQLITE_LOOKUP_CHUNK = 500
# Rows per multi-row INSERT: 15 parameters each, well under SQLite's limit of 32,766.
SQLITE_INSERT_CHUNK = 1000


class EventStore(Protocol):
    def insert(self, connection: Connection, rows: Sequence[StoredRow]) -> list[StoredRow]: ...

    def insert_numbered(
        self, connection: Connection, rows: Sequence[StoredRow]
    ) -> tuple[list[StoredRow], KeyNumbers | None]:
        """`insert`, and the key numbers of the stored events' users and sessions where the
        same round trip can find them (the rollups look up the rest)."""
        ...


def _json(value: dict[str, Any]) -> str:
    # As validated: UTF-8 as is (the size limit was measured so), no NaN.
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def identity(row: StoredRow) -> Identity:
    return row[SITE_NUM], row[EVENT_ID]


def prepare(events: Sequence[EventCreate], received_at: datetime, site_num: int) -> list[StoredRow]:
    """The events' rows for the site numbered `site_num`, with the documented defaults."""
    received = to_epoch_us(received_at)
    generated = iter(new_event_ids(sum(not event.get("event_id") for event in events)))
    rows: list[StoredRow] = []
    for event in events:
        timestamp = event.get("timestamp")
        properties = event.get("properties")
        rows.append((
            event.get("event_id") or next(generated), event["user_id"], event["session_id"],
            event["event_type"], event.get("role", "user"), event.get("message", ""),
            event.get("cta_id"),
            None if properties is None else _json(properties),
            received if timestamp is None else to_epoch_us(timestamp),
            received,
            event.get("model"), event.get("input_tokens"), event.get("output_tokens"),
            event.get("latency_ms"), site_num,
        ))  # fmt: skip
    return rows


def facts(rows: Sequence[StoredRow]) -> list[EventFacts]:
    """What rollups need of each event: site, user, session, type, role and event time."""
    return [
        (
            row[SITE_NUM], row[USER_ID], row[SESSION_ID], row[EVENT_TYPE], row[ROLE],
            row[OCCURRED_AT],
        )
        for row in rows
    ]  # fmt: skip


@cache
def _sqlite_insert(rows: int) -> str:
    values = ", ".join([f"({', '.join('?' * len(COLUMNS))})"] * rows)
    columns = ", ".join(COLUMNS)
    return (
        f"INSERT INTO event ({columns}) VALUES {values} ON CONFLICT (site_num, event_id) DO NOTHING"
    )


def _numbered_insert(active: Sequence[str]) -> str:
    """PostgreSQL: insert the events and number their users and sessions in one statement.
    Rows out: (0, site_num, user_id, num), (1, site_num, session_id, num), and
    (2, site_num, event_id, NULL) for each event stored. Keys are per site. Each key is found
    with one index probe (a LIMITed lateral lookup, which the planner cannot turn into a scan
    of the whole key table); only missing keys are inserted, so the
    numbering sequence is not burnt by keys that exist. A key that another worker inserts at
    the same moment is invisible to this statement's snapshot and comes back missing."""
    kinds = ", ".join(f"'{kind}'" for kind in active)
    parts = [
        # INSERT ends in "RETURNING site_num, event_id": return what the keys need as well.
        f"stored AS ({PostgresEventStore.INSERT}, user_id, session_id, event_type)",
        "active AS (SELECT site_num, user_id, session_id FROM stored "
        f"WHERE event_type IN ({kinds}))",
    ]
    selects = []
    for kind, (table, column) in enumerate((USER_KEY, SESSION_KEY)):
        parts.append(
            f"{table}_found AS (SELECT wanted.site_num, wanted.{column}, found.num "
            f"FROM (SELECT DISTINCT site_num, {column} FROM active) AS wanted LEFT JOIN LATERAL "
            f"(SELECT num FROM {table} WHERE site_num = wanted.site_num "
            f"AND {column} = wanted.{column} LIMIT 1) AS found ON true)"
        )
        parts.append(
            f"{table}_new AS (INSERT INTO {table} (site_num, {column}) "
            f"SELECT site_num, {column} FROM {table}_found WHERE num IS NULL "
            f"ORDER BY site_num, {column} "
            f"ON CONFLICT (site_num, {column}) DO NOTHING RETURNING site_num, {column}, num)"
        )
        selects.append(
            f"SELECT {kind}, site_num, {column}, num FROM {table}_found WHERE num IS NOT NULL"
        )
        selects.append(f"SELECT {kind}, site_num, {column}, num FROM {table}_new")
    selects.append("SELECT 2, site_num, event_id, NULL FROM stored")
    return f"WITH {', '.join(parts)} {' UNION ALL '.join(selects)}"


class SqliteEventStore:
    """Multi-row INSERTs; times as integer microseconds. The writer holds SQLite's write lock
    (BEGIN IMMEDIATE), so no one can store an id between our lookup and our insert.

    Not executemany: the sqlite3 module releases the GIL around every row's step, and with the
    event loop busy on the other thread each re-acquisition waits (a convoy), which made
    executemany ~20x slower under load than one statement per thousand rows."""

    def insert(self, connection: Connection, rows: Sequence[StoredRow]) -> list[StoredRow]:
        cursor = connection.connection.cursor()  # the driver's own: no per-statement overhead
        existing = self._existing(cursor, rows)
        fresh = [row for row in rows if identity(row) not in existing] if existing else list(rows)
        for chunk in chunked(fresh, SQLITE_INSERT_CHUNK):
            cursor.execute(_sqlite_insert(len(chunk)), tuple(itertools.chain.from_iterable(chunk)))
        return fresh

    @staticmethod
    def _existing(cursor: Any, rows: Sequence[StoredRow]) -> set[Identity]:
        by_site: dict[int, list[str]] = {}
        for row in rows:
            by_site.setdefault(row[SITE_NUM], []).append(row[EVENT_ID])
        found: set[Identity] = set()
        for site_num, event_ids in by_site.items():
            for chunk in chunked(event_ids, SQLITE_LOOKUP_CHUNK):
                marks = ", ".join("?" * len(chunk))
                cursor.execute(
                    f"SELECT site_num, event_id FROM event "
                    f"WHERE site_num = ? AND event_id IN ({marks})",
                    [site_num, *chunk],
                )
                found.update(cursor.fetchall())
        return found

    def insert_numbered(
        self, connection: Connection, rows: Sequence[StoredRow]
    ) -> tuple[list[StoredRow], KeyNumbers | None]:
        return self.insert(connection, rows), None  # in-process: no round trip to save


class PostgresEventStore:
    """One statement per group: the rows travel as a single JSON document (one string
    parameter: psycopg's Python-side array adaptation cost more than the insert), and RETURNING
    names the ids that were new (ON CONFLICT skips the rest, even across workers).

    Rows take their `id`, which orders events of the same time, in arrival order, but go into
    the table sorted by event_id. Two workers storing the same new event_ids wait for each other
    at the first one they share; in arrival order each could hold an id that the other waits
    for, a deadlock that aborts one of them. New keys go in sorted for the same reason."""

    INSERT = (
        f"INSERT INTO event (id, {', '.join(COLUMNS)}) "
        "SELECT id, x->>0, x->>1, x->>2, x->>3, x->>4, x->>5, x->>6, (x->>7)::jsonb, "
        "'epoch'::timestamptz + (x->>8)::bigint * interval '1 microsecond', "
        "'epoch'::timestamptz + (x->>9)::bigint * interval '1 microsecond', "
        "x->>10, (x->>11)::bigint, (x->>12)::bigint, (x->>13)::double precision, "
        "(x->>14)::integer "
        "FROM (SELECT nextval('event_id_seq') AS id, x "
        "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS arrived (x, n) ORDER BY n) "
        "AS numbered ORDER BY (x->>14)::integer, x->>0 "
        "ON CONFLICT (site_num, event_id) DO NOTHING RETURNING site_num, event_id"
    )

    def insert(self, connection: Connection, rows: Sequence[StoredRow]) -> list[StoredRow]:
        cursor = connection.connection.cursor()
        cursor.execute(self.INSERT, [json.dumps(rows, ensure_ascii=False)])
        stored = {(site_num, event_id) for site_num, event_id in cursor.fetchall()}
        return [row for row in rows if identity(row) in stored]

    def insert_numbered(
        self, connection: Connection, rows: Sequence[StoredRow]
    ) -> tuple[list[StoredRow], KeyNumbers | None]:
        cursor = connection.connection.cursor()
        cursor.execute(NUMBERED_INSERT, [json.dumps(rows, ensure_ascii=False)])
        found: tuple[dict[Identity, int], ...] = ({}, {}, {})
        for kind, site_num, value, num in cursor.fetchall():
            found[kind][site_num, value] = num
        users, sessions, stored = found
        return [row for row in rows if identity(row) in stored], (users, sessions)


NUMBERED_INSERT = _numbered_insert(CHAT_EVENT_TYPES)


def store_for(dialect_name: str) -> EventStore:
    return SqliteEventStore() if dialect_name == "sqlite" else PostgresEventStore()

"""Rollups: chat activity per UTC quarter hour, hour and day, kept exact in the transaction that
stores (or erases) the events.

Each rollup row holds additive counts and three sets as roaring bitmaps: the users, the sessions,
and the converted sessions (those with a CTA click) active in the period. Distinct counts over
any range are then the size of a union of a few bitmaps, never a scan of raw events.

Ingestion does not rewrite rollup rows: each transaction inserts a small delta row per quarter
hour it touched (its own counts and sets). Compaction folds pending deltas into the rows every
second or so, and readers add the deltas still pending to the rows they read. A row of a busy day
holds bitmaps of tens of thousands of sessions; rewriting it (and its hour and quarter) in every
group commit was most of what rollups cost ingestion.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, delete, exists, select, text

from plugin_analytics.db.batches import chunked
from plugin_analytics.db.models import event_table, session_key_table, user_key_table
from plugin_analytics.db.types import from_epoch_us, to_epoch_us

QUARTER_US = 15 * 60 * 1_000_000
HOUR_US = 4 * QUARTER_US
DAY_US = 24 * HOUR_US
GRAINS = {"quarter": QUARTER_US, "hour": HOUR_US, "day": DAY_US}
ACTIVITY = ("message", "cta_click")  # the event types that make a user or session active
KEY_CHUNK = 500
COUNTS = ("user_messages", "assistant_messages", "cta_clicks")
BITMAPS = ("users", "sessions", "converted_sessions")
USER_KEY = ("user_key", "user_id")
SESSION_KEY = ("session_key", "session_id")

# User and session numbers by id.
KeyNumbers = tuple[dict[str, int], dict[str, int]]
# What rollups need of an event: (user_id, session_id, event_type, role, occurred_at in µs).
EventFacts = tuple[str, str, str, str, int]
BACKFILL_CHUNK = 20_000
COMPACT_BATCH = 2_000  # deltas folded per transaction
# PostgreSQL advisory lock that lets one transaction at a time compact (any number may insert).
COMPACTION_LOCK = 0x706C7567_696E0001


@dataclass
class Activity:
    """Counts and sets of one period (or of the sum of several)."""

    user_messages: int = 0
    assistant_messages: int = 0
    cta_clicks: int = 0
    users: BitMap = field(default_factory=BitMap)
    sessions: BitMap = field(default_factory=BitMap)
    converted_sessions: BitMap = field(default_factory=BitMap)

    def add(self, other: "Activity") -> None:
        self.user_messages += other.user_messages
        self.assistant_messages += other.assistant_messages
        self.cta_clicks += other.cta_clicks
        self.users |= other.users
        self.sessions |= other.sessions
        self.converted_sessions |= other.converted_sessions

    @classmethod
    def from_row(cls, row: Any) -> "Activity":
        """From a rollup row's COUNTS and BITMAPS columns, in that order."""
        counts, blobs = row[: len(COUNTS)], row[len(COUNTS) :]
        return cls(*counts, *(BitMap.deserialize(blob) for blob in blobs))

    def counts(self) -> tuple[int, int, int]:
        return self.user_messages, self.assistant_messages, self.cta_clicks

    def to_row(self) -> tuple[Any, ...]:
        """COUNTS and BITMAPS (serialized), in that order."""
        return (*self.counts(), *(getattr(self, name).serialize() for name in BITMAPS))

    def sizes(self) -> tuple[int, int, int]:
        return len(self.users), len(self.sessions), len(self.converted_sessions)

    def grown_since(self, sizes: tuple[int, int, int]) -> tuple[str, ...]:
        """The bitmaps that gained members since `sizes` (adding only ever grows them)."""
        grown = zip(BITMAPS, self.sizes(), sizes, strict=True)
        return tuple(name for name, size, before in grown if size != before)


def period_start(at_us: int, grain_us: int) -> int:
    return at_us - at_us % grain_us


def count_quarters(
    connection: Connection, events: Sequence[EventFacts], known: KeyNumbers | None = None
) -> dict[int, Activity]:
    """The activity that newly stored events add to each UTC quarter hour (by its start).
    `known`: key numbers found already; the missing ones are looked up (or assigned)."""
    quarters: dict[int, Activity] = defaultdict(Activity)
    active = [event for event in events if event[2] in ACTIVITY]
    if not active:
        return quarters
    users, sessions = known or ({}, {})
    missing_users = {e[0] for e in active if e[0] not in users}
    missing_sessions = {e[1] for e in active if e[1] not in sessions}
    if missing_users or missing_sessions:
        more_users, more_sessions = RollupSql(connection).key_numbers(
            missing_users, missing_sessions
        )
        users, sessions = {**users, **more_users}, {**sessions, **more_sessions}
    for user_id, session_id, event_type, role, occurred_at in active:
        period = quarters[period_start(occurred_at, QUARTER_US)]
        tally(period, event_type, role, users[user_id], sessions[session_id])
    return quarters


def record_deltas(
    connection: Connection, events: Sequence[EventFacts], known: KeyNumbers | None = None
) -> None:
    """Ingestion: count newly stored events into delta rows, without touching a rollup row."""
    quarters = count_quarters(connection, events, known)
    if quarters:
        RollupSql(connection).insert_deltas(quarters)


def add_to_rollups(connection: Connection, events: Sequence[EventFacts]) -> None:
    """Count newly stored events straight into their rollup rows: for bulk loads (the demo,
    the backfill), whose chunks are large enough to make each row rewrite worth it."""
    quarters = count_quarters(connection, events)
    if quarters:
        merge_into_rows(connection, spread(quarters))


def compact(connection: Connection, *, wait: bool = False, limit: int = COMPACT_BATCH) -> int:
    """Fold up to `limit` pending deltas, oldest first, into the rollup rows; returns how many.
    Without `wait`, does nothing (returns 0) while another transaction is compacting."""
    sql = RollupSql(connection)
    if not sql.lock_compaction(wait):
        return 0
    deltas = sql.take_deltas(limit)
    quarters: dict[int, Activity] = defaultdict(Activity)
    for start, activity in deltas:
        quarters[start].add(activity)
    if quarters:
        merge_into_rows(connection, spread(quarters))
    return len(deltas)


def compact_all(connection: Connection) -> None:
    """Fold every pending delta into the rollup rows, waiting for any compaction under way."""
    while compact(connection, wait=True) == COMPACT_BATCH:
        pass


def backfill(connection: Connection) -> int:
    """Count every stored event into the rollups (which must be empty); returns the count."""
    columns = [event_table.c[name] for name in ("user_id", "session_id", "event_type", "role")]
    query = select(*columns, event_table.c.occurred_at).order_by(event_table.c.id)
    result = connection.execute(query.execution_options(yield_per=BACKFILL_CHUNK))
    counted = 0
    for chunk in result.partitions():
        facts = [(*row[:4], to_epoch_us(row[4])) for row in chunk]
        add_to_rollups(connection, facts)
        counted += len(facts)
    return counted


def hold_ingestion(connection: Connection) -> None:
    """Make ingestion wait until this transaction ends, before deleting user or session keys.

    On PostgreSQL, storing events reads the keys of their users and sessions without locking
    them. Deleting a key in between would let that event count its user under a number that no
    longer exists, and the user's next event under a new one: counted twice. Ingestion inserts
    its events in the statement that reads the keys, and PostgreSQL takes that statement's table
    locks before it reads, so a SHARE lock on `event` waits for every storing transaction under
    way to commit (its events are then seen), and makes new ones wait for this one to end.
    SQLite needs nothing: a writing transaction holds the only write lock already."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE event IN SHARE MODE"))


def forget_unused_keys(connection: Connection, key: tuple[str, str], ids: set[str]) -> int:
    """Delete the keys (USER_KEY or SESSION_KEY) of these ids that no event has any more; how
    many. The caller holds ingestion first (hold_ingestion)."""
    table = user_key_table if key == USER_KEY else session_key_table
    column = key[1]
    has_events = exists().where(event_table.c[column] == table.c[column])
    return sum(
        connection.execute(delete(table).where(table.c[column].in_(chunk), ~has_events)).rowcount
        for chunk in chunked(sorted(ids), KEY_CHUNK)
    )


def tally(period: Activity, event_type: str, role: str, user: int, session: int) -> None:
    """Count one active event into `period`."""
    count(period, event_type, role)
    if event_type == "cta_click":
        period.converted_sessions.add(session)
    period.users.add(user)
    period.sessions.add(session)


def count(period: Activity, event_type: str, role: str) -> None:
    """Add one active event to `period`'s counts."""
    if event_type == "cta_click":
        period.cta_clicks += 1
    elif role == "assistant":
        period.assistant_messages += 1
    else:
        period.user_messages += 1


def spread(quarters: dict[int, Activity]) -> dict[tuple[str, int], Activity]:
    """The quarter-hour deltas, and the hour and day deltas they add up to."""
    deltas: dict[tuple[str, int], Activity] = {}
    for start, activity in quarters.items():
        deltas[("quarter", start)] = activity
        for grain in ("hour", "day"):
            key = (grain, period_start(start, GRAINS[grain]))
            deltas.setdefault(key, Activity()).add(activity)
    return deltas


def merge_into_rows(connection: Connection, deltas: dict[tuple[str, int], Activity]) -> None:
    """Add `deltas` to their rows: lock and read them (creating the missing ones), merge, write.
    Existing rows are locked in key order, so concurrent writers cannot deadlock on them."""
    sql = RollupSql(connection)
    keys = sorted(deltas)
    current = sql.lock_rows(keys)
    missing = [key for key in keys if key not in current]
    if missing:
        sql.ensure_rows(missing)
        current.update(sql.lock_rows(missing))
    sizes = {key: current[key].sizes() for key in keys}
    for key in keys:
        current[key].add(deltas[key])
    sql.write_rows([(key, current[key], current[key].grown_since(sizes[key])) for key in keys])


class RollupSql:
    """The statements that maintain rollups, on the driver's own cursor: they run in every
    ingestion transaction, where SQLAlchemy's per-statement overhead would cost throughput."""

    COLUMNS = ", ".join((*COUNTS, *BITMAPS))

    def __init__(self, connection: Connection) -> None:
        self.cursor = connection.connection.cursor()  # inside the connection's transaction
        self.sqlite = connection.dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def time(self, at_us: int) -> Any:
        return at_us if self.sqlite else from_epoch_us(at_us)

    def key_numbers(
        self, user_ids: set[str], session_ids: set[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """The numbers of these users and sessions, numbering those that have none yet."""
        wanted = (sorted(user_ids), sorted(session_ids))
        found = self._numbers(*wanted)
        missing = [
            [value for value in ids if value not in numbers]
            for ids, numbers in zip(wanted, found, strict=True)
        ]
        if any(missing):
            for key, ids in zip((USER_KEY, SESSION_KEY), missing, strict=True):
                if ids:
                    self._number(key, ids)
            for numbers, more in zip(found, self._numbers(*missing), strict=True):
                numbers.update(more)
        return found

    def _numbers(
        self, user_ids: list[str], session_ids: list[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        if self.sqlite:
            return self._numbers_in(USER_KEY, user_ids), self._numbers_in(SESSION_KEY, session_ids)
        # PostgreSQL: both in one round trip, each list one JSON string (see ingest.store). One
        # index probe per id: the LIMIT keeps the planner from turning the lateral lookups into
        # a hash join over the whole key table, which made every group cost O(all sessions).
        lookup = (
            "SELECT {kind}, wanted.id, found.num FROM jsonb_array_elements_text(%s::jsonb) "
            "AS wanted(id) CROSS JOIN LATERAL "
            "(SELECT num FROM {table} WHERE {column} = wanted.id LIMIT 1) AS found"
        )
        self.cursor.execute(
            " UNION ALL ".join(
                lookup.format(kind=kind, table=table, column=column)
                for kind, (table, column) in enumerate((USER_KEY, SESSION_KEY))
            ),
            [json.dumps(user_ids), json.dumps(session_ids)],
        )
        users: dict[str, int] = {}
        sessions: dict[str, int] = {}
        for kind, value, num in self.cursor.fetchall():
            (sessions if kind else users)[value] = num
        return users, sessions

    def _numbers_in(self, key: tuple[str, str], ids: list[str]) -> dict[str, int]:
        table, column = key
        numbers: dict[str, int] = {}
        for chunk in chunked(ids, KEY_CHUNK):
            query = (
                f"SELECT {column}, num FROM {table} WHERE {column} IN ({self.marks(len(chunk))})"
            )
            self.cursor.execute(query, chunk)
            numbers.update(self.cursor.fetchall())
        return numbers

    def _number(self, key: tuple[str, str], ids: list[str]) -> None:
        table, column = key
        conflict = f"ON CONFLICT ({column}) DO NOTHING"
        if not self.sqlite:
            self.cursor.execute(
                f"INSERT INTO {table} ({column}) "
                f"SELECT jsonb_array_elements_text(%s::jsonb) {conflict}",
                [json.dumps(ids)],
            )
            return
        for chunk in chunked(ids, KEY_CHUNK):
            values = ", ".join(["(?)"] * len(chunk))
            self.cursor.execute(f"INSERT INTO {table} ({column}) VALUES {values} {conflict}", chunk)

    def epoch(self, value: Any) -> int:
        return value if self.sqlite else to_epoch_us(value)

    def insert_deltas(self, quarters: dict[int, Activity]) -> None:
        rows = [(self.time(start), *activity.to_row()) for start, activity in quarters.items()]
        for chunk in chunked(rows, KEY_CHUNK):
            values = ", ".join([f"({self.marks(1 + len(COUNTS) + len(BITMAPS))})"] * len(chunk))
            self.cursor.execute(
                f"INSERT INTO rollup_delta (start_at, {self.COLUMNS}) VALUES {values}",
                [param for row in chunk for param in row],
            )

    def lock_compaction(self, wait: bool) -> bool:
        if self.sqlite:
            return True  # the transaction holds SQLite's only write lock already
        if wait:
            self.cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COMPACTION_LOCK])
            return True
        self.cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [COMPACTION_LOCK])
        (locked,) = self.cursor.fetchone() or (False,)
        return bool(locked)

    def take_deltas(self, limit: int) -> list[tuple[int, Activity]]:
        """Delete the `limit` oldest deltas and return them (quarter start, activity)."""
        self.cursor.execute(
            "DELETE FROM rollup_delta WHERE id IN "
            f"(SELECT id FROM rollup_delta ORDER BY id LIMIT {self.mark}) "
            f"RETURNING start_at, {self.COLUMNS}",
            [limit],
        )
        return [(self.epoch(row[0]), Activity.from_row(row[1:])) for row in self.cursor.fetchall()]

    def ensure_rows(self, keys: list[tuple[str, int]]) -> None:
        for chunk in chunked(keys, KEY_CHUNK):
            self._ensure_chunk(chunk)

    def _ensure_chunk(self, keys: list[tuple[str, int]]) -> None:
        empty = BitMap().serialize()
        values = ", ".join([f"({self.marks(2)}, 0, 0, 0, {self.marks(3)})"] * len(keys))
        params = [p for grain, at in keys for p in (grain, self.time(at), empty, empty, empty)]
        self.cursor.execute(
            f"INSERT INTO rollup (grain, start_at, {self.COLUMNS}) VALUES {values} "
            "ON CONFLICT (grain, start_at) DO NOTHING",
            params,
        )

    def lock_rows(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], Activity]:
        """Lock and read the rows of `keys` that exist, in key order (chunks keep SQLite under
        its limit of bound parameters when a backfill touches thousands of periods)."""
        rows: dict[tuple[str, int], Activity] = {}
        for chunk in chunked(keys, KEY_CHUNK):
            rows.update(self._lock_chunk(chunk))
        return rows

    def _lock_chunk(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], Activity]:
        where = " OR ".join([f"(grain = {self.mark} AND start_at = {self.mark})"] * len(keys))
        params = [p for grain, at in keys for p in (grain, self.time(at))]
        lock = "" if self.sqlite else " FOR UPDATE"  # SQLite: the writer holds the write lock
        self.cursor.execute(
            f"SELECT grain, start_at, {self.COLUMNS} FROM rollup WHERE {where} "
            f"ORDER BY grain, start_at{lock}",
            params,
        )
        return {
            (row[0], self.epoch(row[1])): Activity.from_row(row[2:])
            for row in self.cursor.fetchall()
        }

    def write_rows(self, rows: list[tuple[tuple[str, int], Activity, tuple[str, ...]]]) -> None:
        """Write back each row's counts and the named bitmaps. A bitmap left out is not sent:
        most events come from users and sessions a period has already seen, and rewriting an
        unchanged bitmap (on PostgreSQL a new TOASTed value) was most of the rollups' cost."""
        by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for (grain, at), activity, bitmaps in rows:
            blobs = tuple(getattr(activity, name).serialize() for name in bitmaps)
            by_columns[(*COUNTS, *bitmaps)].append(
                (*activity.counts(), *blobs, grain, self.time(at))
            )
        for names, params in by_columns.items():
            assignments = ", ".join(f"{name} = {self.mark}" for name in names)
            where = f"grain = {self.mark} AND start_at = {self.mark}"
            # psycopg pipelines executemany into one round trip.
            self.cursor.executemany(f"UPDATE rollup SET {assignments} WHERE {where}", params)

"""Rollups: chat activity per UTC quarter hour, hour and day, kept exact in the transaction that
stores (or erases) the events.

Each rollup row holds additive counts and three sets as roaring bitmaps: the users, the sessions,
and the converted sessions (those with a CTA click) active in the period (derived/activity.py).
Distinct counts over any range are then the size of a union of a few bitmaps, never a scan of
raw events.

Ingestion does not rewrite rollup rows: each transaction inserts a small delta row per quarter
hour it touched (its own counts and sets). Compaction folds pending deltas into the rows every
second or so, and readers add the deltas still pending to the rows they read. A row of a busy day
holds bitmaps of tens of thousands of sessions; rewriting it (and its hour and quarter) in every
group commit was most of what rollups cost ingestion.
"""

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, select

from plugin_analytics.db.models import CHAT_EVENT_TYPES, event_table
from plugin_analytics.db.types import to_epoch_us
from plugin_analytics.derived.activity import Activity, tally
from plugin_analytics.derived.numbering import KeyNumbers, KeySql, hold_ingestion
from plugin_analytics.derived.periods import GRAINS, QUARTER_US, period_start
from plugin_analytics.derived.rollup_sql import PeriodKey, Quarter, RollupSql

BACKFILL_CHUNK = 20_000
COMPACT_BATCH = 2_000  # deltas folded per transaction
# What rollups need of an event: (site_num, user_id, session_id, event_type, role, occurred_at
# in µs).
EventFacts = tuple[int, str, str, str, str, int]


def count_quarters(
    connection: Connection, events: Sequence[EventFacts], known: KeyNumbers | None = None
) -> dict[Quarter, Activity]:
    """The activity that newly stored events add to each site's UTC quarter hours (by start).
    `known`: key numbers found already; the missing ones are looked up (or assigned)."""
    quarters: dict[Quarter, Activity] = defaultdict(Activity)
    active = [event for event in events if event[3] in CHAT_EVENT_TYPES]
    if not active:
        return quarters
    users, sessions = known or ({}, {})
    missing_users = {(site, user) for site, user, *_ in active if (site, user) not in users}
    missing_sessions = {
        (site, session) for site, _, session, *_ in active if (site, session) not in sessions
    }
    if missing_users or missing_sessions:
        more_users, more_sessions = KeySql(connection).key_numbers(missing_users, missing_sessions)
        users, sessions = {**users, **more_users}, {**sessions, **more_sessions}
    for site, user_id, session_id, event_type, role, occurred_at in active:
        period = quarters[site, period_start(occurred_at, QUARTER_US)]
        tally(period, event_type, role, users[site, user_id], sessions[site, session_id])
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
    quarters: dict[Quarter, Activity] = defaultdict(Activity)
    for quarter, activity in deltas:
        quarters[quarter].add(activity)
    if quarters:
        merge_into_rows(connection, spread(quarters))
    return len(deltas)


def hold_writers(connection: Connection) -> None:
    """Make ingestion and compaction wait until this transaction ends, before deleting rows
    either may be writing: events and keys, and rollup rows a compaction inserts but has not
    committed (READ COMMITTED would not see them to delete them)."""
    hold_ingestion(connection)
    RollupSql(connection).lock_compaction(wait=True)


def compact_all(connection: Connection) -> None:
    """Fold every pending delta into the rollup rows, waiting for any compaction under way."""
    while compact(connection, wait=True) == COMPACT_BATCH:
        pass


def backfill(connection: Connection) -> int:
    """Count every stored event into the rollups (which must be empty); returns the count."""
    names = ("site_num", "user_id", "session_id", "event_type", "role", "occurred_at")
    query = select(*(event_table.c[name] for name in names)).order_by(event_table.c.id)
    result = connection.execute(query.execution_options(yield_per=BACKFILL_CHUNK))
    counted = 0
    for chunk in result.partitions():
        facts = [
            (site, user_id, session_id, event_type, role, to_epoch_us(occurred_at))
            for site, user_id, session_id, event_type, role, occurred_at in chunk
        ]
        add_to_rollups(connection, facts)
        counted += len(facts)
    return counted


def spread(quarters: dict[Quarter, Activity]) -> dict[PeriodKey, Activity]:
    """The quarter-hour deltas, and the hour and day deltas they add up to (per site)."""
    deltas: dict[PeriodKey, Activity] = {}
    for (site, start), activity in quarters.items():
        deltas[(site, "quarter", start)] = activity
        for grain in ("hour", "day"):
            key = (site, grain, period_start(start, GRAINS[grain]))
            deltas.setdefault(key, Activity()).add(activity)
    return deltas


def merge_into_rows(connection: Connection, deltas: dict[PeriodKey, Activity]) -> None:
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

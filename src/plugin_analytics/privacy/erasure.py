"""Erasing a user (right to erasure) while keeping every rollup exact."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from plugin_analytics.db.models import (
    CHAT_EVENT_TYPES,
    event_table,
    session_key_table,
    user_key_table,
)
from plugin_analytics.db.session import write_transaction
from plugin_analytics.db.types import from_epoch_us, to_epoch_us
from plugin_analytics.derived import profiles
from plugin_analytics.derived.activity import BITMAPS, Activity, count
from plugin_analytics.derived.numbering import SESSION_KEY, forget_unused_keys, hold_ingestion
from plugin_analytics.derived.periods import GRAINS, period_start
from plugin_analytics.derived.rollup_sql import PeriodKey, RollupSql
from plugin_analytics.derived.rollups import compact_all
from plugin_analytics.privacy.audit import record


@dataclass
class _Removal:
    """What one rollup period loses: counts, and the sessions that may no longer be active."""

    counts: Activity = field(default_factory=Activity)
    sessions: set[str] = field(default_factory=set)


def erase(engine: Engine, site_num: int, user_id: str) -> int:
    """Erase `user_id` of the site in a transaction of its own; returns how many events were
    deleted. The same id on another site is another user, left as it is."""
    with write_transaction(engine) as connection:
        return erase_user(connection, site_num, user_id)


def erase_user(connection: Connection, site_num: int, user_id: str) -> int:
    """Delete every event of the site's `user_id` and take them out of the rollups; returns
    how many."""
    hold_ingestion(connection)  # the user's key is deleted below
    compact_all(connection)  # what is subtracted below must be in the rows, not in deltas
    events = connection.execute(
        select(
            event_table.c.session_id,
            event_table.c.event_type,
            event_table.c.role,
            event_table.c.occurred_at,
        ).where(*_user(event_table, site_num, user_id))
    ).all()
    removals = _removals(site_num, events)
    user_num = connection.execute(
        select(user_key_table.c.num).where(*_user(user_key_table, site_num, user_id))
    ).scalar()
    connection.execute(delete(event_table).where(*_user(event_table, site_num, user_id)))
    if removals and user_num is not None:
        _subtract(connection, site_num, removals, user_num)
    connection.execute(delete(user_key_table).where(*_user(user_key_table, site_num, user_id)))
    profiles.forget(connection, site_num, user_id)
    sessions = forget_unused_keys(
        connection, SESSION_KEY, site_num, {session_id for session_id, *_ in events}
    )
    # Who was erased is not recorded: that would keep what was erased.
    record(
        connection,
        "user_erased",
        len(events),
        {"events": len(events), "rollup_periods": len(removals), "sessions_forgotten": sessions},
    )
    return len(events)


def _user(table: Any, site_num: int, user_id: str) -> tuple[Any, Any]:
    return table.c.site_num == site_num, table.c.user_id == user_id


def _removals(site_num: int, events: Sequence[Any]) -> dict[PeriodKey, _Removal]:
    removals: dict[PeriodKey, _Removal] = defaultdict(_Removal)
    for session_id, event_type, role, occurred_at in events:
        if event_type not in CHAT_EVENT_TYPES:
            continue
        at = to_epoch_us(occurred_at)
        for grain, size in GRAINS.items():
            removal = removals[(site_num, grain, period_start(at, size))]
            removal.sessions.add(session_id)
            count(removal.counts, event_type, role)
    return removals


def _subtract(
    connection: Connection, site_num: int, removals: dict[PeriodKey, _Removal], user: int
) -> None:
    sql = RollupSql(connection)
    sessions = {s for r in removals.values() for s in r.sessions}
    session_nums = _session_numbers(connection, site_num, sessions)
    for key, current in sql.lock_rows(sorted(removals)).items():
        removal = removals[key]
        current.subtract_counts(removal.counts)
        current.users.discard(user)
        for session_id in removal.sessions:
            still_active, still_converted = _session_left(connection, session_id, key)
            if not still_active:
                current.sessions.discard(session_nums[session_id])
            if not still_converted:
                current.converted_sessions.discard(session_nums[session_id])
        sql.write_rows([(key, current, BITMAPS)])


def _session_left(connection: Connection, session_id: str, key: PeriodKey) -> tuple[bool, bool]:
    """Whether other users' events keep the session active (and converted) in the period."""
    site_num, grain, start = key
    in_period = (
        event_table.c.site_num == site_num,
        event_table.c.session_id == session_id,
        event_table.c.occurred_at >= from_epoch_us(start),
        event_table.c.occurred_at < from_epoch_us(start + GRAINS[grain]),
    )
    types = set(
        connection.execute(
            select(event_table.c.event_type)
            .where(*in_period, event_table.c.event_type.in_(CHAT_EVENT_TYPES))
            .distinct()
        ).scalars()
    )
    return bool(types), "cta_click" in types


def _session_numbers(
    connection: Connection, site_num: int, session_ids: set[str]
) -> dict[str, int]:
    rows = connection.execute(
        select(session_key_table.c.session_id, session_key_table.c.num).where(
            session_key_table.c.site_num == site_num,
            session_key_table.c.session_id.in_(session_ids),
        )
    )
    return {row.session_id: row.num for row in rows}

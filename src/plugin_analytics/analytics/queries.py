"""The analytics SQL: reading rollups, the raw events where no rollup can answer, and CTAs."""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, func, literal_column, or_, select

from plugin_analytics.analytics.ranges import Bucket, DateRange, Pieces, decompose
from plugin_analytics.db.batches import chunked
from plugin_analytics.db.models import (
    CHAT_EVENT_TYPES,
    event_table,
    rollup_delta_table,
    rollup_table,
    session_key_table,
    user_key_table,
)
from plugin_analytics.db.types import from_epoch_us, to_epoch_us
from plugin_analytics.derived.activity import MEASURES, Activity, tally
from plugin_analytics.derived.driver import KEY_CHUNK
from plugin_analytics.derived.periods import GRAINS, period_start

TOP_PRECEDING = 3


def activity_in(connection: Connection, site_num: int, start_us: int, end_us: int) -> Activity:
    """All chat activity of the site in [start_us, end_us)."""
    return activity_per_span(connection, site_num, [(start_us, end_us)])[0]


def activity_per_span(
    connection: Connection, site_num: int, spans: list[tuple[int, int]]
) -> list[Activity]:
    """Activity of each span, reading every rollup row the spans need in a few queries."""
    pieces = [decompose(start, end) for start, end in spans]
    periods = {period for piece in pieces for period in piece.periods}
    rows = rollup_rows(connection, site_num, periods)
    return [_combine(connection, site_num, piece, rows) for piece in pieces]


def _combine(
    connection: Connection, site_num: int, piece: Pieces, rows: dict[tuple[str, int], Activity]
) -> Activity:
    total = Activity()
    for period in piece.periods:
        if period in rows:
            total.add(rows[period])
    for start, end in piece.raw:
        total.add(raw_activity(connection, site_num, start, end))
    return total


def rollup_rows(
    connection: Connection, site_num: int, periods: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], Activity]:
    """The activity of each of these periods of the site that has any: its rollup row plus
    the deltas not yet folded into it (read in the same transaction, so each counts once)."""
    wanted = set(periods)
    by_grain: dict[str, list[int]] = defaultdict(list)
    for grain, start in wanted:
        by_grain[grain].append(start)
    found: dict[tuple[str, int], Activity] = {}
    columns = [rollup_table.c[name] for name in MEASURES]
    for grain, starts in by_grain.items():
        for some in chunked(starts, KEY_CHUNK):
            chunk = [from_epoch_us(at) for at in some]
            query = select(rollup_table.c.start_at, *columns).where(
                rollup_table.c.site_num == site_num,
                rollup_table.c.grain == grain,
                rollup_table.c.start_at.in_(chunk),
            )
            for row in connection.execute(query):
                found[(grain, to_epoch_us(row.start_at))] = Activity.from_row(row[1:])
    if wanted:
        _add_pending_deltas(connection, site_num, wanted, found)
    return found


def _add_pending_deltas(
    connection: Connection,
    site_num: int,
    wanted: set[tuple[str, int]],
    found: dict[tuple[str, int], Activity],
) -> None:
    first = min(start for _, start in wanted)
    end = max(start + GRAINS[grain] for grain, start in wanted)
    delta = rollup_delta_table
    query = select(delta.c.start_at, *(delta.c[name] for name in MEASURES)).where(
        delta.c.site_num == site_num,
        delta.c.start_at >= from_epoch_us(first),
        delta.c.start_at < from_epoch_us(end),
    )
    for row in connection.execute(query):
        activity, quarter = Activity.from_row(row[1:]), to_epoch_us(row.start_at)
        for grain, size in GRAINS.items():
            key = (grain, period_start(quarter, size))
            if key in wanted:
                found.setdefault(key, Activity()).add(activity)


def raw_activity(connection: Connection, site_num: int, start_us: int, end_us: int) -> Activity:
    """Activity computed from the events themselves (the exact path under the rollups)."""
    users, sessions = user_key_table, session_key_table
    query = (
        select(event_table.c.event_type, event_table.c.role, users.c.num, sessions.c.num)
        .join(
            users,
            and_(users.c.site_num == site_num, users.c.user_id == event_table.c.user_id),
        )
        .join(
            sessions,
            and_(
                sessions.c.site_num == site_num,
                sessions.c.session_id == event_table.c.session_id,
            ),
        )
        .where(
            event_table.c.site_num == site_num,
            event_table.c.occurred_at >= from_epoch_us(start_us),
            event_table.c.occurred_at < from_epoch_us(end_us),
            event_table.c.event_type.in_(CHAT_EVENT_TYPES),
        )
    )
    total = Activity()
    for event_type, role, user, session in connection.execute(query):
        tally(total, event_type, role, user, session)
    return total


def activity_per_bucket(
    connection: Connection, site_num: int, spans: list[Bucket]
) -> list[Activity]:
    bounds = [(bucket.start_us, bucket.end_us) for bucket in spans]
    return activity_per_span(connection, site_num, bounds)


@dataclass
class CtaStats:
    cta_id: str | None
    clicks: int = 0
    users: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    preceding: Counter[str] = field(default_factory=Counter)

    def top_preceding(self) -> list[tuple[str, int]]:
        return self.preceding.most_common(TOP_PRECEDING)


def cta_stats(connection: Connection, span: DateRange) -> list[CtaStats]:
    """Per CTA: clicks, who clicked, and the assistant message each click followed."""
    click = event_table
    before = event_table.alias("before")
    preceding = (
        select(before.c.message)
        .where(
            before.c.site_num == click.c.site_num,
            before.c.session_id == click.c.session_id,
            before.c.event_type == "message",
            before.c.role == "assistant",
            or_(
                before.c.occurred_at < click.c.occurred_at,
                and_(before.c.occurred_at == click.c.occurred_at, before.c.id < click.c.id),
            ),
        )
        .order_by(before.c.occurred_at.desc(), before.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(click.c.cta_id, click.c.user_id, click.c.session_id, preceding).where(
        # Inline, not a bound parameter, so the planner can use the partial index on clicks.
        click.c.site_num == span.site_num,
        click.c.event_type == literal_column("'cta_click'"),
        click.c.occurred_at >= from_epoch_us(span.start_us),
        click.c.occurred_at < from_epoch_us(span.end_us),
    )
    stats: dict[str | None, CtaStats] = {}
    for cta_id, user_id, session_id, message in connection.execute(query):
        entry = stats.setdefault(cta_id, CtaStats(cta_id))
        entry.clicks += 1
        entry.users.add(user_id)
        entry.sessions.add(session_id)
        if message is not None:
            entry.preceding[message] += 1
    return sorted(stats.values(), key=lambda s: (-s.clicks, s.cta_id or ""))


def opening_messages(
    connection: Connection, site_num: int, start_us: int, end_us: int
) -> list[str]:
    """The first user message of each session of the site in [start_us, end_us) (its opening
    question)."""
    event = event_table
    order = func.row_number().over(
        partition_by=event.c.session_id, order_by=(event.c.occurred_at, event.c.id)
    )
    ranked = (
        select(event.c.message, order.label("n"))
        .where(
            event.c.site_num == site_num,
            event.c.occurred_at >= from_epoch_us(start_us),
            event.c.occurred_at < from_epoch_us(end_us),
            event.c.event_type == "message",
            event.c.role == "user",
        )
        .subquery()
    )
    return list(connection.execute(select(ranked.c.message).where(ranked.c.n == 1)).scalars())

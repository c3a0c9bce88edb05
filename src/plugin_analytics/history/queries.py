"""Keyset-paginated reads of events in time order."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, literal, select, tuple_
from sqlmodel import Session

from plugin_analytics.db.models import event_table
from plugin_analytics.db.types import from_epoch_us, to_epoch_us
from plugin_analytics.errors import BadRequest


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None


CURSOR = re.compile(r"(-?\d{1,19})\.(\d{1,19})")
MIN_US = to_epoch_us(datetime.min.replace(tzinfo=UTC))
MAX_US = to_epoch_us(datetime.max.replace(tzinfo=UTC))


def encode_cursor(occurred_at: datetime, row_id: int) -> str:
    """`<event time in µs since the epoch>.<row id>`: the position after the page's last row."""
    return f"{to_epoch_us(occurred_at)}.{row_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    match = CURSOR.fullmatch(cursor)
    at_us, row_id = (int(match[1]), int(match[2])) if match else (0, 0)
    if not (match and MIN_US <= at_us <= MAX_US and 0 < row_id < 2**63):
        raise BadRequest("cursor is not one this API returned")
    return from_epoch_us(at_us), row_id


def events_page(
    session: Session, *, where: ColumnElement[bool], limit: int, cursor: str | None
) -> Page:
    """Up to `limit` events matching `where` after `cursor`, ordered by (event time, id)."""
    order = (event_table.c.occurred_at, event_table.c.id)
    query = select(event_table).where(where).order_by(*order).limit(limit + 1)
    if cursor is not None:
        occurred_at, row_id = decode_cursor(cursor)
        after = tuple_(literal(occurred_at, order[0].type), literal(row_id, order[1].type))
        query = query.where(tuple_(*order) > after)
    rows = list(session.connection().execute(query))
    if len(rows) <= limit:
        return Page(rows, None)
    last = rows[limit - 1]
    return Page(rows[:limit], encode_cursor(last.occurred_at, last.id))

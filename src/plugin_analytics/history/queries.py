"""Keyset-paginated reads of events in time order."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, literal, select, tuple_
from sqlmodel import Session

from plugin_analytics.db.models import event_table
from plugin_analytics.errors import BadRequest


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None


def encode_cursor(occurred_at: datetime, row_id: int) -> str:
    raw = json.dumps([occurred_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        occurred_at, row_id = json.loads(raw)
        # A naive, out-of-range or non-integer value would fail in the database, not here.
        at = datetime.fromisoformat(occurred_at)
        if at.tzinfo is None or type(row_id) is not int or not 0 < row_id < 2**63:
            raise ValueError("not a cursor")
        return at.astimezone(UTC), row_id
    except (binascii.Error, ValueError, TypeError, OverflowError) as exc:
        raise BadRequest("cursor is not one this API returned") from exc


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

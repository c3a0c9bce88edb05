"""The application with rollups switched off: bench/ingest.py's measure of what rollups cost.

Bench-only. The writer stores events exactly as it always does but counts nothing into the
rollups (and on PostgreSQL does not number users and sessions while inserting), so the
throughput it reaches next to `main:app` is the price of keeping rollups exact. There is
deliberately no setting for this: served for real, analytics would be wrong.
"""

from collections.abc import Sequence

from sqlalchemy import Connection

from plugin_analytics.app import create_app
from plugin_analytics.derived.numbering import KeyNumbers
from plugin_analytics.derived.rollups import EventFacts
from plugin_analytics.ingest import store, writer


def _skip_rollups(
    connection: Connection, events: Sequence[EventFacts], known: KeyNumbers | None = None
) -> None:
    """Count nothing."""


def _insert_only(
    self: store.PostgresEventStore, connection: Connection, rows: Sequence[store.StoredRow]
) -> tuple[list[store.StoredRow], KeyNumbers | None]:
    return self.insert(connection, rows), None


writer.record_deltas = _skip_rollups  # type: ignore[attr-defined]
store.PostgresEventStore.insert_numbered = _insert_only  # type: ignore[method-assign]
app = create_app()

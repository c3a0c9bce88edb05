"""The application with rollups switched off: bench/ingest.py's measure of what rollups cost.

Bench-only. The writer stores events exactly as it always does but counts nothing into the
rollups, so the throughput it reaches next to `main:app` is the price of keeping rollups exact.
There is deliberately no setting for this: served for real, analytics would be wrong.
"""

from collections.abc import Sequence

from sqlalchemy import Connection

from plugin_analytics.analytics.rollups import EventFacts
from plugin_analytics.app import create_app
from plugin_analytics.ingest import writer


def _skip_rollups(connection: Connection, events: Sequence[EventFacts]) -> None:
    """Count nothing."""


writer.add_to_rollups = _skip_rollups
app = create_app()

"""The timeseries as CSV, for GET /analytics/export/summary and the weekly report's attachment."""

from sqlalchemy import Connection

from plugin_analytics.analytics.queries import activity_per_bucket
from plugin_analytics.analytics.ranges import DateRange, Interval, buckets
from plugin_analytics.analytics.schemas import Metrics
from plugin_analytics.exports.formats import CsvEncoder, file_name

SUMMARY_COLUMNS = ("start", "end", *Metrics.model_fields)


def summary_csv(connection: Connection, span: DateRange, interval: Interval) -> str:
    """A row per bucket (empty ones 0): local start and end with their offsets, then metrics."""
    spans = buckets(span, interval)
    encoder = CsvEncoder(SUMMARY_COLUMNS)
    rows = (
        [bucket.start.isoformat(), bucket.end.isoformat(), *Metrics.of(activity).values()]
        for bucket, activity in zip(spans, activity_per_bucket(connection, spans), strict=True)
    )
    return encoder.header() + encoder.rows(rows)


def summary_file_name(span: DateRange, interval: Interval) -> str:
    return file_name(f"summary_{interval}", span.start_date, span.end_date, "csv")

"""The timeseries as CSV, for GET /analytics/export/summary and the weekly report's attachment."""

from collections.abc import Iterable

from sqlalchemy import Connection

from plugin_analytics.analytics.queries import activity_per_bucket
from plugin_analytics.analytics.ranges import Bucket, DateRange, Interval, buckets
from plugin_analytics.analytics.schemas import Metrics
from plugin_analytics.exports.formats import CsvEncoder, file_name

SUMMARY_COLUMNS = ("start", "end", *Metrics.model_fields)


def summary_csv(connection: Connection, span: DateRange, interval: Interval) -> str:
    """A row per bucket (empty ones 0): local start and end with their offsets, then metrics."""
    spans = buckets(span, interval)
    activities = activity_per_bucket(connection, span.site_num, spans)
    return buckets_csv(
        (bucket, Metrics.of(activity)) for bucket, activity in zip(spans, activities, strict=True)
    )


def buckets_csv(rows: Iterable[tuple[Bucket, dict[str, int | float]]]) -> str:
    """The CSV of buckets whose metrics (Metrics.of) are known already."""
    encoder = CsvEncoder(SUMMARY_COLUMNS)
    return encoder.header() + encoder.rows(
        [bucket.start.isoformat(), bucket.end.isoformat(), *metrics.values()]
        for bucket, metrics in rows
    )


def summary_file_name(span: DateRange, interval: Interval) -> str:
    return file_name(f"summary_{interval}", span.start_date, span.end_date, "csv")

"""The interface a module is written against: subclass `Module`, return `ReportSection`s."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, ClassVar

from fastapi import APIRouter
from sqlalchemy import Connection

from plugin_analytics.analytics.ranges import DateRange

Metric = int | float | None


def week_before(week: DateRange) -> DateRange:
    """The seven days before `week`, to compare with."""
    return replace(
        week,
        start_date=week.start_date - timedelta(days=7),
        end_date=week.end_date - timedelta(days=7),
    )


@dataclass(frozen=True)
class ReportSection:
    """A module's part of the weekly email: a heading, paragraphs, and (label, value) rows.
    Plain text: it is escaped for the HTML version."""

    title: str
    paragraphs: Sequence[str] = ()
    rows: Sequence[tuple[str, str]] = ()


class Module:
    """Subclass this and override what your module adds; everything is optional.

    `name` (lowercase letters, digits, _) is the module's key: its routes are served under
    /plugins/<name>/ and its metrics appear in the summary as plugins.<name>.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Event types the module adds to ingestion, each with the type its `properties` must
    # validate as (a TypedDict or a pydantic model); a bad event is refused, naming the field.
    event_types: ClassVar[Mapping[str, Any]] = {}

    def router(self) -> APIRouter | None:
        """Routes, served under /plugins/<name> and readable only with an admin key."""
        return None

    def summary(self, connection: Connection, span: DateRange) -> Mapping[str, Metric]:
        """Metrics for GET /analytics/summary over `span`, read through `connection`."""
        return {}

    def report_section(self, connection: Connection, week: DateRange) -> ReportSection | None:
        """The module's section of the weekly report for `week` (None: no section)."""
        return None

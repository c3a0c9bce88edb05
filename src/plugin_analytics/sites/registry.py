"""What the rest of the code asks of sites: a site as it is in force (the stored row, with the
environment's values for what `default` leaves unset), found by its id or its number."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from plugin_analytics.config import Settings
from plugin_analytics.db.models import DEFAULT_SITE, DEFAULT_SITE_NUM, site_table
from plugin_analytics.errors import APIError

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
SLUG_PATTERN = SLUG.pattern
FALLBACK_TIMEZONE = "UTC"


class SiteNotFound(APIError):
    status_code = 404

    def __init__(self, site_id: str) -> None:
        super().__init__(f"there is no site {site_id!r}")


@dataclass(frozen=True)
class Site:
    num: int  # what every table of data refers to it by
    id: str
    name: str
    timezone: str
    domains: tuple[str, ...]
    report_recipients: tuple[str, ...]
    report_schedule: str
    retention_days: int | None  # None: RETENTION_DAYS
    created_at: datetime

    @property
    def is_default(self) -> bool:
        return self.num == DEFAULT_SITE_NUM


def site_from_row(row: RowMapping | Mapping[str, Any], settings: Settings) -> Site:
    """The site in force: `default` takes SITE_NAME, REPORT_TIMEZONE, REPORT_RECIPIENTS and
    REPORT_SCHEDULE for what it leaves NULL; another site takes UTC, no recipients and
    REPORT_SCHEDULE."""
    default = row["num"] == DEFAULT_SITE_NUM
    recipients = row["report_recipients"]
    if recipients is None:
        recipients = settings.report_recipients if default else []
    return Site(
        num=row["num"],
        id=row["id"],
        name=row["name"] or (settings.site_name if default else row["id"]),
        timezone=row["timezone"] or (settings.report_timezone if default else FALLBACK_TIMEZONE),
        domains=tuple(row["domains"] or ()),
        report_recipients=tuple(recipients),
        report_schedule=row["report_schedule"] or settings.report_schedule,
        retention_days=row["retention_days"],
        created_at=row["created_at"],
    )


def find_site(connection: Connection, site_id: str, settings: Settings) -> Site | None:
    """The site with this id, or None."""
    row = connection.execute(select(site_table).where(site_table.c.id == site_id)).mappings()
    found = row.first()
    return None if found is None else site_from_row(found, settings)


def all_sites(connection: Connection, settings: Settings) -> list[Site]:
    """Every site, `default` first, then by id."""
    rows = connection.execute(select(site_table).order_by(site_table.c.num != 1, site_table.c.id))
    return [site_from_row(row, settings) for row in rows.mappings()]


__all__ = [
    "DEFAULT_SITE", "DEFAULT_SITE_NUM", "SLUG", "Site", "SiteNotFound", "all_sites", "find_site",
]  # fmt: skip


def find_site_by_num(connection: Connection, num: int, settings: Settings) -> Site | None:
    """The site numbered `num`, or None."""
    row = connection.execute(select(site_table).where(site_table.c.num == num)).mappings()
    found = row.first()
    return None if found is None else site_from_row(found, settings)

"""What a read is about, for the routes that read: who asks (an admin or a viewer key), which
site (`?site=`, within what the key may read) and which days (`RangeDep`)."""

from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy import Connection

from plugin_analytics.access.ring import Reader
from plugin_analytics.analytics.ranges import DateRange, date_range
from plugin_analytics.config import Settings
from plugin_analytics.dependencies import EndDate, EngineDep, SettingsDep, StartDate, TimeZone
from plugin_analytics.errors import refusals
from plugin_analytics.security import ReaderDep
from plugin_analytics.sites.registry import (
    DEFAULT_SITE,
    SLUG_PATTERN,
    Site,
    SiteNotFound,
    find_site,
    find_site_by_num,
)

SiteQuery = Annotated[
    str | None,
    Query(
        max_length=63,
        pattern=f"^{SLUG_PATTERN}$",
        description="The site (its id). Default: `default` for an admin key, its own for a "
        "viewer key.",
    ),
]


def current_site(
    engine: EngineDep, settings: SettingsDep, reader: ReaderDep, site: SiteQuery = None
) -> Site:
    """The site a read or admin request is about: the one named, else `default` for an admin
    key and its own for a viewer key. 404 for one that does not exist, and the same 404 for a
    viewer key naming another site: it cannot tell which sites exist."""
    with engine.connect() as connection:
        found = find_site_for(connection, settings, reader, site)
    if found is None:
        raise SiteNotFound(site or DEFAULT_SITE)
    return found


def find_site_for(
    connection: Connection, settings: Settings, reader: Reader, site: str | None
) -> Site | None:
    """The site `reader` may read of the one named (None: its default one)."""
    if reader.site_num is None:
        return find_site(connection, site or DEFAULT_SITE, settings)
    if site is None:
        return find_site_by_num(connection, reader.site_num, settings)
    found = find_site(connection, site, settings)
    return found if found is not None and found.num == reader.site_num else None


SiteDep = Annotated[Site, Depends(current_site)]
SITE_REFUSALS = refusals({404: "No such site"})


async def valid_range(
    site: SiteDep, start_date: StartDate = None, end_date: EndDate = None, tz: TimeZone = None
) -> DateRange:
    """The report's days: 400 for an unknown zone, an inverted or a longer than 3-year range."""
    return date_range(start_date, end_date, tz or site.timezone, site.num)


RangeDep = Annotated[DateRange, Depends(valid_range)]
RANGE_REFUSALS = refusals(
    {
        400: "Unknown time zone, or dates out of order, out of range or more than 3 years apart",
        404: "No such site",
    }
)


def range_echo(span: DateRange) -> dict[str, object]:
    return {"start_date": span.start_date, "end_date": span.end_date, "tz": span.tz.key}

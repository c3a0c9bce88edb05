"""What a read is about, for the routes that read: who asks (an admin or a viewer key), which
site (`?site=`, within what the key may read) and which days (`RangeDep`)."""

from typing import Annotated

from fastapi import Depends, Query

from plugin_analytics.analytics.ranges import DateRange, date_range
from plugin_analytics.dependencies import EndDate, ServicesDep, SettingsDep, StartDate, TimeZone
from plugin_analytics.errors import refusals
from plugin_analytics.security import ReaderDep
from plugin_analytics.sites.registry import (
    DEFAULT_SITE,
    SLUG_PATTERN,
    Site,
    SiteNotFound,
    find_site,
    find_site_by_num,
    site_from_row,
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
    services: ServicesDep, settings: SettingsDep, reader: ReaderDep, site: SiteQuery = None
) -> Site:
    """The site a read or admin request is about: the one named, else `default` for an admin
    key and its own for a viewer key. 404 for one that does not exist, and the same 404 for a
    viewer key naming another site: it cannot tell which sites exist. Found in the key ring's
    copy of the sites (reloaded every few seconds), else in the database (a site made a moment
    ago on another worker)."""
    keys = services.keys.current
    if site is not None:
        site_id: str | None = site
    elif reader.site_num is None:
        site_id = DEFAULT_SITE
    else:
        site_id = keys.site_ids.get(reader.site_num)
    cached = keys.site_rows.get(site_id) if site_id else None
    found: Site | None
    if cached is not None:
        found = site_from_row(cached, settings)
    else:
        with services.engine.connect() as connection:
            if site_id is not None:
                found = find_site(connection, site_id, settings)
            elif reader.site_num is not None:  # a viewer whose site the ring does not know yet
                found = find_site_by_num(connection, reader.site_num, settings)
            else:
                found = None
    if found is None or (reader.site_num is not None and found.num != reader.site_num):
        raise SiteNotFound(site or DEFAULT_SITE)
    return found


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

"""What routes depend on: the app's services (typed), the database session, and the request
parameters several routes share (ids in paths, pages, the date range). The analytics modules
are `ModulesDep` in modules/registry.py, beside the type it names."""

import re
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from pydantic import BeforeValidator
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.convertors import PathConvertor, register_url_convertor

from plugin_analytics.access.ring import KeyRing
from plugin_analytics.analytics.ranges import DateRange, date_range
from plugin_analytics.config import Settings
from plugin_analytics.errors import refusals
from plugin_analytics.ingest.writer import EventWriter
from plugin_analytics.services import Services, services_of
from plugin_analytics.sites.registry import (
    DEFAULT_SITE,
    SLUG_PATTERN,
    Site,
    SiteNotFound,
    find_site,
)


def get_services(request: Request) -> Services:
    return services_of(request.app)


ServicesDep = Annotated[Services, Depends(get_services)]


def running_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_engine(services: ServicesDep) -> Engine:
    return services.engine


def get_keys(services: ServicesDep) -> KeyRing:
    return services.keys


def get_writer(services: ServicesDep) -> EventWriter:
    return services.writer


SettingsDep = Annotated[Settings, Depends(running_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
KeysDep = Annotated[KeyRing, Depends(get_keys)]
WriterDep = Annotated[EventWriter, Depends(get_writer)]


def get_session(engine: EngineDep) -> Iterator[Session]:
    """A session that commits when the request succeeds and rolls back otherwise: the one
    place a read or admin request commits."""
    with Session(engine) as session:
        yield session
        session.commit()


SessionDep = Annotated[Session, Depends(get_session)]

SiteQuery = Annotated[
    str | None,
    Query(
        max_length=63,
        pattern=f"^{SLUG_PATTERN}$",
        description="The site (its id). Default: `default`.",
    ),
]


def current_site(engine: EngineDep, settings: SettingsDep, site: SiteQuery = None) -> Site:
    """The site a read or admin request is about: 404 for one that does not exist."""
    site_id = site or DEFAULT_SITE
    with engine.connect() as connection:
        found = find_site(connection, site_id, settings)
    if found is None:
        raise SiteNotFound(site_id)
    return found


SiteDep = Annotated[Site, Depends(current_site)]
SITE_REFUSALS = refusals({404: "No such site"})


class IdConvertor(PathConvertor):
    """Any text, line feeds included (Starlette's `path` is `.*`, which stops at one)."""

    regex = r"[\s\S]*"


# Routes declare ids as {name:id}, so that any id stored (with "/" or a line feed in it) can be
# read back and erased.
register_url_convertor("id", IdConvertor())
IdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]+$",
        description="As sent at ingestion, URL-encoded.",
    ),
]

# A page of a list kept newest first (GET /reports, GET /audit).
PageLimit = Annotated[int, Query(ge=1, le=500, description="Entries per page.")]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000, description="Entries to skip.")]

ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(value: Any) -> Any:
    # Pydantic would also read "0" or "20260101" as a Unix time: a day in 1970.
    if isinstance(value, str) and not ISO_DAY.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


StartDate = Annotated[
    date | None,
    BeforeValidator(_iso_day),
    Query(description="First day (YYYY-MM-DD), inclusive. Default: 6 days ago."),
]
EndDate = Annotated[
    date | None,
    BeforeValidator(_iso_day),
    Query(description="Last day (YYYY-MM-DD), inclusive. Default: today."),
]
TimeZone = Annotated[
    str | None,
    Query(description="IANA time zone of the days, e.g. Asia/Kolkata. Default: the site's."),
]


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

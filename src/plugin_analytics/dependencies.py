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
from plugin_analytics.config import Settings
from plugin_analytics.ingest.writer import EventWriter
from plugin_analytics.services import Services, services_of


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

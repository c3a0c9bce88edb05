"""What a client sends to make or change a site, checked as the environment's settings are, and
what it gets back."""

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from plugin_analytics.config import ORIGIN_PATTERN, mailbox
from plugin_analytics.reports.cron import cron_trigger
from plugin_analytics.sites.registry import SLUG, SLUG_PATTERN, Site

MAX_DOMAINS = 100
MAX_RECIPIENTS = 50


def _slug(value: str) -> str:
    if not SLUG.fullmatch(value):
        raise ValueError(
            "must be 1 to 63 lowercase letters, digits and hyphens, starting with a letter or a "
            "digit, e.g. shop-example"
        )
    return value


def _one_line(value: Any) -> Any:
    """The text without the spaces around it, refused if it breaks a line (as str.splitlines
    does) or holds a NUL: the name goes into the email's subject."""
    if not isinstance(value, str):
        return value  # refused as not a string
    if len((value + "x").splitlines()) > 1 or "\x00" in value:
        raise ValueError("must be one line (it goes into the email's subject)")
    return value.strip()


def _known_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a directory
        raise ValueError(f"unknown IANA time zone {value!r}, e.g. Europe/Paris") from exc
    return value


def _valid_cron(value: str) -> str:
    try:
        cron_trigger(value, "UTC")
    except ValueError as exc:
        raise ValueError(f"not a cron expression ({exc}), e.g. 0 8 * * mon") from None
    return value


def _origin(value: str) -> str:
    """A browser origin, lowercased and without a trailing slash: how a browser sends it."""
    origin = value.strip().lower().removesuffix("/")
    if not ORIGIN_PATTERN.match(origin) or "@" in origin or not _valid_port(origin):
        raise ValueError(f"{value!r} is not an origin: scheme://host[:port], with no path")
    return origin


def _valid_port(origin: str) -> bool:
    try:
        urlsplit(origin).port  # noqa: B018 -- ValueError when it is not a port number
    except ValueError:
        return False
    return True


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


SiteId = Annotated[
    str,
    AfterValidator(_slug),
    Field(
        json_schema_extra={"pattern": f"^{SLUG_PATTERN}$"},
        description="The slug the site is named by in URLs and the CLI; fixed once made.",
        examples=["shop-example"],
    ),
]
SiteName = Annotated[
    str,
    Field(min_length=1, max_length=100, description="Shown in reports, one line."),
    BeforeValidator(_one_line),  # runs first: the length is of the name without its spaces
]
TimeZoneName = Annotated[
    str,
    Field(max_length=64, description="IANA time zone of the site's days, e.g. Europe/Paris."),
    AfterValidator(_known_timezone),
]
Origin = Annotated[str, Field(max_length=255), AfterValidator(_origin)]
Domains = Annotated[
    list[Origin],
    Field(
        max_length=MAX_DOMAINS,
        description="Browser origins the site's pages are served from (scheme://host[:port]), "
        "lowercased, without duplicates.",
    ),
    AfterValidator(_distinct),
]
Recipients = Annotated[
    list[Annotated[str, Field(max_length=320), AfterValidator(mailbox)]],
    Field(max_length=MAX_RECIPIENTS, description="Who gets the weekly report by email."),
    AfterValidator(_distinct),
]
Schedule = Annotated[
    str,
    Field(max_length=100, description="When the weekly report is sent: a 5-field cron line."),
    AfterValidator(_valid_cron),
]
RetentionDays = Annotated[
    int, Field(ge=1, le=36_500, description="Days of events kept; null: RETENTION_DAYS.")
]


class SiteCreate(BaseModel):
    """A new site. What is left out takes the installation's defaults."""

    model_config = ConfigDict(extra="forbid")

    id: SiteId
    name: SiteName
    timezone: TimeZoneName | None = None
    domains: Domains = []
    report_recipients: Recipients | None = None
    report_schedule: Schedule | None = None
    retention_days: RetentionDays | None = None


class SiteUpdate(BaseModel):
    """The fields to change; null puts a field back to the installation's default."""

    model_config = ConfigDict(extra="forbid")

    # Not a field one may send: declared only to refuse it with a message that says why.
    id: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    name: SiteName | None = None
    timezone: TimeZoneName | None = None
    domains: Domains = []
    report_recipients: Recipients | None = None
    report_schedule: Schedule | None = None
    retention_days: RetentionDays | None = None

    @field_validator("id")
    @classmethod
    def fixed_id(cls, _value: Any) -> Any:
        raise ValueError("a site's id is fixed once made; create another site for a new id")

    def changes(self) -> dict[str, Any]:
        """The columns to set: only the fields that were sent."""
        return self.model_dump(exclude_unset=True, exclude={"id"})


class SitePublic(BaseModel):
    """A site as it is in force: `default`'s unset fields show the environment's values."""

    id: str
    name: str
    timezone: str = Field(description="IANA time zone of the site's days.")
    domains: list[str] = Field(description="Browser origins the site's pages are served from.")
    report_recipients: list[str]
    report_schedule: str = Field(description="When the weekly report is sent (cron).")
    retention_days: int | None = Field(description="Days of events kept; null: RETENTION_DAYS.")
    created_at: datetime

    @classmethod
    def of(cls, site: Site) -> "SitePublic":
        return cls(
            id=site.id,
            name=site.name,
            timezone=site.timezone,
            domains=list(site.domains),
            report_recipients=list(site.report_recipients),
            report_schedule=site.report_schedule,
            retention_days=site.retention_days,
            created_at=site.created_at,
        )


class SiteList(BaseModel):
    sites: list[SitePublic] = Field(description="`default` first, then by id.")


class SiteDeletion(BaseModel):
    site: str = Field(description="The id of the site deleted.")
    deleted: dict[str, int] = Field(description="Rows deleted, by table.")

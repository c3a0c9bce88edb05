"""`plugin-analytics sites`: make, list, change and delete the sites, as the /sites routes do."""

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from plugin_analytics.cli_support import database
from plugin_analytics.config import get_settings
from plugin_analytics.errors import APIError
from plugin_analytics.sites import service
from plugin_analytics.sites.registry import Site, all_sites
from plugin_analytics.sites.schemas import SiteCreate, SiteUpdate

sites_app = typer.Typer(
    help="The websites this installation collects for, each with its own data.",
    no_args_is_help=True,
)
console = Console()
Model = TypeVar("Model", bound=BaseModel)

SiteIdArgument = Annotated[str, typer.Argument(metavar="ID", help="The site's id (a slug).")]
NameOption = Annotated[str | None, typer.Option(help="Shown in reports, one line.")]
TimezoneOption = Annotated[
    str | None,
    typer.Option(help="IANA time zone of its days. Default: UTC (default site: REPORT_TIMEZONE)."),
]
DomainOption = Annotated[
    list[str] | None,
    typer.Option(
        "--domain",
        metavar="ORIGIN",
        help="A browser origin its pages are served from (https://shop.example); repeat for more.",
    ),
]
RecipientsOption = Annotated[
    str | None,
    typer.Option(
        metavar="A,B", help="Who gets its weekly report: email addresses, comma-separated."
    ),
]
ScheduleOption = Annotated[
    str | None,
    typer.Option(help="When its weekly report is sent (cron). Default: REPORT_SCHEDULE."),
]
RetentionOption = Annotated[
    int | None, typer.Option(help="Days of events kept, 1 to 36500. Default: RETENTION_DAYS.")
]

# Where a field of the schemas comes from on the command line, to name it in an error.
OPTIONS = {
    "id": "ID",
    "name": "--name",
    "timezone": "--timezone",
    "domains": "--domain",
    "report_recipients": "--recipients",
    "report_schedule": "--schedule",
    "retention_days": "--retention-days",
}


class Resettable(StrEnum):
    """What `sites update --reset` puts back to the installation's default."""

    name = "name"
    timezone = "timezone"
    domains = "domains"
    recipients = "recipients"
    schedule = "schedule"
    retention_days = "retention-days"


RESET_FIELDS = {
    Resettable.name: "name",
    Resettable.timezone: "timezone",
    Resettable.domains: "domains",
    Resettable.recipients: "report_recipients",
    Resettable.schedule: "report_schedule",
    Resettable.retention_days: "retention_days",
}


@sites_app.command("create")
def sites_create(
    site_id: SiteIdArgument,
    name: Annotated[str, typer.Option(help="Shown in reports, one line.")],
    timezone: TimezoneOption = None,
    domain: DomainOption = None,
    recipients: RecipientsOption = None,
    schedule: ScheduleOption = None,
    retention_days: RetentionOption = None,
) -> None:
    """Make a site. Its id names it in URLs and here, and cannot change."""
    fields = _given(name, timezone, domain, recipients, schedule, retention_days)
    new = _validated(SiteCreate, {"id": site_id, **fields})
    with _refusals(), database() as engine:
        site = service.create_site(engine, new, get_settings())
    console.print(f"Created the site {site.id} ({escape(site.name)}).", highlight=False)


@sites_app.command("list")
def sites_list() -> None:
    """Every site, `default` first, with its settings in force."""
    with database() as engine, engine.connect() as connection:
        settings = get_settings()
        sites = all_sites(connection, settings)
    table = Table()
    table.add_column("id", no_wrap=True)  # never clipped: it is what the commands take
    for heading in ("name", "time zone", "domains", "report to", "schedule", "retention"):
        table.add_column(heading, overflow="fold")  # wrapped, not cut: origins, addresses
    table.add_column("created", no_wrap=True)
    for site in sites:
        table.add_row(*(escape(cell) for cell in _cells(site, settings.retention_days)))
    console.print(table)


def _cells(site: Site, retention_days: int | None) -> tuple[str, ...]:
    """A row of `sites list`; the retention in force: the site's, else RETENTION_DAYS."""
    days = site.retention_days or retention_days
    retention = f"{days} days" if days else "forever"
    return (
        site.id, site.name, site.timezone, "\n".join(site.domains),
        "\n".join(site.report_recipients), site.report_schedule, retention,
        f"{site.created_at:%Y-%m-%d}",
    )  # fmt: skip


@sites_app.command("update")
def sites_update(
    site_id: SiteIdArgument,
    name: NameOption = None,
    timezone: TimezoneOption = None,
    domain: DomainOption = None,
    recipients: RecipientsOption = None,
    schedule: ScheduleOption = None,
    retention_days: RetentionOption = None,
    reset: Annotated[
        list[Resettable] | None,
        typer.Option(help="Put a field back to the default (domains: none); repeat for more."),
    ] = None,
) -> None:
    """Change the options given (--domain replaces the list); the id cannot change."""
    fields = _given(name, timezone, domain, recipients, schedule, retention_days)
    for field in (RESET_FIELDS[choice] for choice in reset or ()):
        if field in fields:
            _usage_error(f"{OPTIONS[field]} and --reset both change {field}: give one")
        fields[field] = [] if field == "domains" else None
    if not fields:
        _usage_error("nothing to change: give the options to change (see --help)")
    changes = _validated(SiteUpdate, fields)
    with _refusals(), database() as engine:
        site = service.update_site(engine, site_id, changes, get_settings())
    console.print(f"Updated the site {site.id}: {', '.join(sorted(fields))}.", highlight=False)


@sites_app.command("delete")
def sites_delete(
    site_id: SiteIdArgument,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: everything collected for it is deleted.")
    ] = False,
) -> None:
    """Delete a site and everything collected for it: events, rollups, profiles, reports and
    its keys. There is no undo."""
    if not yes:
        _usage_error(
            f"deleting the site {site_id!r} deletes everything collected for it, for good; "
            "run again with --yes to do it"
        )
    with _refusals(), database() as engine:
        deleted = service.delete_site(engine, site_id)
    rows = ", ".join(f"{table} {count:,}" for table, count in deleted.items())
    console.print(f"Deleted the site {site_id} and its rows: {rows}.", highlight=False)


def _given(
    name: str | None,
    timezone: str | None,
    domains: list[str] | None,
    recipients: str | None,
    schedule: str | None,
    retention_days: int | None,
) -> dict[str, Any]:
    """The schema's fields for the options given (an option left out is not a change)."""
    fields: dict[str, Any] = {
        "name": name,
        "timezone": timezone,
        "domains": domains or None,
        "report_recipients": None if recipients is None else _split(recipients),
        "report_schedule": schedule,
        "retention_days": retention_days,
    }
    return {field: value for field, value in fields.items() if value is not None}


def _split(addresses: str) -> list[str]:
    return [address.strip() for address in addresses.split(",") if address.strip()]


def _validated(schema: type[Model], fields: dict[str, Any]) -> Model:
    """The options checked as the API checks a body; exit 2 naming each option at fault."""
    try:
        return schema.model_validate(fields)
    except ValidationError as exc:
        for error in exc.errors():
            option = OPTIONS.get(str(error["loc"][0]), str(error["loc"][0]))
            message = error["msg"].removeprefix("Value error, ")
            console.print(f"[red]{option}: {escape(message)}[/red]", highlight=False)
        raise typer.Exit(2) from None


def _usage_error(message: str) -> NoReturn:
    console.print(f"[red]{escape(message)}[/red]", highlight=False)
    raise typer.Exit(2)


@contextmanager
def _refusals() -> Iterator[None]:
    """A refusal of the service (unknown site, id taken, `default`): its message, exit 1."""
    try:
        yield
    except APIError as exc:
        console.print(f"[red]{escape(exc.detail)}[/red]", highlight=False)
        raise typer.Exit(1) from None

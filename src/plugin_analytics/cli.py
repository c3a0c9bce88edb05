"""`plugin-analytics`: the operator's command line."""

import secrets
import time
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from alembic import command
from dotenv import dotenv_values, set_key
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from plugin_analytics import demo as demo_data
from plugin_analytics.access.cli import keys_app
from plugin_analytics.cli_support import alembic_config as alembic_config  # tests import it here
from plugin_analytics.cli_support import console, database, settings_or_exit
from plugin_analytics.config import get_settings
from plugin_analytics.errors import APIError
from plugin_analytics.exports import stream as exports
from plugin_analytics.modules.registry import load_modules
from plugin_analytics.privacy.retention import apply_retention, retention_cut
from plugin_analytics.reports.render import preview_html
from plugin_analytics.reports.service import build_week, report_week, send_weekly_report
from plugin_analytics.sites.cli import sites_app
from plugin_analytics.sites.registry import DEFAULT_SITE, Site, find_site

app = typer.Typer(help="Operate a plugin-analytics server.", no_args_is_help=True)


@app.command()
def init(
    env_file: Annotated[Path, typer.Option(help="Where to keep settings.")] = Path(".env"),
) -> None:
    """Create .env with a random ADMIN_API_KEY if it has none, and say how to use it."""
    if dotenv_values(env_file).get("ADMIN_API_KEY"):
        console.print(f"Admin key: ADMIN_API_KEY in {env_file}.")
        return
    env_file.touch(mode=0o600, exist_ok=True)
    env_file.chmod(0o600)  # the key is a secret, even if .env was copied readable
    key = secrets.token_urlsafe(32)
    set_key(env_file, "ADMIN_API_KEY", key, quote_mode="never")
    console.print(f"Created an admin key in {env_file}: [bold]{key}[/bold]")
    console.print("Read endpoints need the header  Authorization: Bearer <that key>")


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (alembic upgrade) to DATABASE_URL."""
    settings_or_exit()
    command.upgrade(alembic_config(), revision)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: PORT or 8000.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the API with uvicorn."""
    settings = settings_or_exit()
    host, port = host or settings.host, port or settings.port
    console.print(f"Serving on http://{host}:{port}  (interactive docs: http://{host}:{port}/docs)")
    if settings.admin_api_key is None:
        console.print(
            "[yellow]ADMIN_API_KEY is not set: read endpoints refuse every request. "
            "Run `plugin-analytics init` to create one.[/yellow]"
        )
    else:
        console.print("Read endpoints: Authorization: Bearer <ADMIN_API_KEY from .env>")
    uvicorn.run(
        "plugin_analytics.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # the app trusts X-Forwarded-For from TRUSTED_PROXIES only
    )


@app.command()
def demo(
    events: Annotated[int, typer.Option(min=1, help="Events to store.")] = 100_000,
    days: Annotated[int, typer.Option(min=1, help="Spread over the last D days, ending now.")] = 30,
    users: Annotated[int | None, typer.Option(min=1, help="Default: events / 200.")] = None,
    seed: Annotated[int, typer.Option(help="The same seed gives the same conversations.")] = 0,
) -> None:
    """Fill DATABASE_URL (migrated) with realistic demo conversations, stored as ingestion does."""
    with database() as engine:
        plan = demo_data.make_plan(events=events, days=days, users=users, seed=seed)
        console.print(
            f"Storing {plan.events:,} events ({plan.sessions:,} sessions, about "
            f"{plan.users:,} users, last {plan.days} days)."
        )
        result = _load_with_progress(engine, plan)
    rate = result.generated / result.seconds if result.seconds else 0
    console.print(f"Stored {result.stored:,} events in {result.seconds:.1f} s ({rate:,.0f}/s).")
    if result.stored < result.generated:
        skipped = result.generated - result.stored
        console.print(f"{skipped:,} events were already stored and were skipped.")


def _load_with_progress(engine: Engine, plan: demo_data.DemoPlan) -> demo_data.LoadResult:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    began, done = time.perf_counter(), 0
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("Storing", total=plan.events, rate="")

        def advance(stored: int) -> None:
            nonlocal done
            done += stored
            rate = f"{done / (time.perf_counter() - began):,.0f} events/s"
            progress.update(task, advance=stored, rate=rate)

        return demo_data.load(engine, demo_data.generate(plan), on_chunk=advance)


SiteOption = Annotated[str, typer.Option(help="The site (its id).")]


class ExportFormat(StrEnum):
    csv = "csv"
    ndjson = "ndjson"


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="File to write; a name ending in .gz is gzipped.")],
    start_date: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    end_date: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
    tz: Annotated[str | None, typer.Option(help="IANA zone of the days (the site's).")] = None,
    site: SiteOption = DEFAULT_SITE,
    event_type: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
    user_id: Annotated[str | None, typer.Option(help="Only this user's events.")] = None,
    output: Annotated[
        ExportFormat, typer.Option("--format", help="ndjson: every field.")
    ] = ExportFormat.csv,
    escape_formulas: Annotated[
        bool, typer.Option(help="CSV: neutralise cells a spreadsheet would run (OWASP).")
    ] = True,
) -> None:
    """Export a site's events from DATABASE_URL to a file, as GET /analytics/export does."""
    with database() as engine:
        try:
            where = exports.export_filter(
                _site(engine, site),
                _day(start_date, "--start-date"),
                _day(end_date, "--end-date"),
                tz,
                event_type=event_type,
                user_id=user_id,
            )
        except APIError as exc:
            console.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(2) from None
        spec = exports.ExportSpec(
            output.value,
            gzip=out.name.endswith(".gz"),
            escape_formulas=escape_formulas,
        )
        written, seconds = _export_with_progress(engine, where, spec, out)
    rate = written / seconds if seconds else 0
    console.print(f"Wrote {written:,} events to {out} in {seconds:.1f} s ({rate:,.0f}/s).")


def _site(engine: Engine, site_id: str) -> Site:
    """The site named by --site; exit 2 when there is none."""
    with engine.connect() as connection:
        site = find_site(connection, site_id, get_settings())
    if site is None:
        console.print(
            f"[red]There is no site {site_id!r} (see `plugin-analytics sites list`).[/red]"
        )
        raise typer.Exit(2)
    return site


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        console.print(f"[red]{option} must be a date like 2026-03-01, not {value!r}[/red]")
        raise typer.Exit(2) from None


def _export_with_progress(
    engine: Engine, where: exports.ExportFilter, spec: exports.ExportSpec, out: Path
) -> tuple[int, float]:
    """Write to a temporary file beside `out`, renamed into place only when complete."""
    with engine.connect() as connection:
        total = exports.count_events(connection, where)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    partial = out.with_name(out.name + ".partial")
    began = time.perf_counter()
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("Exporting", total=total)
        try:
            with partial.open("wb") as file:
                for chunk in exports.export_chunks(
                    engine, where, spec, on_rows=lambda rows: progress.advance(task, rows)
                ):
                    file.write(chunk)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
        written = int(progress.tasks[0].completed)
    return written, time.perf_counter() - began


report_app = typer.Typer(help="Weekly email reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("send")
def report_send(
    force: Annotated[bool, typer.Option(help="Send again even if this week was sent.")] = False,
    site: SiteOption = DEFAULT_SITE,
) -> None:
    """Email a site's last complete week's report now (once a week, as POST /reports/weekly)."""
    try:
        with database() as engine:
            outcome = send_weekly_report(
                engine,
                get_settings(),
                _site(engine, site),
                modules=load_modules(),
                trigger="cli",
                force=force,
            )
    except APIError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    week = f"{outcome.week.start_date} to {outcome.week.end_date}"
    if outcome.status == "already_sent":
        console.print(f"The report for {week} was already sent (--force sends it again).")
    else:
        console.print(f"Sent the report for {week} to {', '.join(outcome.recipients)}.")


@report_app.command("preview")
def report_preview(
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    site: SiteOption = DEFAULT_SITE,
) -> None:
    """Write a site's next report's HTML to a file, to open in a browser. Sends nothing."""
    with database() as engine:
        found = _site(engine, site)
        report = build_week(
            engine, get_settings(), found, report_week(found), modules=load_modules()
        )
    out.write_text(preview_html(report), encoding="utf-8")
    console.print(
        f"Wrote the report for {report.week.start_date} to {report.week.end_date} to {out}."
    )


app.add_typer(keys_app, name="keys")
app.add_typer(sites_app, name="sites")


@app.command()
def retention(
    days: Annotated[int | None, typer.Option(min=1, help="Default: RETENTION_DAYS.")] = None,
) -> None:
    """Delete events older than RETENTION_DAYS (or a site's own retention days) now; the server
    also does it daily."""
    days = days or get_settings().retention_days
    with database() as engine:
        deleted = apply_retention(engine, days)
    if days is None:
        console.print(f"Deleted {deleted} events (sites with retention days of their own).")
    else:
        console.print(f"Deleted {deleted} events from before {retention_cut(days):%Y-%m-%d} (UTC).")


@app.command()
def plugins() -> None:
    """The installed analytics modules (entry point group plugin_analytics.modules), what each
    adds, and why any did not load. A module that fails to load does not stop the service."""
    found = load_modules().found
    if not found:
        console.print("No analytics modules are installed (see docs/modules.md).")
        return
    table = Table("name", "status", "version", "adds", "package")
    for entry in found:
        status = "[green]loaded[/green]" if entry.loaded else "[red]failed[/red]"
        adds = ", ".join(entry.provides())
        package = f"{entry.distribution or '?'} ({entry.entry_point})"
        table.add_row(entry.name, status, entry.version or "", adds, package)
    console.print(table)
    for entry in found:
        if entry.error:
            console.print(f"[red]{entry.name}: {escape(entry.error)}[/red]", highlight=False)

"""The in-process schedule: each worker runs APScheduler, and the claim in the database makes
sure a site's week is sent once however many workers (or hosts) check at the same moment."""

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, exists, select

from plugin_analytics.analytics.ranges import DateRange
from plugin_analytics.config import Settings
from plugin_analytics.db.models import event_table
from plugin_analytics.db.types import from_epoch_us
from plugin_analytics.errors import APIError
from plugin_analytics.modules.registry import Modules
from plugin_analytics.reports.claims import week_status
from plugin_analytics.reports.cron import cron_trigger
from plugin_analytics.reports.service import report_week, send_weekly_report
from plugin_analytics.sites.registry import DEFAULT_SITE, Site, all_sites

logger = logging.getLogger(__name__)

CHECK_INTERVAL = timedelta(minutes=1)


class ReportSchedule:
    """Every minute (and once at start), each site with recipients whose last complete week's
    scheduled time (its report schedule, in its time zone) has passed gets that week's report,
    unless it was sent: within a minute of the time, and once the service is up again after
    missing it (only the last week), and again after a failed send's backoff. Sites are read
    at every run, so a site made or changed since takes effect without a restart."""

    def __init__(self, engine: Engine, settings: Settings, modules: Modules) -> None:
        self._engine, self._settings, self._modules = engine, settings, modules
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self) -> None:
        self._scheduler.add_job(
            self.send_if_due,
            IntervalTrigger(seconds=CHECK_INTERVAL.total_seconds(), timezone=UTC),
            id="weekly-report-check",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._scheduler.start()

    def stop(self) -> None:
        # A send in flight keeps its lease; if this process ends first, the lease expires.
        self._scheduler.shutdown(wait=False)

    def send_now(self) -> None:
        """Send every site's last complete week now (unless sent, being sent, or before the
        site's first event)."""
        now = datetime.now(UTC)
        for site in self._sites():
            if self._had_events(report_week(site, now)):
                self._send(site, now)

    def send_if_due(self) -> None:
        """The minutely check: send each site's week whose scheduled time has passed."""
        now = datetime.now(UTC)
        for site in self._sites():
            if self._is_due(site, now):
                self._send(site, now)

    def is_due(self, now: datetime, site_id: str = DEFAULT_SITE) -> bool:
        """The site's last complete week's scheduled time has passed, it is not sent, and the
        site had events before it ended."""
        return any(site.id == site_id and self._is_due(site, now) for site in self._sites())

    def _sites(self) -> list[Site]:
        with self._engine.connect() as connection:
            sites = all_sites(connection, self._settings)
        return [site for site in sites if site.report_recipients]

    def _send(self, site: Site, now: datetime) -> None:
        try:
            send_weekly_report(
                self._engine,
                self._settings,
                site,
                modules=self._modules,
                trigger="schedule",
                wait=False,
                now=now,
            )
        except APIError as exc:
            logger.warning("scheduled weekly report of %s: %s", site.id, exc.detail)
        except Exception:
            logger.exception("scheduled weekly report of %s failed", site.id)

    def _is_due(self, site: Site, now: datetime) -> bool:
        try:
            tz = ZoneInfo(site.timezone)
            trigger = cron_trigger(site.report_schedule, tz)
        except Exception:  # validated when set; a zone gone from tzdata must not stop the rest
            logger.exception("the report schedule of %s cannot be read", site.id)
            return False
        week = report_week(site, now)
        week_end = from_epoch_us(week.end_us).astimezone(tz)
        scheduled = trigger.get_next_fire_time(None, week_end)
        if scheduled is None or scheduled > now:
            return False
        status = week_status(self._engine, site.num, week.start_date)
        if status is not None and status.status == "sent":
            return False
        return self._had_events(week)

    def _had_events(self, week: DateRange) -> bool:
        """Whether the site had any event before `week` ended: a new site gets no report of
        the week before it was set up."""
        event = event_table
        with self._engine.connect() as connection:
            return bool(
                connection.execute(
                    select(
                        exists().where(
                            event.c.site_num == week.site_num,
                            event.c.occurred_at < from_epoch_us(week.end_us),
                        )
                    )
                ).scalar()
            )

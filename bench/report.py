"""Weekly report build time: the last complete week of the kept 10M-event demo databases
(bench/analytics.py makes them on first use), on SQLite and PostgreSQL. Timed: everything a send
does before SMTP (the week's numbers, the week before, days, hours, CTAs, opening questions, the
daily CSV, the chart and both templates). For scale, a plain SQL count of the week's events is
timed in the same run. Target: under 2 s.
Usage: python bench/report.py [--size 10000000] [--runs 5] [--no-postgres]
"""

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.analytics import kept_databases, timed
from plugin_analytics.config import load_settings
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import event_table
from plugin_analytics.db.types import from_epoch_us
from plugin_analytics.modules.registry import load_modules
from plugin_analytics.reports.render import render
from plugin_analytics.reports.service import build_week, daily_csv, report_week
from plugin_analytics.sites.registry import DEFAULT_SITE, find_site

TARGET_S = 2.0


def bench(name: str, url: str, runs: int) -> None:
    settings = load_settings(_env_file=None, database_url=url, report_timezone="Europe/Paris")
    engine = build_engine(settings.sqlalchemy_url)
    with engine.connect() as connection:
        last = connection.execute(select(func.max(event_table.c.occurred_at))).scalar_one()
        site = find_site(connection, DEFAULT_SITE, settings)
    assert site is not None
    week = report_week(site, last + timedelta(microseconds=1))
    modules = load_modules()

    def build() -> int:
        report = build_week(engine, settings, site, week, modules=modules)
        render(report, daily_csv(report))
        return sum(int(day.metrics["total_messages"]) for day in report.days)

    def count() -> int:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).where(
                        event_table.c.occurred_at >= from_epoch_us(week.start_us),
                        event_table.c.occurred_at < from_epoch_us(week.end_us),
                    )
                ).scalar_one()
            )

    # One warm-up call each: caches, imports, the chart's fonts.
    count_timing, events = timed(count, runs, warmup=1)
    build_timing, _ = timed(build, runs, warmup=1)
    engine.dispose()
    build_s, count_s = build_timing.p50_ms / 1000, count_timing.p50_ms / 1000
    label = f"{name:>10}  report"
    print(f"{label}  week {week.start_date} to {week.end_date}: {events:,} events")
    print(f"{label}  plain count of the week's events   {count_s * 1000:8.1f} ms")
    print(
        f"{label}  build + render the report          {build_s * 1000:8.1f} ms  "
        f"({build_s / count_s:.1f}x the count; target < {TARGET_S:.0f} s: "
        f"{'met' if build_s < TARGET_S else 'MISSED'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=10_000_000, help="the kept database to use")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    databases = kept_databases(
        args.size, 0, sqlite=not args.no_sqlite, postgres=not args.no_postgres
    )
    for name, url in databases:
        bench(name, url, args.runs)


if __name__ == "__main__":
    main()

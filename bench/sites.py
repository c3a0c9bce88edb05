"""A small site beside a large one: the 90-day summary of a site with 1,000 events, in a
database whose `default` site holds 1M or 10M, must not pay for the large site's rows (its
reads use its own index ranges and rollup rows). Over HTTP, one uvicorn worker, on SQLite and
PostgreSQL; figures as ratios to `GET /healthz` measured by the same worker in the same run
(the cost of any request), and the small site's p50 against its 5 ms target.

The databases are bench/analytics.py's kept ones (made on first use); the small site is added
once, filled by the demo loader (the ingestion store and rollups).
Usage: python bench/sites.py [--sizes 1000000 10000000] [--requests 50] [--pg-root DIR]
"""

import argparse
import sys
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.analytics import (
    ADMIN_KEY,
    DATA,
    DAYS,
    KeptPostgres,
    Timing,
    data_range,
    get_json,
    postgres_database,
    sqlite_database,
    timed,
)
from bench.ingest import Server
from plugin_analytics import demo
from plugin_analytics.config import load_settings
from plugin_analytics.db.engine import build_engine
from plugin_analytics.sites.registry import find_site
from plugin_analytics.sites.schemas import SiteCreate
from plugin_analytics.sites.service import create_site

SMALL = "small"
SMALL_EVENTS = 1_000
SMALL_TARGET_MS = 5.0


def with_small_site(url: str) -> None:
    """The site `small` with SMALL_EVENTS demo events over the same DAYS, made once."""
    engine = build_engine(url)
    settings = load_settings(_env_file=None, database_url=url)
    try:
        with engine.connect() as connection:
            site = find_site(connection, SMALL, settings)
        if site is None:
            site = create_site(engine, SiteCreate(id=SMALL, name="Small"), settings)
            plan = demo.make_plan(events=SMALL_EVENTS, days=DAYS, seed=1)
            demo.load(engine, demo.generate(plan), site_num=site.num)
    finally:
        engine.dispose()


def bench_database(name: str, url: str, size: int, runs: int) -> None:
    with_small_site(url)
    _, last = data_range(url)
    dates = {"start_date": (last - timedelta(days=DAYS - 1)).isoformat(), "end_date": str(last)}
    env = {"DATABASE_URL": url, "ADMIN_API_KEY": ADMIN_KEY, "SCHEDULER_ENABLED": "false"}
    server = Server("main:app", env)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
            baseline, _ = timed(partial(get_json, client, "/healthz", {}), runs, 3)
            cases: dict[str, tuple[Timing, object]] = {
                f"large site ({size / 1e6:g}M) summary": timed(
                    partial(get_json, client, "/analytics/summary", dates), runs, 3
                ),
                f"small site ({SMALL_EVENTS:,}) summary": timed(
                    partial(get_json, client, "/analytics/summary", {**dates, "site": SMALL}),
                    runs,
                    3,
                ),
            }
    finally:
        server.stop()
    label = f"{name:>10}  {size / 1e6:g}M + {SMALL_EVENTS:,}"
    print(f"{label}  {'GET /healthz (baseline)':<32} {baseline.line()}")
    for case, (timing, _) in cases.items():
        ratio = timing.p50_ms / baseline.p50_ms
        print(f"{label}  {case:<32} {timing.line()}   {ratio:5.1f}x baseline")
    small = cases[f"small site ({SMALL_EVENTS:,}) summary"][0].p50_ms
    verdict = "met" if small <= SMALL_TARGET_MS else "MISSED"
    print(
        f"{label}  small site's 90-day summary p50 {small:.2f} ms <= {SMALL_TARGET_MS} ms {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--pg-root", type=Path, default=DATA / "postgres")
    parser.add_argument("--sqlite-file", type=Path, help="a kept SQLite database to use instead")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        if not args.no_sqlite:
            url = f"sqlite:///{args.sqlite_file}" if args.sqlite_file else None
            bench_database("sqlite", url or sqlite_database(size, args.seed), size, args.requests)
        if not args.no_postgres:
            server = KeptPostgres(args.pg_root).start()
            try:
                url = postgres_database(server, size, args.seed)
                bench_database("postgresql", url, size, args.requests)
            finally:
                server.stop()


if __name__ == "__main__":
    main()

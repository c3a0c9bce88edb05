"""Analytics read speed: the 90-day summary and daily timeseries over HTTP, next to a plain scan
of the events table computing the same summary in SQL, on SQLite and PostgreSQL, at 1M and 10M
demo events.

Each database is filled once by `plugin-analytics demo` (the same storage path as ingestion) and
kept under bench/.data/, keyed by size and seed, for later runs; one uvicorn worker of `main:app`
serves it on loopback. The plain scan runs from this process against the same database in the
same run, and the summary's numbers must equal the scan's.
Usage: python bench/analytics.py [--sizes 1000000 10000000] [--requests 30] [--no-postgres]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import bindparam, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import migrate
from tests.pg import PostgresServer

from bench.ingest import Server
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import event_table
from plugin_analytics.db.types import UTCDateTime

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
ADMIN_KEY = "bench-admin-key-0123456789"
DAYS = 90
SUMMARY_TARGET_MS = 50  # p50 at 10M events
SPEED_UP_TARGET = 100  # x the plain scan
# The summary computed straight from the events, as one would without rollups.
PLAIN_SCAN = text(
    """
    SELECT
        COUNT(*) FILTER (WHERE event_type = 'message' AND role = 'user') AS user_messages,
        COUNT(*) FILTER (WHERE event_type = 'message' AND role = 'assistant')
            AS assistant_messages,
        COUNT(*) FILTER (WHERE event_type = 'cta_click') AS cta_clicks,
        COUNT(DISTINCT user_id) AS unique_users,
        COUNT(DISTINCT session_id) AS sessions,
        COUNT(DISTINCT session_id) FILTER (WHERE event_type = 'cta_click') AS converted_sessions
    FROM event
    WHERE occurred_at >= :start AND occurred_at < :end
        AND event_type IN ('message', 'cta_click')
    """
).bindparams(bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))


@dataclass
class Timing:
    seconds: list[float]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000

    def line(self) -> str:
        return f"p50 {self.p50_ms:9.1f} ms   p95 {self.p95_ms:9.1f} ms   (n={len(self.seconds)})"


def timed(call: Callable[[], Any], runs: int, warmup: int) -> tuple[Timing, Any]:
    """Latencies of `runs` calls after `warmup` untimed ones, and the last call's answer."""
    answer = None
    for _ in range(warmup):
        answer = call()
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        answer = call()
        seconds.append(time.perf_counter() - began)
    return Timing(seconds), answer


def fill(name: str, url: str, size: int, seed: int) -> None:
    """Migrate, then store `size` demo events over DAYS days with the operator's command."""
    migrate(url)
    command = [str(Path(sys.executable).with_name("plugin-analytics")), "demo"]
    command += ["--events", str(size), "--days", str(DAYS), "--seed", str(seed)]
    env = {"DATABASE_URL": url, "ADMIN_API_KEY": ADMIN_KEY, "SCHEDULER_ENABLED": "false"}
    began = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=True)
    seconds = time.perf_counter() - began
    print(f"{name:>10}  filled {size:,} events in {seconds:.0f} s ({size / seconds:,.0f} events/s)")


def sqlite_database(size: int, seed: int) -> str:
    """A filled SQLite file under bench/.data, made on first use."""
    path = DATA / f"sqlite-{size}-seed{seed}.db"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        for leftover in partial.parent.glob(partial.name + "*"):
            leftover.unlink()
        url = f"sqlite:///{partial}"
        fill("sqlite", url, size, seed)
        _checkpoint(url)
        partial.rename(path)
    migrate(f"sqlite:///{path}")  # a database kept from an older release gets its new tables
    return f"sqlite:///{path}"


def _checkpoint(url: str) -> None:
    """Fold the WAL into the file, so that the file alone is the database."""
    engine = build_engine(url)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


class KeptPostgres(PostgresServer):
    """A throwaway-style PostgreSQL server whose data directory is kept in bench/.data."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        shutil.rmtree(self.root)  # the temporary directory the base class made
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.data = root, root / "data"


def postgres_database(server: PostgresServer, size: int, seed: int) -> str:
    """A filled database in the kept server, made on first use (a marker file says it is whole)."""
    name = f"bench_{size}_seed{seed}"
    done = server.root / f"{name}.complete"
    if not done.exists():
        url = server.create_database(name)
        fill("postgresql", url, size, seed)
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")  # as autovacuum would have by now
        done.touch()
    migrate(server.url(name))  # a database kept from an older release gets its new tables
    return server.url(name)


def kept_databases(
    size: int, seed: int, *, sqlite: bool = True, postgres: bool = True
) -> Iterator[tuple[str, str]]:
    """(name, url) of the kept SQLite and PostgreSQL databases of `size` events, made on first
    use. The kept PostgreSQL server runs while the loop body holds its database."""
    if sqlite:
        yield "sqlite", sqlite_database(size, seed)
    if postgres:
        server = KeptPostgres(DATA / "postgres").start()
        try:
            yield "postgresql", postgres_database(server, size, seed)
        finally:
            server.stop()


def data_range(url: str) -> tuple[date, date]:
    """The last DAYS whole UTC days of the data (its last day included)."""
    engine = build_engine(url)
    with engine.connect() as connection:
        last = connection.execute(select(func.max(event_table.c.occurred_at))).scalar_one()
    engine.dispose()
    return last.date() - timedelta(days=DAYS - 1), last.date()


def plain_scan(url: str, first: date, last: date, runs: int) -> tuple[Timing, dict[str, int]]:
    engine = build_engine(url)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    params = {"start": start, "end": start + timedelta(days=(last - first).days + 1)}
    try:
        with engine.connect() as connection:
            return timed(
                lambda: dict(connection.execute(PLAIN_SCAN, params).one()._mapping), runs, 1
            )
    finally:
        engine.dispose()


ENDPOINTS = {  # what is timed over HTTP, all over the same DAYS days
    "summary (UTC)": ("/analytics/summary", {}),
    "summary (Asia/Kathmandu)": ("/analytics/summary", {"tz": "Asia/Kathmandu"}),
    "daily timeseries": ("/analytics/timeseries", {"interval": "day"}),
    "CTA report": ("/analytics/ctas", {}),
}


def time_endpoints(url: str, dates: dict[str, str], runs: int) -> dict[str, tuple[Timing, Any]]:
    """Each endpoint's latencies from one uvicorn worker of `main:app` serving `url`."""
    env = {"DATABASE_URL": url, "ADMIN_API_KEY": ADMIN_KEY, "SCHEDULER_ENABLED": "false"}
    server = Server("main:app", env)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
            return {
                name: timed(partial(get_json, client, path, {**dates, **extra}), runs, 3)
                for name, (path, extra) in ENDPOINTS.items()
            }
    finally:
        server.stop()


def get_json(client: httpx.Client, path: str, params: dict[str, str]) -> Any:
    response = client.get(path, params=params)
    response.raise_for_status()
    return response.json()


def bench_database(name: str, url: str, size: int, args: argparse.Namespace) -> dict[str, float]:
    first, last = data_range(url)
    label = f"{name:>10}  {size / 1e6:g}M events"
    dates = {"start_date": first.isoformat(), "end_date": last.isoformat()}
    endpoints = time_endpoints(url, dates, args.requests)
    scan, counts = plain_scan(url, first, last, args.scan_runs)
    print(f"{label}  {first} .. {last} ({DAYS} days)")
    for endpoint, (timing, _) in endpoints.items():
        print(f"{label}  {endpoint:<28} {timing.line()}")
    print(f"{label}  {'plain scan of events (SQL)':<28} {scan.line()}")
    summary, answer = endpoints["summary (UTC)"]
    speed_up = scan.p50_ms / summary.p50_ms
    print(
        f"{label}  speed-up: plain scan p50 / summary p50 = {speed_up:,.0f}x   "
        f"(targets at 10M: summary p50 <= {SUMMARY_TARGET_MS} ms, >= {SPEED_UP_TARGET}x)"
    )
    check_agreement(label, answer, counts)
    return {"summary_p50_ms": summary.p50_ms, "speed_up": speed_up}


def check_agreement(label: str, summary: dict[str, Any], counts: dict[str, int]) -> None:
    differ = {key: (summary[key], value) for key, value in counts.items() if summary[key] != value}
    if differ:
        print(f"{label}  MISMATCH summary vs plain scan (summary, scan): {differ}")
    else:
        print(f"{label}  summary == plain scan: {counts}")


def bench_sqlite(args: argparse.Namespace) -> dict[int, dict[str, float]]:
    return {
        size: bench_database("sqlite", sqlite_database(size, args.seed), size, args)
        for size in args.sizes
    }


def bench_postgres(args: argparse.Namespace) -> dict[int, dict[str, float]]:
    server = KeptPostgres(DATA / "postgres").start()
    try:
        return {
            size: bench_database(
                "postgresql", postgres_database(server, size, args.seed), size, args
            )
            for size in args.sizes
        }
    finally:
        server.stop()


def verdict(name: str, figures: dict[int, dict[str, float]]) -> None:
    size = max(figures)
    p50, speed_up = figures[size]["summary_p50_ms"], figures[size]["speed_up"]
    fast = "met" if p50 <= SUMMARY_TARGET_MS else "MISSED"
    ratio = "met" if speed_up >= SPEED_UP_TARGET else "MISSED"
    print(
        f"{name:>10}  at {size / 1e6:g}M events: summary p50 {p50:.1f} ms <= {SUMMARY_TARGET_MS} "
        f"ms {fast}; {speed_up:,.0f}x the plain scan >= {SPEED_UP_TARGET}x {ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per endpoint")
    parser.add_argument("--scan-runs", type=int, default=5, help="timed plain scans")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    results = {}
    if not args.no_sqlite:
        results["sqlite"] = bench_sqlite(args)
    if not args.no_postgres:
        results["postgresql"] = bench_postgres(args)
    for name, figures in results.items():
        verdict(name, figures)


if __name__ == "__main__":
    main()

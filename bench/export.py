"""Export speed and memory: GET /analytics/export of about 5M events from the kept 10M-event
demo databases (bench/analytics.py makes them on first use), against a plain driver + csv dump of
the same rows to a file (sqlite3; psycopg with a server-side cursor), measured in the same run;
and the server's peak RSS growth.

The range is the last whole UTC days of the data that together hold at least --events events.
Targets: >= 0.5x the plain dump's rows/s; RSS growth < 100 MB.
Usage: python bench/export.py [--events 5000000] [--size 10000000] [--no-postgres]
"""

import argparse
import csv
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.analytics import ADMIN_KEY, kept_databases
from bench.ingest import Server

SPEED_TARGET = 0.5
RSS_TARGET_MB = 100
DAY_US = 86_400_000_000
COLUMNS = "event_id, user_id, session_id, event_type, occurred_at, message"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Database:
    """A driver connection to one kept database, and how its SQL names a time and a parameter
    (sqlite3: integer microseconds and ?; psycopg: datetimes and %s)."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.connect: Callable[[], Any] = lambda: sqlite3.connect(
                url.removeprefix("sqlite:///")
            )
            self.time: Callable[[int], Any] = lambda us: us
            self.mark = "?"
        else:
            self.connect = lambda: psycopg.connect(url.replace("+psycopg", ""))
            self.time = lambda us: EPOCH + timedelta(microseconds=us)
            self.mark = "%s"

    def where(self) -> str:
        return f"WHERE occurred_at >= {self.mark} AND occurred_at < {self.mark}"


def day_range(database: Database, events: int) -> tuple[int, int, int]:
    """(start_us, end_us, rows): the last whole UTC days holding at least `events` events."""
    with database.connect() as connection:
        last = connection.execute("SELECT max(occurred_at) FROM event").fetchone()[0]
        if isinstance(last, datetime):
            last = (last - EPOCH) // timedelta(microseconds=1)
        end = last - last % DAY_US + DAY_US
        start = end
        rows = 0
        while rows < events:
            start -= DAY_US
            rows = connection.execute(
                f"SELECT count(*) FROM event {database.where()}",
                (database.time(start), database.time(end)),
            ).fetchone()[0]
            if start < end - 400 * DAY_US:
                break
    return start, end, rows


def plain_dump(database: Database, start: int, end: int, out: Path) -> tuple[int, float]:
    """The rows straight from the driver into csv.writer (PostgreSQL: a server-side cursor)."""
    began = time.perf_counter()
    with database.connect() as connection, out.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS.split(", "))
        cursor = connection.cursor(name="dump") if database.mark == "%s" else connection.cursor()
        cursor.execute(
            f"SELECT {COLUMNS} FROM event {database.where()} ORDER BY occurred_at, id",
            (database.time(start), database.time(end)),
        )
        rows = 0
        while batch := cursor.fetchmany(2000):
            writer.writerows(batch)
            rows += len(batch)
        cursor.close()
    return rows, time.perf_counter() - began


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def served_export(url: str, start: int, end: int) -> tuple[int, float, float]:
    """(bytes, seconds, peak RSS growth in MB) of one export over HTTP."""
    first = datetime.fromtimestamp(start / 1e6, UTC).date()
    last = datetime.fromtimestamp(end / 1e6, UTC).date() - timedelta(days=1)
    env = {"DATABASE_URL": url, "ADMIN_API_KEY": ADMIN_KEY, "SCHEDULER_ENABLED": "false"}
    server = Server("main:app", env)
    try:
        pid = server.process.pid
        before = rss_kib(pid, "VmRSS")
        params = {"start_date": first.isoformat(), "end_date": last.isoformat()}
        headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Accept-Encoding": "identity"}
        began = time.perf_counter()
        size = 0
        with httpx.stream(
            "GET", f"{server.url}/analytics/export", params=params, headers=headers, timeout=600
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_raw():
                size += len(chunk)
        seconds = time.perf_counter() - began
        growth_mb = (rss_kib(pid, "VmHWM") - before) / 1024
    finally:
        server.stop()
    return size, seconds, growth_mb


def bench(name: str, url: str, events: int) -> None:
    database = Database(url)
    start, end, rows = day_range(database, events)
    with tempfile.TemporaryDirectory() as tmp:
        dumped, dump_seconds = plain_dump(database, start, end, Path(tmp) / "plain.csv")
    assert dumped == rows
    size, seconds, growth = served_export(url, start, end)
    dump_rate, rate = dumped / dump_seconds, rows / seconds
    ratio = rate / dump_rate
    label = f"{name:>10}  export"
    print(f"{label}  {rows:,} events ({size / 1e6:,.0f} MB of CSV)")
    print(f"{label}  plain driver + csv dump    {dump_rate:10,.0f} rows/s ({dump_seconds:.1f} s)")
    print(
        f"{label}  GET /analytics/export      {rate:10,.0f} rows/s ({seconds:.1f} s)   "
        f"{ratio:.2f}x the plain dump (target >= {SPEED_TARGET}x: "
        f"{'met' if ratio >= SPEED_TARGET else 'MISSED'})"
    )
    print(
        f"{label}  server peak RSS growth {growth:,.1f} MB (target < {RSS_TARGET_MB} MB: "
        f"{'met' if growth < RSS_TARGET_MB else 'MISSED'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--size", type=int, default=10_000_000, help="the kept database to use")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    databases = kept_databases(
        args.size, 0, sqlite=not args.no_sqlite, postgres=not args.no_postgres
    )
    for name, url in databases:
        bench(name, url, args.events)


if __name__ == "__main__":
    main()

"""Export speed and memory: GET /analytics/export of about 5M events from the kept 10M-event
SQLite demo database (bench/analytics.py makes it on first use), against a plain sqlite3 + csv
dump of the same rows to a file, measured in the same run; and the server's peak RSS growth.

The range is the last whole UTC days of the data that together hold at least --events events.
Targets: >= 0.5x the plain dump's rows/s; RSS growth < 100 MB.
Usage: python bench/export.py [--events 5000000] [--size 10000000]
"""

import argparse
import csv
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.analytics import ADMIN_KEY, sqlite_database
from bench.ingest import Server

SPEED_TARGET = 0.5
RSS_TARGET_MB = 100
DAY_US = 86_400_000_000
COLUMNS = "event_id, user_id, session_id, event_type, occurred_at, message"


def day_range(path: str, events: int) -> tuple[int, int, int]:
    """(start_us, end_us, rows): the last whole UTC days holding at least `events` events."""
    with sqlite3.connect(path) as connection:
        last = connection.execute("SELECT max(occurred_at) FROM event").fetchone()[0]
        end = last - last % DAY_US + DAY_US
        start = end
        rows = 0
        while rows < events:
            start -= DAY_US
            rows = connection.execute(
                "SELECT count(*) FROM event WHERE occurred_at >= ? AND occurred_at < ?",
                (start, end),
            ).fetchone()[0]
            if start < end - 400 * DAY_US:
                break
    return start, end, rows


def plain_dump(path: str, start: int, end: int, out: Path) -> tuple[int, float]:
    began = time.perf_counter()
    with sqlite3.connect(path) as connection, out.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS.split(", "))
        cursor = connection.execute(
            f"SELECT {COLUMNS} FROM event WHERE occurred_at >= ? AND occurred_at < ? "
            "ORDER BY occurred_at, id",
            (start, end),
        )
        rows = 0
        while batch := cursor.fetchmany(2000):
            writer.writerows(batch)
            rows += len(batch)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--size", type=int, default=10_000_000, help="the kept database to use")
    args = parser.parse_args()
    url = sqlite_database(args.size, 0)
    path = url.removeprefix("sqlite:///")
    start, end, rows = day_range(path, args.events)
    with tempfile.TemporaryDirectory() as tmp:
        dumped, dump_seconds = plain_dump(path, start, end, Path(tmp) / "plain.csv")
    assert dumped == rows
    size, seconds, growth = served_export(url, start, end)
    dump_rate, rate = dumped / dump_seconds, rows / seconds
    ratio = rate / dump_rate
    print(f"    export  {rows:,} events ({size / 1e6:,.0f} MB of CSV)")
    print(
        f"    export  plain sqlite3 + csv dump   {dump_rate:10,.0f} rows/s ({dump_seconds:.1f} s)"
    )
    print(
        f"    export  GET /analytics/export      {rate:10,.0f} rows/s ({seconds:.1f} s)   "
        f"{ratio:.2f}x the plain dump (target >= {SPEED_TARGET}x: "
        f"{'met' if ratio >= SPEED_TARGET else 'MISSED'})"
    )
    print(
        f"    export  server peak RSS growth {growth:,.1f} MB (target < {RSS_TARGET_MB} MB: "
        f"{'met' if growth < RSS_TARGET_MB else 'MISSED'})"
    )


if __name__ == "__main__":
    main()

"""What GET /analytics/ai and GET /analytics/insights (built-in summary) cost, each as a ratio
to a plain SQL scan of the same events measured in the same run, on SQLite and PostgreSQL.

The databases are kept demo databases (bench/analytics.py's), made with a seed of their own so
that their assistant messages carry model usage; the first run fills them.
Usage: python bench/ai.py [--size 1000000] [--requests 10] [--no-postgres]
"""

import argparse
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy import bindparam, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.analytics import (
    ADMIN_KEY,
    DATA,
    Timing,
    data_range,
    get_json,
    kept_databases,
    timed,
)
from bench.ingest import Server
from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.types import UTCDateTime

SEED = 8  # not the analytics benchmark's 0: these databases carry model usage
# The baseline: every assistant message of the range read once, grouped by model.
PLAIN_SCAN = text(
    "SELECT model, COUNT(*), SUM(input_tokens), SUM(output_tokens) FROM event "
    "WHERE occurred_at >= :start AND occurred_at < :end "
    "AND event_type = 'message' AND role = 'assistant' GROUP BY model"
).bindparams(bindparam("start", type_=UTCDateTime), bindparam("end", type_=UTCDateTime))
RANGES = {"7 days": 7, "90 days": 90}
ENDPOINTS = {"/analytics/ai": "/analytics/ai", "/analytics/insights": "/analytics/insights"}


def scan(url: str, first: datetime, days: int, runs: int) -> Timing:
    engine = build_engine(url)
    params = {"start": first, "end": first + timedelta(days=days)}
    try:
        with engine.connect() as connection:
            timing, _ = timed(lambda: connection.execute(PLAIN_SCAN, params).all(), runs, 1)
            return timing
    finally:
        engine.dispose()


def bench(name: str, url: str, size: int, runs: int) -> None:
    _, last = data_range(url)
    env = {"DATABASE_URL": url, "ADMIN_API_KEY": ADMIN_KEY, "SCHEDULER_ENABLED": "false"}
    server = Server("main:app", env)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    label = f"{name:>10}  {size / 1e6:g}M events"
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
            for range_name, days in RANGES.items():
                first = last - timedelta(days=days - 1)
                dates = {"start_date": first.isoformat(), "end_date": last.isoformat()}
                start = datetime(first.year, first.month, first.day, tzinfo=UTC)
                baseline = scan(url, start, days, runs)
                print(f"{label}  {range_name:<8} plain scan (baseline)   {baseline.line()}")
                for path in ENDPOINTS:
                    call = partial(get_json, client, path, dates)
                    timing, answer = timed(call, runs, 1)
                    ratio = timing.p50_ms / baseline.p50_ms
                    print(f"{label}  {range_name:<8} {path:<24} {timing.line()}  {ratio:.1f}x")
                    if path == "/analytics/ai":
                        models = {m["model"]: m["messages"] for m in answer["models"]}
                        print(f"{label}  {range_name:<8} models: {models}")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=10, help="timed requests per endpoint")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    for name, url in kept_databases(args.size, SEED, postgres=not args.no_postgres):
        bench(name, url, args.size, args.requests)


if __name__ == "__main__":
    main()

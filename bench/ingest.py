"""Ingestion throughput: durable single-event and batch ingestion against a no-database baseline,
and what rollups cost single-event ingestion (against the same app with rollups switched off).

Each server runs as one uvicorn worker on loopback and is loaded by wrk (-t1 -c64) in the same
run, so the figures are ratios between servers measured on the same noisy machine.
Usage: python bench/ingest.py [--seconds 10] [--no-postgres]
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import migrate
from tests.pg import PostgresServer, free_port

from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import event_table

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 1000
ADMIN_KEY = "bench-admin-key-0123456789"
ROLLUP_COST_TARGET = 0.15
ROLLUP_ROUNDS = 3  # with and without rollups in turn, so drifts of the machine hit both alike


def visitors_script(messages_per_session: int) -> str:
    """wrk Lua: single events from 5,000 visitors in 20,000 sessions, `messages_per_session`
    consecutive messages a session."""
    return f"""
local n = 0
request = function()
  n = n + 1
  local s = math.floor(n / {messages_per_session})
  local body = string.format('{{"user_id": "bench-user-%d", "session_id": "bench-session-%d", '
    .. '"event_type": "message", "message": "Which plan includes the analytics dashboard?"}}',
    s % 5000, s % 20000)
  return wrk.format(nil, nil, nil, body)
end
"""


# Worst case: every message from a session its hour and day have not seen yet.
MANY_USERS_SCRIPT = visitors_script(1)
# The same visitors in conversations: 20 messages a session, as chats go.
CONVERSATIONS_SCRIPT = visitors_script(20)


def single_body() -> str:
    return json.dumps(
        {
            "user_id": "bench-user",
            "session_id": "bench-session",
            "event_type": "message",
            "role": "user",
            "message": "Hello! Which plan includes the analytics dashboard?",
        }
    )


def batch_body() -> str:
    events = [
        {
            "user_id": f"u{i % 50}",
            "session_id": f"s{i % 200}",
            "event_type": "message",
            "role": "assistant" if i % 2 else "user",
            "message": f"Message number {i} of the conversation about pricing.",
        }
        for i in range(BATCH_SIZE)
    ]
    return json.dumps({"events": events})


@dataclass
class Load:
    requests_per_s: float
    refused: int


def post(body: str) -> str:
    """A wrk script posting `body` with every request."""
    return f"wrk.body = [==[{body}]==]\n"


def wrk(url: str, lua: str, seconds: int, connections: int = 64) -> Load:
    """Load `url` with POSTs of JSON made by the wrk script `lua`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        script.write(lua)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    refused = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if errors:
        print(f"    wrk: {errors.group(0)}")
    return Load(rate, int(refused.group(1)) if refused else 0)


class Server:
    def __init__(self, app: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, start_new_session=True
        )
        for _ in range(200):
            try:
                httpx.get(f"{self.url}/docs", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"{app} did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def count_events(url: str) -> int:
    engine = build_engine(url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(event_table)).scalar_one()
    engine.dispose()
    return int(count)


def measure(
    app: str,
    env: dict[str, str],
    path: str,
    lua: str,
    seconds: int,
    settle: Callable[[], None] | None = None,
) -> Load:
    """Requests/s of `app` under `lua`'s load, after a warm-up (and `settle`, if given)."""
    server = Server(app, env)
    try:
        wrk(server.url + path, lua, 2)
        if settle is not None:
            settle()
        return wrk(server.url + path, lua, seconds)
    finally:
        server.stop()


# label: (app, extra environment, path, wrk script)
Variants = dict[str, tuple[str, dict[str, str], str, str]]


def alternating_args(description: str | None) -> argparse.Namespace:
    """The command line of a benchmark run by `alternating`: --seconds and --rounds; wrk must
    be installed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    return args


def alternating(variants: Variants, seconds: int, rounds: int) -> dict[str, float]:
    """Mean requests/s of each variant, each run on a fresh SQLite database, the variants in
    turn `rounds` times (so drifts of the machine hit all alike)."""
    rates: dict[str, list[float]] = {label: [] for label in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):
            for n, (label, (app, env, path, lua)) in enumerate(variants.items()):
                url = f"sqlite:///{tmp}/{n}_{round_}.db"
                migrate(url)
                load = measure(app, {**server_env(url), **env}, path, lua, seconds)
                assert load.refused == 0, f"{label}: {load.refused} requests refused"
                rates[label].append(load.requests_per_s)
    return {label: sum(runs) / len(runs) for label, runs in rates.items()}


def analyze(url: str) -> None:
    """Refresh PostgreSQL's planner statistics, as autovacuum does within a minute or so.

    A fresh database's user_key and session_key tables grow from nothing during a run; until
    they are analyzed the planner reads them with sequential scans, which made rollups look
    several times dearer than they are once a deployment has settled."""
    if url.startswith("postgresql"):
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute("ANALYZE")


def server_env(url: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "ADMIN_API_KEY": ADMIN_KEY, "SCHEDULER_ENABLED": "false"}


def bench_database(
    name: str, fresh: Callable[[str], str], baseline: dict[str, Load], seconds: int
) -> None:
    """`fresh(label)` gives a new, migrated, empty database of this kind (no baseline: only
    the rollup cost)."""
    if baseline:
        throughput(name, fresh, baseline, seconds)
    # Worst case first: every message from a session its hour and day have not seen yet.
    rollup_cost(name, fresh, seconds, "new session each message", MANY_USERS_SCRIPT)
    rollup_cost(name, fresh, seconds, "conversations of 20 messages", CONVERSATIONS_SCRIPT)


def throughput(
    name: str, fresh: Callable[[str], str], baseline: dict[str, Load], seconds: int
) -> None:
    url = fresh("bench")
    single = measure("main:app", server_env(url), "/client/update", post(single_body()), seconds)
    batch = measure("main:app", server_env(url), "/client/batch", post(batch_body()), seconds)
    stored = count_events(url)
    ratio = single.requests_per_s / baseline["single"].requests_per_s
    print(
        f"{name:>10}  single-event durable   {single.requests_per_s:9.0f} req/s   "
        f"{ratio:5.2f}x baseline   (target >= 0.60x)   refused: {single.refused}"
    )
    print(
        f"{name:>10}  batch of {BATCH_SIZE} durable  {batch.requests_per_s * BATCH_SIZE:9.0f} "
        f"events/s ({batch.requests_per_s:.0f} req/s)   refused: {batch.refused}"
    )
    print(f"{name:>10}  rows stored during the run: {stored}")


def rollup_cost(
    name: str, fresh: Callable[[str], str], seconds: int, traffic: str, script: str
) -> None:
    """Single-event ingestion with and without rollups, each server on a fresh database
    (analyzed after the warm-up), in alternate rounds."""
    apps = {"with_rollups": "main:app", "without_rollups": "bench.norollup_app:app"}
    rates: dict[str, list[float]] = {label: [] for label in apps}
    for round_ in range(ROLLUP_ROUNDS):
        for label, app in apps.items():
            url = fresh(f"{label}_{traffic.split()[0]}_{round_}")
            load = measure(
                app,
                server_env(url),
                "/client/update",
                script,
                seconds,
                settle=partial(analyze, url),
            )
            rates[label].append(load.requests_per_s)
    with_rollups, without = (sum(runs) / len(runs) for runs in rates.values())
    cost = 1 - with_rollups / without
    verdict = "met" if cost <= ROLLUP_COST_TARGET else "MISSED"
    print(
        f"{name:>10}  single-event, {traffic}: {with_rollups:.0f} req/s with rollups, "
        f"{without:.0f} without: rollups cost {cost:.1%} (target <= "
        f"{ROLLUP_COST_TARGET:.0%}: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--rollup-cost-only", action="store_true", help="skip the baseline, single and batch runs"
    )
    args = parser.parse_args()
    seconds = args.seconds
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    baseline = {}
    if not args.rollup_cost_only:
        baseline = {
            "single": measure(
                "bench.nodb_app:app", {}, "/client/update", post(single_body()), seconds
            ),
            "batch": measure(
                "bench.nodb_app:app", {}, "/client/batch", post(batch_body()), seconds
            ),
        }
        print(
            f"{'baseline':>10}  no-database FastAPI    {baseline['single'].requests_per_s:9.0f} "
            f"req/s   (batch: {baseline['batch'].requests_per_s * BATCH_SIZE:.0f} events/s)"
        )

    with tempfile.TemporaryDirectory() as tmp:

        def fresh_sqlite(label: str) -> str:
            url = f"sqlite:///{tmp}/{label}.db"
            migrate(url)
            return url

        if not args.no_sqlite:
            bench_database("sqlite", fresh_sqlite, baseline, seconds)
    if not args.no_postgres:
        server = PostgresServer().start()

        def fresh_postgres(label: str) -> str:
            url = server.create_database(label)
            migrate(url)
            return url

        try:
            bench_database("postgresql", fresh_postgres, baseline, seconds)
        finally:
            server.destroy()


if __name__ == "__main__":
    main()

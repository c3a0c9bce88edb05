"""Ingestion throughput: durable single-event and batch ingestion against a no-database baseline.

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
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import migrate
from tests.pg import PostgresServer, free_port

from plugin_analytics.db.engine import build_engine
from plugin_analytics.db.models import event_table

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 1000


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


def wrk(url: str, body: str, seconds: int, connections: int = 64) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        script.write(f"wrk.body = [==[{body}]==]\n")
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


def measure(app: str, env: dict[str, str], path: str, body: str, seconds: int) -> Load:
    server = Server(app, env)
    try:
        wrk(server.url + path, body, 2)  # warm up
        return wrk(server.url + path, body, seconds)
    finally:
        server.stop()


def bench_database(name: str, url: str, baseline: dict[str, Load], seconds: int) -> None:
    env = {"DATABASE_URL": url, "ADMIN_API_KEY": "bench-admin-key-0123456789", "SCHEDULER_ENABLED": "false"}
    before = count_events(url)
    single = measure("main:app", env, "/client/update", single_body(), seconds)
    batch = measure("main:app", env, "/client/batch", batch_body(), seconds)
    stored = count_events(url) - before
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    baseline = {
        "single": measure("bench.nodb_app:app", {}, "/client/update", single_body(), args.seconds),
        "batch": measure("bench.nodb_app:app", {}, "/client/batch", batch_body(), args.seconds),
    }
    print(
        f"{'baseline':>10}  no-database FastAPI    {baseline['single'].requests_per_s:9.0f} "
        f"req/s   (batch: {baseline['batch'].requests_per_s * BATCH_SIZE:.0f} events/s)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{tmp}/bench.db"
        migrate(sqlite_url)
        bench_database("sqlite", sqlite_url, baseline, args.seconds)
    if not args.no_postgres:
        server = PostgresServer().start()
        try:
            url = server.create_database("bench")
            migrate(url)
            bench_database("postgresql", url, baseline, args.seconds)
        finally:
            server.destroy()


if __name__ == "__main__":
    main()

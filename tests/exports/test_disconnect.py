"""A client that goes away mid-export leaves no transaction or cursor open on the real server."""

import socket
import sqlite3
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from plugin_analytics.db.engine import build_engine
from plugin_analytics.demo import generate, load, make_plan
from tests.conftest import ADMIN_KEY
from tests.servers import ServerProcess

EVENTS = 60_000  # ~9 MB of CSV: far more than the socket buffers hold


@pytest.fixture
def filled(database_url: str) -> str:
    engine = build_engine(database_url)
    try:
        plan = make_plan(events=EVENTS, days=3, seed=1, end=datetime(2026, 3, 1, tzinfo=UTC))
        load(engine, generate(plan))
    finally:
        engine.dispose()
    return database_url


@pytest.fixture
def server(filled: str) -> Iterator[ServerProcess]:
    with ServerProcess(filled) as running:
        yield running


def start_export(server: ServerProcess) -> socket.socket:
    """Ask for the export and read its first 64 KiB, leaving the rest unread."""
    connection = socket.create_connection(("127.0.0.1", server.port))
    connection.sendall(
        b"GET /analytics/export HTTP/1.1\r\nHost: test\r\nAccept-Encoding: identity\r\n"
        + f"Authorization: Bearer {ADMIN_KEY}\r\n\r\n".encode()
    )
    received = b""
    while len(received) < 65_536:
        chunk = connection.recv(65_536)
        assert chunk, "the server closed the export early"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    return connection


def reader_open(database_url: str) -> bool:
    """Whether another connection still holds a read transaction open on the database."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path, timeout=0.2) as connection:
            # A truncating checkpoint must wait for every reader of an older snapshot; new
            # WAL content makes sure there is something for an open reader to block.
            connection.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)")
            connection.execute("INSERT INTO probe VALUES (1)")
            connection.commit()
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return bool(busy)
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as connection:
        others = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        ).fetchone()
        return bool(others and others[0])


def eventually(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_client_gone_mid_export_leaves_nothing_open(server: ServerProcess, filled: str) -> None:
    connection = start_export(server)
    # The check can fail: while the export streams, its transaction is open.
    assert reader_open(filled)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()  # abrupt: a reset, as when a browser tab is closed
    assert eventually(lambda: not reader_open(filled)), "the export's transaction stayed open"


def test_the_server_serves_whole_exports_after_a_client_went_away(
    server: ServerProcess, filled: str
) -> None:
    start_export(server).close()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.stream(
        "GET", f"{server.base_url}/analytics/export", headers=headers, timeout=60
    ) as response:
        assert response.status_code == 200
        lines = sum(chunk.count(b"\r\n") for chunk in response.iter_bytes())
    # Messages may hold line breaks too, so at least a line per event and the header.
    assert lines >= EVENTS + 1

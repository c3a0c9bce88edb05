"""Storage outages: ingestion answers 503, stores nothing, and recovers without a restart."""

import asyncio
import itertools
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from plugin_analytics.app import create_app
from plugin_analytics.config import load_settings
from tests.conftest import ADMIN, ADMIN_KEY, migrate, started
from tests.helpers import event, stored_events
from tests.pg import PostgresServer

pytestmark = pytest.mark.anyio

RECOVERY_SECONDS = 5


@pytest.fixture
def private_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own, since the test stops it."""
    server = PostgresServer().start()
    yield server
    server.destroy()


@asynccontextmanager
async def serving(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app running in this process on `database_url`."""
    settings = load_settings(
        _env_file=None,
        database_url=database_url,
        admin_api_key=ADMIN_KEY,
        scheduler_enabled=False,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        started(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client


async def recovers(client: httpx.AsyncClient) -> None:
    """Ingestion answers 200 again, for single events and batches, without a restart."""
    await until_ok(client, "POST", "/client/update", json=event(event_id="after"))
    answer = await client.post("/client/batch", json=batch("after-1", "after-2"))
    assert answer.json() == {"status": "success", "received": 2, "new": 2, "duplicates": 0}


def batch(*event_ids: str) -> dict[str, Any]:
    return {"events": [event(event_id=event_id) for event_id in event_ids]}


async def post_event(client: httpx.AsyncClient, event_id: str) -> int:
    return (await client.post("/client/update", json=event(event_id=event_id))).status_code


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert isinstance(response.json()["detail"], str)
    assert response.json()["detail"]


async def until_ok(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> None:
    """Repeat a request until it answers 200; while the database comes back it may answer 503."""
    with anyio.fail_after(RECOVERY_SECONDS):
        response = await client.request(method, path, **kwargs)
        while response.status_code == 503:
            await anyio.sleep(0.1)
            response = await client.request(method, path, **kwargs)
    assert response.status_code == 200, response.text


@pytest.mark.slow
async def test_postgresql_down_answers_503_and_recovers(private_pg: PostgresServer) -> None:
    url = private_pg.create_database("analytics")
    migrate(url)
    async with serving(url) as client:
        assert await post_event(client, "before") == 200
        await anyio.to_thread.run_sync(private_pg.stop)
        try:
            answers = [
                await client.post("/client/update", json=event(event_id="refused")),
                await client.post("/client/batch", json=batch("refused-1", "refused-2")),
                await client.get("/healthz"),
                await client.get("/sessions/session-1", headers=ADMIN),
                await client.get("/analytics/summary", headers=ADMIN),
            ]
        finally:
            await anyio.to_thread.run_sync(private_pg.resume)
        for response in answers:
            assert_unavailable(response)

        await recovers(client)
        assert (await client.get("/healthz")).status_code == 200

    stored = [row["event_id"] for row in stored_events(url)]
    assert stored == ["before", "after", "after-1", "after-2"]


async def keep_posting(client: httpx.AsyncClient, worker: int, outcomes: dict[str, int]) -> None:
    """Post events one after another, recording each answer, until cancelled."""
    for number in itertools.count():
        event_id = f"w{worker}-{number}"
        outcomes[event_id] = 0  # sent, not answered
        outcomes[event_id] = await post_event(client, event_id)
        await anyio.sleep(0.01)


@pytest.mark.slow
async def test_postgresql_going_down_under_load(private_pg: PostgresServer) -> None:
    url = private_pg.create_database("analytics")
    migrate(url)
    outcomes: dict[str, int] = {}
    async with serving(url) as client, anyio.create_task_group() as posting:
        for worker in range(16):
            posting.start_soon(keep_posting, client, worker, outcomes)
        await anyio.sleep(0.3)
        await anyio.to_thread.run_sync(private_pg.stop)
        await anyio.sleep(0.5)
        await anyio.to_thread.run_sync(private_pg.resume)
        await until_ok(client, "GET", "/healthz")
        await anyio.sleep(0.5)
        posting.cancel_scope.cancel()

    answered = {event_id: status for event_id, status in outcomes.items() if status}
    assert set(answered.values()) == {200, 503}
    last_answer_of_each_worker = {event_id.split("-")[0]: s for event_id, s in answered.items()}
    assert set(last_answer_of_each_worker.values()) == {200}
    stored = {row["event_id"] for row in stored_events(url)}
    assert {event_id for event_id, status in answered.items() if status == 200} <= stored
    assert {event_id for event_id, status in answered.items() if status == 503} & stored == set()
    assert stored <= set(outcomes)


async def test_sqlite_write_lock_held_elsewhere_answers_503_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "analytics.db"
    url = f"sqlite:///{path}"
    migrate(url)
    async with serving(url) as client:
        assert await post_event(client, "before") == 200
        # Root ignores file permissions, so another connection holds the write lock instead,
        # beyond the app's busy timeout.
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            refused = await asyncio.gather(
                client.post("/client/update", json=event(event_id="refused")),
                client.post("/client/batch", json=batch("refused-1", "refused-2")),
            )
        finally:
            holder.close()  # rolls back, releasing the lock
        for response in refused:
            assert_unavailable(response)

        await recovers(client)

    stored = [row["event_id"] for row in stored_events(url)]
    assert stored == ["before", "after", "after-1", "after-2"]


def chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


def immutable_supported(directory: Path) -> bool:
    probe = directory / "probe"
    probe.touch()
    done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False)
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True, check=False)
    return done.returncode == 0


async def test_sqlite_file_unwritable_answers_503_and_recovers(tmp_path: Path) -> None:
    # As root, chmod does not stop writes; an immutable file (chattr +i) does. SQLite opens such
    # a file read-only, and that connection must not outlive the outage.
    if shutil.which("chattr") is None or not immutable_supported(tmp_path):
        pytest.skip("this file system cannot make a file immutable")
    path = tmp_path / "analytics.db"
    url = f"sqlite:///{path}"
    migrate(url)
    # Not the -wal or -shm files: SQLite maps -shm into memory, and a write there would kill us.
    chattr("+i", path)
    try:
        async with serving(url) as client:
            for _ in range(2):
                refused = await client.post("/client/update", json=event(event_id="refused"))
                assert_unavailable(refused)
            chattr("-i", path)
            await until_ok(client, "POST", "/client/update", json=event(event_id="after"))
    finally:
        chattr("-i", path)
    assert [row["event_id"] for row in stored_events(url)] == ["after"]

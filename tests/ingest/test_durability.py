"""Real server processes: acknowledged events survive kill -9; an event_id is stored once."""

import asyncio
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import ADMIN, migrate
from tests.helpers import event, stored_events
from tests.servers import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CLIENTS = 64
LOAD_SECONDS = 1.0
BATCH_EVERY = 4  # a quarter of each client's requests are batches, at staggered turns
BATCH_SIZE = 10
# Each client has its own httpx client (one pool of 64 connections is slower than the server); they
# share one TLS context, though the servers speak plain HTTP, because loading one costs ~20 ms.
TLS_CONTEXT = ssl.create_default_context()

ROUNDS = 3
# A kill that lands while no request is in flight tests nothing: on a loaded machine the clients
# (in this process) can be what is slow, and the server idle at that instant. Another round
# (a new server on the same database) is tried then, up to this many.
KILL_ROUNDS = 5
ROUND_EVENTS = 1000
SINGLES_PER_ROUND = 50


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database of each kind that only this test's servers use."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'analytics.db'}"
    else:
        name = "durability_" + re.sub(r"\W+", "_", request.node.name).lower()
        url = request.getfixturevalue("pg_server").create_database(name[:63])
    migrate(url)
    return url


@dataclass
class Load:
    """What the clients sent, and what the server acknowledged before it died."""

    sent: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    acknowledged_batches: list[list[str]] = field(default_factory=list)
    unanswered_batches: list[list[str]] = field(default_factory=list)
    acknowledged_requests: int = 0
    cut_off: int = 0  # requests whose connection broke after they were sent
    unexpected: list[tuple[int, str]] = field(default_factory=list)

    def add(self, other: "Load") -> None:
        self.sent |= other.sent
        self.acknowledged |= other.acknowledged
        self.acknowledged_batches += other.acknowledged_batches
        self.unanswered_batches += other.unanswered_batches
        self.acknowledged_requests += other.acknowledged_requests
        self.cut_off += other.cut_off
        self.unexpected += other.unexpected


def _request(kill: int, client: int, number: int) -> tuple[str, dict[str, Any], list[str]]:
    session_id = f"session-{client}"
    if (client + number) % BATCH_EVERY:
        event_id = f"k{kill}-c{client}-r{number}"
        return "/client/update", event(event_id=event_id, session_id=session_id), [event_id]
    ids = [f"k{kill}-c{client}-r{number}-{k}" for k in range(BATCH_SIZE)]
    events = [event(event_id=event_id, session_id=session_id) for event_id in ids]
    return "/client/batch", {"events": events}, ids


def _acknowledged(path: str, response: httpx.Response, ids: list[str]) -> bool:
    expected: dict[str, Any] = {"status": "success"}
    if path == "/client/batch":
        expected = {"status": "success", "received": len(ids), "new": len(ids), "duplicates": 0}
    return response.status_code == 200 and response.json() == expected


async def _client(base_url: str, kill: int, client: int, load: Load, killed: anyio.Event) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10, verify=TLS_CONTEXT) as http:
        await _post_until_killed(http, kill, client, load, killed)


async def _post_until_killed(
    http: httpx.AsyncClient, kill: int, client: int, load: Load, killed: anyio.Event
) -> None:
    number = 0
    while not killed.is_set():
        number += 1
        path, body, ids = _request(kill, client, number)
        load.sent.update(ids)
        try:
            response = await http.post(path, json=body)
        except httpx.TransportError as exc:
            load.cut_off += not isinstance(exc, httpx.ConnectError)
            if len(ids) > 1:
                load.unanswered_batches.append(ids)
            continue
        if not _acknowledged(path, response, ids):
            load.unexpected.append((response.status_code, response.text))
            continue
        load.acknowledged.update(ids)
        load.acknowledged_requests += 1
        if len(ids) > 1:
            load.acknowledged_batches.append(ids)


async def _kill_under_load(database_url: str) -> Load:
    """Servers on `database_url` killed under load, until a kill interrupts requests in flight
    (at most KILL_ROUNDS): all they were sent and acknowledged."""
    load = Load()
    for kill in range(KILL_ROUNDS):
        with ServerProcess(database_url) as server:
            load.add(await _kill_once(server, kill))
        if load.cut_off:
            break
    return load


async def _kill_once(server: ServerProcess, kill: int) -> Load:
    """Run CLIENTS clients posting back to back, and SIGKILL the server while they do."""
    load, killed = Load(), anyio.Event()
    async with anyio.create_task_group() as clients:
        for client in range(CLIENTS):
            clients.start_soon(_client, server.base_url, kill, client, load, killed)
        await anyio.sleep(LOAD_SECONDS)
        await anyio.to_thread.run_sync(server.kill)
        killed.set()
    return load


async def _transcript_ids(http: httpx.AsyncClient, session_id: str) -> list[str]:
    ids: list[str] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        response = await http.get(f"/sessions/{session_id}", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [item["event_id"] for item in page["events"]]
        if page["next_cursor"] is None:
            return ids
        params["cursor"] = page["next_cursor"]


async def test_acknowledged_events_survive_kill_9(fresh_database: str) -> None:
    load = await _kill_under_load(fresh_database)

    assert load.unexpected == []
    assert load.acknowledged_requests > 100, "too few acknowledgements for the test to mean much"
    assert load.acknowledged_batches, "no batch was acknowledged"
    assert load.cut_off > 0, "the kill interrupted no request in flight"
    stored_in_order = [row["event_id"] for row in stored_events(fresh_database)]
    stored = set(stored_in_order)
    assert len(stored_in_order) == len(stored)
    assert sorted(load.acknowledged - stored) == []
    assert stored <= load.sent
    half_stored = [ids for ids in load.unanswered_batches if 0 < len(stored & set(ids)) < len(ids)]
    assert half_stored == []

    with ServerProcess(fresh_database) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            read_back: set[str] = set()
            for client in range(CLIENTS):
                read_back.update(await _transcript_ids(http, f"session-{client}"))
            after = await http.post("/client/update", json=event(event_id="after-restart"))
    assert sorted(load.acknowledged - read_back) == []
    assert read_back == stored
    assert after.json() == {"status": "success"}


def _same_events_to_both(
    http: httpx.AsyncClient, servers: tuple[ServerProcess, ServerProcess], ids: list[str]
) -> list[Awaitable[httpx.Response]]:
    """A batch of `ids` to each server, in opposite orders, then some ids alone to each server."""
    posts: list[Awaitable[httpx.Response]] = []
    for server, order in zip(servers, (ids, ids[::-1]), strict=True):
        events = [event(event_id=event_id, session_id="shared") for event_id in order]
        posts.append(http.post(f"{server.base_url}/client/batch", json={"events": events}))
    for event_id in ids[:SINGLES_PER_ROUND]:
        for server in servers:
            body = event(event_id=event_id, session_id="shared")
            posts.append(http.post(f"{server.base_url}/client/update", json=body))
    return posts


async def test_event_ids_are_stored_once_across_servers(fresh_database: str) -> None:
    # Group commit stores requests in arrival order, so two servers can hold the same event_ids
    # in opposite orders in concurrent transactions; the opposite-order batches provoke that.
    rounds = [[f"r{r}-{i:04}" for i in range(ROUND_EVENTS)] for r in range(ROUNDS)]
    with ServerProcess(fresh_database) as first, ServerProcess(fresh_database) as second:
        async with httpx.AsyncClient(timeout=30) as http:
            answers = [
                await asyncio.gather(*_same_events_to_both(http, (first, second), ids))
                for ids in rounds
            ]

    for batches_then_singles in answers:
        statuses = [(r.status_code, r.text) for r in batches_then_singles if r.status_code != 200]
        assert statuses == []
        for batch in batches_then_singles[:2]:
            assert batch.json()["new"] + batch.json()["duplicates"] == ROUND_EVENTS
    stored = [row["event_id"] for row in stored_events(fresh_database)]
    assert sorted(stored) == sorted(event_id for ids in rounds for event_id in ids)

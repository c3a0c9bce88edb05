"""What the hostile-input tests share: raw bodies, posting them, and checking a clean refusal."""

import json
from typing import Any

import httpx

from tests.helpers import event, stored_events

ROUTES = ["/client/update", "/client/batch"]
MIB = 1024 * 1024
LIMIT = 4096  # max_body_bytes for the size tests: small, so that they stay fast
DEEP = 10_000


def dumps(value: Any) -> bytes:
    """JSON as a client may send it; ASCII escapes, so lone surrogates survive as \\udXXX."""
    return json.dumps(value, separators=(",", ":")).encode()


GOOD = dumps(event())


def as_batch(*bodies: bytes) -> bytes:
    """A batch of raw event bodies, spliced in as they are."""
    return b'{"events":[' + b",".join(bodies) + b"]}"


def with_field(field: str, raw: bytes) -> bytes:
    """A valid event whose `field` is the raw JSON text `raw`."""
    return dumps(event(**{field: "PLACEHOLDER"})).replace(b'"PLACEHOLDER"', raw)


def assert_refused(response: httpx.Response, *statuses: int) -> Any:
    """One of `statuses` (all 4xx), answered as JSON {"detail": ...} without a traceback."""
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert all(400 <= status < 500 for status in statuses)
    assert response.headers["content-type"] == "application/json"
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    detail = response.json()["detail"]
    assert detail
    return detail


def assert_names(detail: Any, loc: list[Any], fragment: str = "") -> None:
    """A 422 detail (a list of {loc, msg, type}) blaming `loc`, its msg holding `fragment`."""
    assert isinstance(detail, list), detail
    messages = [error["msg"] for error in detail if error["loc"] == loc]
    assert messages, detail
    assert fragment in messages[0], detail


def assert_not_json(detail: Any) -> None:
    assert isinstance(detail, str)
    assert "not valid JSON" in detail or "empty" in detail, detail


async def post(client: httpx.AsyncClient, route: str, body: bytes) -> httpx.Response:
    return await client.post(route, content=body, headers={"Content-Type": "application/json"})


async def post_event_on_both_routes(
    client: httpx.AsyncClient, event_body: bytes
) -> tuple[httpx.Response, httpx.Response]:
    """`event_body` alone, then as the second event of a batch behind a valid one."""
    single = await post(client, "/client/update", event_body)
    return single, await post(client, "/client/batch", as_batch(GOOD, event_body))


async def assert_still_stores(client: httpx.AsyncClient, database_url: str) -> None:
    """Nothing was stored, and the event table still takes a valid event."""
    assert stored_events(database_url) == []
    assert (await post(client, "/client/update", GOOD)).status_code == 200
    assert [row["user_id"] for row in stored_events(database_url)] == ["user-1"]

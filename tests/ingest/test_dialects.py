"""No ingestion route can answer success without storing: the endpoint writes, the dialects
(our own format, Segment's, PostHog's) only translate. Every route `routes()` serves is posted
to, over HTTP through the app, on SQLite and PostgreSQL; and the `Dialect` protocol is checked
to hand a dialect no writer.
"""

import ast
import inspect
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, get_args, get_type_hints

import httpx
import pytest
from fastapi import FastAPI

from plugin_analytics.ingest import endpoint
from plugin_analytics.ingest.endpoint import Dialect
from plugin_analytics.ingest.router import routes
from plugin_analytics.ingest.writer import EventWriter
from plugin_analytics.services import Services, services_of
from tests.helpers import event, stored_events

INGEST = Path(endpoint.__file__).parent
ROUTE_PATHS = [route.path for route in routes([])]

SEGMENT_CALLS: dict[str, dict[str, Any]] = {
    "track": {
        "event": "message",
        "properties": {"session_id": "session-1", "message": "Hi!", "role": "user"},
    },
    "identify": {"traits": {"plan": "pro"}},
    "page": {"name": "Pricing"},
    "screen": {"name": "Home"},
    "group": {"groupId": "group-1"},
    "alias": {"previousId": "visitor-0"},
}
SEGMENT_BATCH_PATHS = ("/v1/batch", "/v1/b", "/v1/import")
POSTHOG_PATHS = [
    path
    for base in ("/batch", "/capture", "/e", "/i/v0/e", "/track")
    for path in (base, f"{base}/")
]


def segment_message(kind: str, event_id: str) -> dict[str, Any]:
    return {"type": kind, "userId": "user-1", "messageId": event_id, **SEGMENT_CALLS[kind]}


def segment_batch(event_id: str) -> dict[str, Any]:
    return {"batch": [segment_message("track", event_id)]}


def posthog_event(event_id: str) -> dict[str, Any]:
    return {
        "event": "message",
        "distinct_id": "user-1",
        "uuid": event_id,
        "properties": {"$session_id": "session-1", "message": "Hi!", "role": "user"},
    }


# A valid body of one event, with that event_id, for each ingestion route.
BODIES: dict[str, Callable[[str], Any]] = {
    "/client/update": lambda event_id: event(event_id=event_id),
    "/client/batch": lambda event_id: {"events": [event(event_id=event_id)]},
    **{
        f"/v1/{path}": partial(segment_message, kind)
        for kind in SEGMENT_CALLS
        for path in (kind, kind[0])  # analytics.js posts to /v1/t, /v1/i ...
    },
    **dict.fromkeys(SEGMENT_BATCH_PATHS, segment_batch),
    **dict.fromkeys(POSTHOG_PATHS, posthog_event),
}

pytestmark = pytest.mark.anyio


def valid_body(path: str, event_id: str) -> Any:
    if path not in BODIES:
        pytest.fail(f"no valid body is known for the ingestion route {path}: add one to BODIES")
    return BODIES[path](event_id)


def event_id_for(path: str) -> str:
    return f"event{path.replace('/', '-')}"


def test_every_ingestion_route_is_checked() -> None:
    assert len(ROUTE_PATHS) == len(set(ROUTE_PATHS))
    assert {"/client/update", "/client/batch", "/v1/track", "/v1/batch", "/e"} <= set(ROUTE_PATHS)


@pytest.mark.parametrize("path", ROUTE_PATHS)
async def test_no_route_answers_success_once_the_writer_has_stopped(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, path: str
) -> None:
    await services_of(app).writer.stop()
    response = await client.post(path, json=valid_body(path, event_id_for(path)))
    assert not response.is_success, response.text
    assert response.status_code == 503
    assert stored_events(database_url) == []


@pytest.mark.parametrize("path", ROUTE_PATHS)
async def test_every_route_answers_success_with_its_events_stored(
    client: httpx.AsyncClient, database_url: str, path: str
) -> None:
    response = await client.post(path, json=valid_body(path, event_id_for(path)))
    assert response.status_code == 200, response.text
    assert [row["event_id"] for row in stored_events(database_url)] == [event_id_for(path)]


def mentions(hint: Any, kinds: tuple[type, ...]) -> bool:
    """Whether a type hint is, or is built of (a union, a generic), one of `kinds`."""
    return hint in kinds or any(mentions(arg, kinds) for arg in get_args(hint))


def test_the_dialect_protocol_gives_a_dialect_no_writer() -> None:
    methods = {
        name: method
        for name, method in vars(Dialect).items()
        if inspect.isfunction(method) and not name.startswith("_")
    }
    assert "success" in methods
    given = [
        f"Dialect.{name}({parameter}: {hint})"
        for name, method in methods.items()
        for parameter, hint in get_type_hints(method).items()
        if parameter != "return" and mentions(hint, (EventWriter, Services))
    ]
    assert given == []


def writer_uses(path: Path) -> list[str]:
    """Where the module at `path` reaches the running writer (`.writer`) or writes through one
    (`<...writer>.write(`)."""
    uses = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        writes = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "write"
            and "writer" in ast.unparse(node.func.value).lower()
        )
        if writes or (isinstance(node, ast.Attribute) and node.attr == "writer"):
            uses.append(f"{path.relative_to(INGEST)}:{getattr(node, 'lineno', '?')}")
    return uses


def test_only_the_endpoint_writes_events() -> None:
    modules = sorted(INGEST.rglob("*.py"))
    assert INGEST / "segment.py" in modules
    elsewhere = [use for path in modules if path.name != "endpoint.py" for use in writer_uses(path)]
    assert elsewhere == []
    # The scan does see a write: the endpoint's own.
    assert writer_uses(INGEST / "endpoint.py")

"""What the real-SDK tests share: the clients, how they send, what the server shows of it."""

import base64
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import httpx
from posthog import Posthog
from segment.analytics import Client as SegmentClient
from segment.analytics.version import VERSION as SEGMENT_VERSION

from tests.access.helpers import database_dump
from tests.conftest import ADMIN, ADMIN_KEY
from tests.helpers import NO_RATINGS, stored_events
from tests.ingest.sdk_helpers import ONE_CONVERTED_CHAT
from tests.ingest.sdk_proxy import Exchange
from tests.servers import ServerProcess

WRONG_KEY = "pa_write_not-a-key-the-server-made"
# What the server answers an SDK with a wrong key and with the admin key.
REFUSED_KEYS = {
    "wrong-key": (WRONG_KEY, 401, "unauthorized", "invalid write key"),
    "admin-key": (
        ADMIN_KEY,
        403,
        "forbidden",
        "this is an admin key; ingestion takes a write key",
    ),
}
# The summary of a day whose only chat event is one user message.
ONE_USER_MESSAGE = {
    **ONE_CONVERTED_CHAT,
    "total_messages": 1,
    "cta_clicks": 0,
    "assistant_messages": 0,
    "converted_sessions": 0,
    "conversion_rate": 0.0,
    "messages_per_session": 1.0,
}
# What segment-analytics-python puts in every message's context, kept as the $context property.
SEGMENT_LIBRARY = {"name": "analytics-python", "version": SEGMENT_VERSION}
SEGMENT_CONTEXT = {"$context": {"library": SEGMENT_LIBRARY}}


# --- the SDK clients, always shut down ---


@contextmanager
def segment_client(key: str, host: str, **options: Any) -> Iterator[SegmentClient]:
    client = SegmentClient(key, host=host, **options)
    try:
        yield client
    finally:
        if not client.sync_mode:  # a sync client has no consumer threads to stop
            client.shutdown()
    assert not any(consumer.is_alive() for consumer in client.consumers or [])


@contextmanager
def posthog_client(key: str, host: str, **options: Any) -> Iterator[Posthog]:
    client = Posthog(key, host=host, **options)
    try:
        yield client
    finally:
        client.shutdown()


ErrorLog = list[tuple[Exception, list[dict[str, Any]]]]


def error_log() -> tuple[ErrorLog, Callable[[Exception, list[dict[str, Any]]], None]]:
    """A list, and an SDK on_error hook that appends (error, batch) to it."""
    errors: ErrorLog = []
    return errors, lambda error, batch: errors.append((error, batch))


# --- what was sent, and what the server shows ---


@dataclass
class Sent:
    message: dict[str, Any]  # one message of a batch, as the SDK sent it
    sent_at: datetime  # the batch's sentAt (Segment) or sent_at (PostHog)


@dataclass(frozen=True)
class Wire:
    """How an SDK sends its batches: the path, where the key goes, each message's id and the
    batch's time."""

    path: str
    key_field: str  # the key in the body
    id_field: str
    sent_at_field: str
    basic_auth: bool  # the key also as HTTP Basic (Segment); else no Authorization (PostHog)


SEGMENT_WIRE = Wire("/v1/batch", "writeKey", "messageId", "sentAt", basic_auth=True)
POSTHOG_WIRE = Wire("/batch/", "api_key", "uuid", "sent_at", basic_auth=False)


def sent_messages(exchanges: list[Exchange], wire: Wire) -> dict[str, Sent]:
    """Every message of every batch by its id (messageId, uuid); each must be sent once."""
    sent: dict[str, Sent] = {}
    for exchange in exchanges:
        body = exchange.json()
        for message in body["batch"]:
            assert message[wire.id_field] not in sent, f"{message[wire.id_field]} sent twice"
            sent[message[wire.id_field]] = Sent(message, iso(body[wire.sent_at_field]))
    return sent


def basic_auth(key: str) -> str:
    """Segment's Authorization header: HTTP Basic, the key as the user name, no password."""
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def admin_get(server: ServerProcess, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}{path}", params=params, headers=ADMIN, timeout=10)


def history(server: ServerProcess, user_id: str) -> dict[str, Any]:
    response = admin_get(server, f"/users/{quote(user_id, safe='')}/history")
    assert response.status_code == 200, response.text
    return dict(response.json())


def transcript(server: ServerProcess, session_id: str) -> dict[str, Any]:
    response = admin_get(server, f"/sessions/{quote(session_id, safe='')}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def day_summary(server: ServerProcess, day: datetime) -> dict[str, Any]:
    """GET /analytics/summary for `day` alone (UTC), without the echo of the range."""
    iso_day = day.date().isoformat()
    response = admin_get(server, "/analytics/summary", start_date=iso_day, end_date=iso_day)
    assert response.status_code == 200, response.text
    summary = dict(response.json())
    assert (summary.pop("start_date"), summary.pop("end_date"), summary.pop("tz")) == (
        iso_day,
        iso_day,
        "UTC",
    )
    assert {name: summary.pop(name) for name in NO_RATINGS} == NO_RATINGS
    return summary


def without_times(page: dict[str, Any]) -> dict[str, Any]:
    """A history or transcript with each event's timestamp and received_at left out."""

    def event(shown: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in shown.items() if k not in ("timestamp", "received_at")}

    if "sessions" in page:
        sessions = [
            {**group, "events": [event(e) for e in group["events"]]} for group in page["sessions"]
        ]
        return {**page, "sessions": sessions}
    return {**page, "events": [event(e) for e in page["events"]]}


def events_of(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [event for group in page["sessions"] for event in group["events"]]


def assert_clock_corrected(events: list[dict[str, Any]], sent: dict[str, Sent]) -> None:
    """Each event's time is the SDK's, corrected for the client's clock to the microsecond:
    received_at - (sentAt - timestamp), with the sentAt of the request that was stored."""
    for event in events:
        wire = sent[event["event_id"]]
        offset = wire.sent_at - iso(wire.message["timestamp"])
        assert iso(event["timestamp"]) == iso(event["received_at"]) - offset, event


def user_rows(database_url: str, user_id: str) -> Counter[str]:
    """How many times each event_id of `user_id` is stored, read from the database itself."""
    rows = stored_events(database_url)
    return Counter(row["event_id"] for row in rows if row["user_id"] == user_id)


def names() -> tuple[str, str, str, str]:
    """A user, a second user, the first one's chat session and the second one's session."""
    tag = uuid4().hex[:10]
    return f"visitor-{tag}", f"other-{tag}", f"chat-{tag}", f"browse-{tag}"


def clock(day: datetime) -> Callable[[float], datetime]:
    """`seconds` after noon of `day`."""
    return lambda seconds: day + timedelta(seconds=seconds)


def finish(client: SegmentClient | Posthog, mode: str) -> None:
    """flush (the background consumer, then flush()) or shutdown (then only shutdown()); a
    sync client has sent each call already."""
    if mode == "flush":
        client.flush()
    elif not mode.startswith("sync"):
        client.shutdown()


def assert_sent_as(
    wire: Wire,
    exchanges: list[Exchange],
    key: str,
    ids: list[str],
    *,
    sync: bool,
    gzipped: bool,
) -> dict[str, Sent]:
    """Every request was `wire`'s, stored and answered, with the key and gzip as the client
    was told; sync clients send one message a request. The messages sent, which are `ids`."""
    for exchange in exchanges:
        assert (exchange.method, exchange.path) == ("POST", wire.path)
        assert (exchange.status, exchange.relayed) == (200, True)
        authorization = basic_auth(key) if wire.basic_auth else None
        assert exchange.headers.get("authorization") == authorization
        assert exchange.headers.get("content-encoding") == ("gzip" if gzipped else None)
        assert exchange.json()[wire.key_field] == key
    if sync:
        assert [len(exchange.json()["batch"]) for exchange in exchanges] == [1] * len(ids)
    sent = sent_messages(exchanges, wire)
    assert set(sent) == set(ids)
    return sent


def group(session_id: str, *events: dict[str, Any]) -> dict[str, Any]:
    """One session of a history: its id and its events."""
    return {"session_id": session_id, "events": list(events)}


def assert_history(
    server: ServerProcess,
    user_id: str,
    traits: dict[str, Any] | None,
    sessions: list[dict[str, Any]],
    sent: dict[str, Sent],
) -> dict[str, Any]:
    """The user's history is exactly `traits` and `sessions` (but for the times), each time the
    SDK's corrected with what was `sent`. The history as shown."""
    shown = history(server, user_id)
    assert without_times(shown) == {
        "user_id": user_id,
        "traits": traits,
        "sessions": sessions,
        "next_cursor": None,
    }
    assert_clock_corrected(events_of(shown), sent)
    return shown


def assert_transcript_is_the_chat(
    server: ServerProcess, session_id: str, shown: dict[str, Any]
) -> None:
    """The session's transcript is the first session of the history `shown`."""
    assert transcript(server, session_id) == {
        "session_id": session_id,
        "events": shown["sessions"][0]["events"],
        "next_cursor": None,
    }


def assert_day_and_rows(
    server: ServerProcess,
    sdk_database: str,
    write_key: str,
    day: datetime,
    rows: list[tuple[str, list[str]]],
) -> None:
    """The day is one converted chat, each user's events are stored once, and the key is not
    stored anywhere."""
    assert day_summary(server, day) == ONE_CONVERTED_CHAT
    for user_id, ids in rows:
        assert user_rows(sdk_database, user_id) == Counter(ids)
    assert write_key not in database_dump(sdk_database)  # the key is a credential


def assert_resent(
    wire: Wire, exchanges: list[Exchange], ids: list[str]
) -> tuple[Exchange, Exchange]:
    """The server stored the batch of `ids` and answered 200; the SDK never heard it and sent
    it again. The two requests, the first the one stored."""
    first, second = exchanges
    assert (first.status, first.relayed) == (200, False)
    assert (second.status, second.relayed) == (200, True)
    assert [sent[wire.id_field] for sent in first.json()["batch"]] == ids
    assert second.json()["batch"] == first.json()["batch"]
    return first, second


def assert_nothing_stored(server: ServerProcess, sdk_database: str, user_id: str) -> None:
    assert admin_get(server, f"/users/{user_id}/history").status_code == 404
    assert user_rows(sdk_database, user_id) == Counter()


# sync: each call is its own request; flush: the background consumer, then flush(); shutdown:
# the background consumer, then only shutdown(). gzip: the client's gzip option.
MODES = ["sync", "sync-gzip", "flush", "shutdown-gzip"]

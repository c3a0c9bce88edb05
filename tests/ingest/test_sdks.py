"""The real Segment and PostHog SDKs, unmodified, against the real server: they must just work.

segment-analytics-python and posthog-python are pointed at `uvicorn main:app` (one server per
database for the module), whose ingestion needs a write key made as `plugin-analytics keys
create` makes it. They talk to it through a loopback proxy that records every request they
make (so the test sees what the SDK really sent: the key, gzip, the ids, `sentAt`) and that can
cut off the server's answer to make an SDK retry a batch the server has already stored.

What they sent is read back with the admin key: the user's history and traits, the session
transcript, and the summary of the day the events happened (each test has a day of its own,
so the counts are exactly its own events).
"""

import base64
import gzip
import itertools
import json
import logging
import shutil
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote
from uuid import uuid4

import httpx
import pytest
from posthog import Posthog, identify_context, new_context, set_context_session
from posthog.request import APIError as PostHogAPIError
from posthog.version import VERSION as POSTHOG_VERSION
from segment.analytics import Client as SegmentClient
from segment.analytics.request import APIError as SegmentAPIError
from segment.analytics.version import VERSION as SEGMENT_VERSION

from tests.access.helpers import database_dump, make_key
from tests.conftest import ADMIN, ADMIN_KEY, migrate
from tests.helpers import NO_RATINGS, stored_events
from tests.ingest.sdk_helpers import ONE_CONVERTED_CHAT, stored_row
from tests.pg import PostgresServer
from tests.servers import ServerProcess

pytestmark = pytest.mark.slow

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
# Chat fields PostHog sends as properties, which become the event's own fields.
POSTHOG_TAKEN = ("$session_id", "message", "role", "cta_id")
_DAYS = itertools.count()


# --- the server, its database and its write key: one of each per database for the module ---


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sdk_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database of each kind that only this module's server uses."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sdks") / "analytics.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    pg_server: PostgresServer = request.getfixturevalue("pg_server")
    url = pg_server.create_database("analytics_sdks")
    migrate(url)
    return url


@pytest.fixture(scope="module")
def write_key(sdk_database: str) -> str:
    """A write key made as `plugin-analytics keys create --kind write` makes it. It exists
    before the server starts, so ingestion needs a key from the first request on."""
    return make_key(sdk_database, "write", "sdk tests").key


@pytest.fixture(scope="module")
def server(sdk_database: str, write_key: str) -> Iterator[ServerProcess]:
    with ServerProcess(
        sdk_database,
        WRITE_KEYS="",
        INGEST_RATE_LIMIT="",
        RETENTION_DAYS="",
        REDACT_PII="false",
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    """Every SDK consumer and proxy thread a test starts is gone when it ends."""
    before = set(threading.enumerate())
    yield
    left = [thread.name for thread in threading.enumerate() if thread not in before]
    assert left == []


@pytest.fixture
def day() -> datetime:
    """Noon (UTC) of a day no other test sends events for."""
    return datetime(2025, 3, 1, 12, tzinfo=UTC) + timedelta(days=next(_DAYS))


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator["RecordingProxy"]:
    with RecordingProxy(server.port) as recording:
        yield recording


# --- a loopback proxy that records what the SDKs send, and can lose the server's answer ---


@dataclass
class HttpMessage:
    start: str  # "POST /v1/batch HTTP/1.1" or "HTTP/1.1 200 OK"
    head: bytes
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def raw(self) -> bytes:
        return self.head + self.body


def read_http_message(stream: BinaryIO) -> HttpMessage | None:
    """One HTTP/1.1 request or response from `stream`; None when the peer closed the
    connection between messages. The SDKs (requests) and uvicorn both send Content-Length."""
    start = stream.readline()
    if not start:
        return None
    head, headers = [start], {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        head.append(line)
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if not line:
        raise ConnectionError(f"the connection closed inside the head of {start!r}")
    head.append(line)
    assert "transfer-encoding" not in headers, headers
    body = stream.read(int(headers.get("content-length", "0")))
    return HttpMessage(start.decode("latin-1").strip(), b"".join(head), headers, body)


@dataclass
class Exchange:
    """One request an SDK made through the proxy, and what became of the server's answer."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the server answered
    relayed: bool  # False: the proxy closed the SDK's connection instead of passing it on

    def json(self) -> Any:
        gzipped = self.headers.get("content-encoding") == "gzip"
        return json.loads(gzip.decompress(self.body) if gzipped else self.body)


@dataclass
class RecordingProxy:
    """A TCP proxy on loopback in front of the server, one thread a connection. Each request
    is forwarded whole and the server's whole answer read (so whatever it acknowledged is
    committed); the first `lose_answers` answers are then not relayed: the proxy closes the
    SDK's connection instead, and the SDK sees a broken connection after a stored batch."""

    upstream_port: int
    lose_answers: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._clients: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # accept() polls, to notice close()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept")
        self._acceptor.start()

    def __enter__(self) -> "RecordingProxy":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def seen(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(client,), name="proxy-conn")
            with self._lock:
                self._clients.append(client)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            with client, client.makefile("rb") as stream:
                while (request := read_http_message(stream)) is not None:
                    answer = self._forward(request)
                    method, path, _ = request.start.split(" ", 2)
                    with self._lock:
                        relay = self.lose_answers == 0
                        self.lose_answers = max(0, self.lose_answers - 1)
                        status = int(answer.start.split(" ")[1])
                        self.exchanges.append(
                            Exchange(method, path, request.headers, request.body, status, relay)
                        )
                    if not relay:
                        return  # closes the connection: the SDK never hears the answer
                    client.sendall(answer.raw)
        except BaseException as exc:
            if not self._closing.is_set():
                self.failures.append(repr(exc))

    def _forward(self, request: HttpMessage) -> HttpMessage:
        address = ("127.0.0.1", self.upstream_port)
        with (
            socket.create_connection(address, timeout=30) as upstream,
            upstream.makefile("rb") as stream,
        ):
            upstream.sendall(request.raw)
            answer = read_http_message(stream)
        if answer is None:
            raise ConnectionError(f"the server did not answer {request.start}")
        return answer

    def close(self) -> None:
        self._closing.set()
        self._acceptor.join()
        self._listener.close()
        with self._lock:
            clients, threads = list(self._clients), list(self._threads)
        for client in clients:  # idle keep-alive connections of the SDKs' pools
            with suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=30)
        assert [thread.name for thread in threads if thread.is_alive()] == []
        assert self.failures == []


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


# --- Segment (segment-analytics-python) ---

# sync: each call is its own request; flush: the background consumer, then flush(); shutdown:
# the background consumer, then only shutdown(). gzip: the client's gzip option.
MODES = ["sync", "sync-gzip", "flush", "shutdown-gzip"]


@pytest.mark.parametrize("mode", MODES)
def test_segment_chat_events_traits_and_pages_are_stored(
    server: ServerProcess,
    proxy: RecordingProxy,
    sdk_database: str,
    write_key: str,
    day: datetime,
    mode: str,
) -> None:
    user, other, session, other_session = names()
    sync, gzipped = mode.startswith("sync"), mode.endswith("gzip")
    errors, on_error = error_log()
    at = clock(day)

    with segment_client(
        write_key, proxy.url, sync_mode=sync, gzip=gzipped, on_error=on_error
    ) as client:
        calls = [
            client.track(
                user,
                "message",
                {"session_id": session, "message": "Do you ship to Norway?", "role": "user"},
                timestamp=at(0),
            ),
            client.track(
                user,
                "message",
                {"session_id": session, "message": "Yes, in 3 to 5 days.", "role": "assistant"},
                timestamp=at(1),
            ),
            client.track(
                user, "cta_click", {"session_id": session, "cta_id": "shop-now"}, timestamp=at(2)
            ),
            client.track(user, "pricing_viewed", {"plan": "pro"}, timestamp=at(3)),
            client.page(
                user, "Docs", "Shipping", {"url": "https://shop.example/ship"}, timestamp=at(4)
            ),
            client.identify(user, {"email": "ana@example.com", "plan": "pro"}, timestamp=at(6)),
            # Sent last but happened earlier: it must not overwrite the newer plan.
            client.identify(user, {"plan": "free", "company": "Acme"}, timestamp=at(5)),
            # Another user's custom event, in a session of its own: not chat, never counted.
            client.track(other, "pricing_viewed", {"session_id": other_session}, timestamp=at(7)),
        ]
        finish(client, mode)
        assert [queued for queued, _ in calls] == [True] * len(calls)
        ids = [message["messageId"] for _, message in calls]

        sent = assert_sent_as(
            SEGMENT_WIRE, proxy.seen(), write_key, ids, sync=sync, gzipped=gzipped
        )

        shown = assert_history(
            server,
            user,
            {"email": "ana@example.com", "plan": "pro", "company": "Acme"},
            [
                group(
                    session,
                    stored_row(
                        ids[0],
                        user,
                        "message",
                        SEGMENT_CONTEXT,
                        session_id=session,
                        message="Do you ship to Norway?",
                    ),
                    stored_row(
                        ids[1],
                        user,
                        "message",
                        SEGMENT_CONTEXT,
                        session_id=session,
                        role="assistant",
                        message="Yes, in 3 to 5 days.",
                    ),
                    stored_row(
                        ids[2],
                        user,
                        "cta_click",
                        SEGMENT_CONTEXT,
                        session_id=session,
                        cta_id="shop-now",
                    ),
                ),
                group(
                    "",
                    stored_row(ids[3], user, "pricing_viewed", {"plan": "pro", **SEGMENT_CONTEXT}),
                    stored_row(
                        ids[4],
                        user,
                        "page",
                        {
                            "url": "https://shop.example/ship",
                            "$name": "Shipping",
                            "$category": "Docs",
                            **SEGMENT_CONTEXT,
                        },
                    ),
                    stored_row(
                        ids[6],
                        user,
                        "identify",
                        {"$set": {"plan": "free", "company": "Acme"}, **SEGMENT_CONTEXT},
                    ),
                    stored_row(
                        ids[5],
                        user,
                        "identify",
                        {
                            "$set": {"email": "ana@example.com", "plan": "pro"},
                            **SEGMENT_CONTEXT,
                        },
                    ),
                ),
            ],
            sent,
        )
        assert_transcript_is_the_chat(server, session, shown)

        assert_history(
            server,
            other,
            None,
            [
                group(
                    other_session,
                    stored_row(
                        ids[7],
                        other,
                        "pricing_viewed",
                        SEGMENT_CONTEXT,
                        session_id=other_session,
                    ),
                ),
            ],
            sent,
        )

        rows = [(user, ids[:7]), (other, ids[7:])]
        assert_day_and_rows(server, sdk_database, write_key, day, rows)
    assert errors == []


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "background"])
@pytest.mark.parametrize("refused", list(REFUSED_KEYS))
def test_segment_with_a_key_that_is_no_write_key_stores_nothing(
    server: ServerProcess, proxy: RecordingProxy, sdk_database: str, sync: bool, refused: str
) -> None:
    key, status, code, words = REFUSED_KEYS[refused]
    user, _, session, _ = names()
    errors, on_error = error_log()
    properties = {"session_id": session, "message": "Hello?", "role": "user"}
    with segment_client(key, proxy.url, sync_mode=sync, on_error=on_error) as client:
        if sync:
            with pytest.raises(SegmentAPIError) as raised:
                client.track(user, "message", properties)
            error: Exception = raised.value
        else:
            _, message = client.track(user, "message", properties)
            client.flush()
            [(error, batch)] = errors
            assert [sent["messageId"] for sent in batch] == [message["messageId"]]
    assert isinstance(error, SegmentAPIError)
    assert (error.status, error.code, error.message) == (status, code, words)
    # Refused, not retried: one request, and the SDK heard the refusal.
    [exchange] = proxy.seen()
    assert (exchange.status, exchange.relayed) == (status, True)
    assert exchange.headers["authorization"] == basic_auth(key)
    assert_nothing_stored(server, sdk_database, user)


def test_segment_retry_of_a_batch_whose_answer_was_lost_is_stored_once(
    server: ServerProcess, sdk_database: str, write_key: str, day: datetime
) -> None:
    user, _, session, _ = names()
    errors, on_error = error_log()
    with (
        RecordingProxy(server.port, lose_answers=1) as proxy,
        segment_client(
            write_key, proxy.url, max_retries=3, upload_size=2, on_error=on_error
        ) as client,
    ):
        _, message = client.track(
            user,
            "message",
            {"session_id": session, "message": "Is this stored once?", "role": "user"},
            timestamp=day,
        )
        _, identify = client.identify(user, {"plan": "pro"}, timestamp=day + timedelta(seconds=1))
        client.flush()
        exchanges = proxy.seen()
    ids = [message["messageId"], identify["messageId"]]

    first, second = assert_resent(SEGMENT_WIRE, exchanges, ids)
    assert "x-retry-count" not in first.headers
    assert second.headers["x-retry-count"] == "1"
    assert errors == []

    assert user_rows(sdk_database, user) == Counter(ids)
    # What is stored is the first request's: its receipt time, corrected with its sentAt.
    assert_history(
        server,
        user,
        {"plan": "pro"},
        [
            group(
                session,
                stored_row(
                    ids[0],
                    user,
                    "message",
                    SEGMENT_CONTEXT,
                    session_id=session,
                    message="Is this stored once?",
                ),
            ),
            group(
                "",
                stored_row(ids[1], user, "identify", {"$set": {"plan": "pro"}, **SEGMENT_CONTEXT}),
            ),
        ],
        sent_messages([first], SEGMENT_WIRE),
    )
    assert day_summary(server, day) == ONE_USER_MESSAGE


# --- PostHog (posthog-python) ---


def posthog_kept(sent: Sent, *moved: str) -> dict[str, Any]:
    """The properties the server keeps of a PostHog event: all it sent but the chat fields
    (now the event's own), with `moved` (`$set`, `$set_once` sent beside the properties)."""
    properties = {k: v for k, v in sent.message["properties"].items() if k not in POSTHOG_TAKEN}
    return {**properties, **{name: sent.message[name] for name in moved}}


@pytest.mark.parametrize("mode", MODES)
def test_posthog_chat_events_and_traits_are_stored(
    server: ServerProcess,
    proxy: RecordingProxy,
    sdk_database: str,
    write_key: str,
    day: datetime,
    mode: str,
) -> None:
    user, other, session, other_session = names()
    sync, gzipped = mode.startswith("sync"), mode.endswith("gzip")
    errors, on_error = error_log()
    at = clock(day)

    with posthog_client(
        write_key, proxy.url, sync_mode=sync, gzip=gzipped, on_error=on_error
    ) as client:
        ids = [
            client.capture(
                "message",
                distinct_id=user,
                properties={"$session_id": session, "message": "Do you ship?", "role": "user"},
                timestamp=at(0),
            )
        ]
        # posthog-python's own way to say who and which session, for all a request captures.
        with new_context(fresh=True, client=client):
            identify_context(user)
            set_context_session(session)
            ids.append(
                client.capture(
                    "message",
                    properties={"message": "Yes, worldwide.", "role": "assistant"},
                    timestamp=at(1),
                )
            )
        ids += [
            client.capture(
                "cta_click",
                distinct_id=user,
                properties={"$session_id": session, "cta_id": "shop-now"},
                timestamp=at(2),
            ),
            client.capture(
                "pricing_viewed", distinct_id=user, properties={"plan": "pro"}, timestamp=at(3)
            ),
            client.capture(
                "$pageview",
                distinct_id=user,
                properties={"$current_url": "https://shop.example/ship"},
                timestamp=at(4),
            ),
            client.set(
                distinct_id=user,
                properties={"email": "ana@example.com", "plan": "pro"},
                timestamp=at(6),
            ),
            client.capture(
                "$identify",
                distinct_id=user,
                properties={"$set": {"name": "Ana"}, "$set_once": {"first_seen": "2025-03-01"}},
                timestamp=at(7),
            ),
            client.set_once(
                distinct_id=user, properties={"plan": "free", "signup": "web"}, timestamp=at(8)
            ),
            # Sent after the others but happened before them: it must not overwrite the plan.
            client.set(
                distinct_id=user, properties={"plan": "trial", "company": "Acme"}, timestamp=at(5)
            ),
            client.capture(
                "pricing_viewed",
                distinct_id=other,
                properties={"$session_id": other_session},
                timestamp=at(9),
            ),
        ]
        finish(client, mode)
        assert all(isinstance(uuid, str) for uuid in ids), ids

        # The key is in the body, not in an Authorization header.
        sent = assert_sent_as(
            POSTHOG_WIRE, proxy.seen(), write_key, ids, sync=sync, gzipped=gzipped
        )
        wire = [sent[uuid] for uuid in ids]
        # What posthog-python sends: its own properties, $set/$set_once of set() and
        # set_once() beside the properties, the context's session as $session_id.
        assert wire[0].message["properties"]["$lib"] == "posthog-python"
        assert wire[0].message["properties"]["$lib_version"] == POSTHOG_VERSION
        assert wire[1].message["properties"]["$session_id"] == session
        assert (wire[5].message["event"], wire[5].message["$set"]) == (
            "$set",
            {"email": "ana@example.com", "plan": "pro"},
        )
        assert "$set" not in wire[5].message["properties"]
        assert wire[7].message["event"] == "$set_once"

        shown = assert_history(
            server,
            user,
            {
                "plan": "pro",
                "company": "Acme",
                "email": "ana@example.com",
                "name": "Ana",
                "first_seen": "2025-03-01",
                "signup": "web",
            },
            [
                group(
                    session,
                    stored_row(
                        ids[0],
                        user,
                        "message",
                        posthog_kept(wire[0]),
                        session_id=session,
                        message="Do you ship?",
                    ),
                    stored_row(
                        ids[1],
                        user,
                        "message",
                        posthog_kept(wire[1]),
                        session_id=session,
                        role="assistant",
                        message="Yes, worldwide.",
                    ),
                    stored_row(
                        ids[2],
                        user,
                        "cta_click",
                        posthog_kept(wire[2]),
                        session_id=session,
                        cta_id="shop-now",
                    ),
                ),
                group(
                    "",
                    stored_row(ids[3], user, "pricing_viewed", posthog_kept(wire[3])),
                    stored_row(ids[4], user, "$pageview", posthog_kept(wire[4])),
                    stored_row(ids[8], user, "$set", posthog_kept(wire[8], "$set")),
                    stored_row(ids[5], user, "$set", posthog_kept(wire[5], "$set")),
                    stored_row(ids[6], user, "$identify", posthog_kept(wire[6])),
                    stored_row(ids[7], user, "$set_once", posthog_kept(wire[7], "$set_once")),
                ),
            ],
            sent,
        )
        assert wire[3].message["properties"]["plan"] == "pro"
        assert wire[6].message["properties"]["$set"] == {"name": "Ana"}
        assert_transcript_is_the_chat(server, session, shown)

        assert_history(
            server,
            other,
            None,
            [
                group(
                    other_session,
                    stored_row(
                        ids[9],
                        other,
                        "pricing_viewed",
                        posthog_kept(wire[9]),
                        session_id=other_session,
                    ),
                ),
            ],
            sent,
        )

        rows = [(user, ids[:9]), (other, ids[9:])]
        assert_day_and_rows(server, sdk_database, write_key, day, rows)
    assert errors == []


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "background"])
@pytest.mark.parametrize("refused", list(REFUSED_KEYS))
def test_posthog_with_a_key_that_is_no_write_key_stores_nothing(
    server: ServerProcess,
    proxy: RecordingProxy,
    sdk_database: str,
    sync: bool,
    refused: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key, status, _, words = REFUSED_KEYS[refused]
    user, _, session, _ = names()
    errors, on_error = error_log()
    properties = {"$session_id": session, "message": "Hello?", "role": "user"}
    with (
        caplog.at_level(logging.ERROR, logger="posthog"),
        posthog_client(key, proxy.url, sync_mode=sync, on_error=on_error) as client,
    ):
        uuid = client.capture("message", distinct_id=user, properties=properties)
        if sync:
            # capture() does not raise (without debug): it logs the error and returns None.
            assert uuid is None
            [logged] = [record for record in caplog.records if record.exc_info]
            assert logged.exc_info is not None
            error = logged.exc_info[1]
        else:
            assert isinstance(uuid, str)
            client.flush()
            [(error, batch)] = errors
            assert [sent["uuid"] for sent in batch] == [uuid]
    assert isinstance(error, PostHogAPIError)
    assert (error.status, error.message) == (status, words)
    # Refused, not retried: one request, and the SDK heard the refusal.
    [exchange] = proxy.seen()
    assert (exchange.path, exchange.status, exchange.relayed) == ("/batch/", status, True)
    assert exchange.json()["api_key"] == key
    assert_nothing_stored(server, sdk_database, user)


def test_posthog_retry_of_a_batch_whose_answer_was_lost_is_stored_once(
    server: ServerProcess, sdk_database: str, write_key: str, day: datetime
) -> None:
    user, _, session, _ = names()
    errors, on_error = error_log()
    with (
        RecordingProxy(server.port, lose_answers=1) as proxy,
        posthog_client(write_key, proxy.url, max_retries=3, on_error=on_error) as client,
    ):
        ids = [
            client.capture(
                "message",
                distinct_id=user,
                properties={"$session_id": session, "message": "Stored once?", "role": "user"},
                timestamp=day,
            ),
            client.set(
                distinct_id=user, properties={"plan": "pro"}, timestamp=day + timedelta(seconds=1)
            ),
        ]
        client.flush()
        exchanges = proxy.seen()

    # posthog-python waits 1 s before its first retry; that wait cannot be shortened.
    first, _ = assert_resent(POSTHOG_WIRE, exchanges, ids)
    assert errors == []

    assert user_rows(sdk_database, user) == Counter(ids)
    sent = sent_messages([first], POSTHOG_WIRE)
    wire = [sent[uuid] for uuid in ids]
    # What is stored is the first request's: its receipt time, corrected with its sent_at.
    assert_history(
        server,
        user,
        {"plan": "pro"},
        [
            group(
                session,
                stored_row(
                    ids[0],
                    user,
                    "message",
                    posthog_kept(wire[0]),
                    session_id=session,
                    message="Stored once?",
                ),
            ),
            group("", stored_row(ids[1], user, "$set", posthog_kept(wire[1], "$set"))),
        ],
        sent,
    )
    assert day_summary(server, day) == ONE_USER_MESSAGE

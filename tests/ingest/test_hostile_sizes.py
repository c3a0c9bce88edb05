"""Hostile input on /client/update and /client/batch: body sizes, parser limits, framing lies."""

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from plugin_analytics.config import Settings
from tests.conftest import client_for
from tests.helpers import event, stored_events
from tests.ingest.hostile_helpers import (
    DEEP,
    GOOD,
    LIMIT,
    MIB,
    ROUTES,
    as_batch,
    assert_names,
    assert_refused,
    dumps,
    post,
    post_event_on_both_routes,
    with_field,
)
from tests.servers import ServerProcess

pytestmark = pytest.mark.anyio

# --- sizes ---------------------------------------------------------------------------------


@pytest.fixture
async def small_limit(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings.model_copy(update={"max_body_bytes": LIMIT})) as http:
        yield http


def padded(route: str, size: int) -> bytes:
    """A valid body for `route` of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = GOOD if route == "/client/update" else as_batch(GOOD)
    return body + b" " * (size - len(body))


async def chunks(body: bytes, sent: list[int], size: int = 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        sent.append(len(body[start : start + size]))
        yield body[start : start + size]


async def send(
    client: httpx.AsyncClient, route: str, body: bytes, mode: str, sent: list[int]
) -> httpx.Response:
    """`body` with a true Content-Length, with none, chunked, or streamed under a lying
    Content-Length of 100; `sent` counts the bytes the app pulled from a stream."""
    content = chunks(body, sent) if mode in ("chunked", "lying-length") else body
    request = client.build_request("POST", route, content=content)
    if mode == "no-length":
        del request.headers["Content-Length"]
    if mode == "lying-length":
        del request.headers["Transfer-Encoding"]
        request.headers["Content-Length"] = "100"
    if mode == "chunked":
        assert request.headers["Transfer-Encoding"] == "chunked"
    assert ("Content-Length" in request.headers) == (mode not in ("no-length", "chunked"))
    return await client.send(request)


@pytest.mark.parametrize("mode", ["content-length", "no-length", "chunked", "lying-length"])
@pytest.mark.parametrize("route", ROUTES)
async def test_body_over_the_limit_is_413(
    small_limit: httpx.AsyncClient, database_url: str, route: str, mode: str
) -> None:
    sent: list[int] = []
    response = await send(small_limit, route, padded(route, 64 * LIMIT), mode, sent)
    assert "limit" in assert_refused(response, 413)
    if sent:  # streamed: reading stopped at the first chunk past the limit
        assert sum(sent) <= LIMIT + 1024
    assert stored_events(database_url) == []


@pytest.mark.parametrize("mode", ["content-length", "no-length", "chunked"])
@pytest.mark.parametrize("route", ROUTES)
async def test_body_at_the_limit_is_stored_and_one_byte_more_is_413(
    small_limit: httpx.AsyncClient, database_url: str, route: str, mode: str
) -> None:
    response = await send(small_limit, route, padded(route, LIMIT + 1), mode, [])
    assert_refused(response, 413)
    assert stored_events(database_url) == []
    response = await send(small_limit, route, padded(route, LIMIT), mode, [])
    assert response.status_code == 200, response.text
    assert len(stored_events(database_url)) == 1


@pytest.mark.parametrize("route", ROUTES)
async def test_default_limit_without_content_length_is_413(
    client: httpx.AsyncClient, database_url: str, route: str
) -> None:
    response = await send(client, route, padded(route, MIB + 1), "no-length", [])
    assert assert_refused(response, 413) == f"body is larger than the limit of {MIB} bytes"
    assert stored_events(database_url) == []


@pytest.mark.parametrize(
    "length", [b"", b"+76", b" 76", b"76,76", b"7.6e1", b"1_000", b"0b1", "\u0667\u0666".encode()]
)
async def test_content_length_that_is_not_a_number_is_400(
    client: httpx.AsyncClient, database_url: str, length: bytes
) -> None:
    headers = {b"Content-Length": length, b"Content-Type": b"application/json"}
    for route in ROUTES:
        response = await client.post(route, content=padded(route, 200), headers=headers)
        assert assert_refused(response, 400) == "Content-Length must be a whole number"
    assert stored_events(database_url) == []


# A parser may stop at its depth or number limit (400) or the schema may refuse (422): either,
# as long as it is a clean refusal.
PARSER_LIMITS = {
    "arrays-as-body": b"[" * DEEP + b"]" * DEEP,
    "objects-as-body": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "arrays-in-properties": with_field("properties", b'{"a":' + b"[" * DEEP + b"]" * DEEP + b"}"),
    "objects-in-properties": with_field("properties", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    "5000-digit-number-in-properties": with_field("properties", b'{"n":1' + b"0" * 5000 + b"}"),
    "900000-digit-user-id": with_field("user_id", b"9" * 900_000),
    "huge-exponent-in-properties": with_field("properties", b'{"n":1e999999999999}'),
}


@pytest.mark.parametrize("body", PARSER_LIMITS.values(), ids=PARSER_LIMITS.keys())
async def test_depth_and_number_limits_are_clean_refusals(
    client: httpx.AsyncClient, database_url: str, body: bytes
) -> None:
    for response in (
        await post(client, "/client/batch", body),
        *await post_event_on_both_routes(client, body),
    ):
        assert_refused(response, 400, 422)
    assert stored_events(database_url) == []


def numbers(count: int) -> bytes:
    return b"[" + b",".join([b"0"] * count) + b"]"


async def test_batch_of_1001_events_is_422(client: httpx.AsyncClient, database_url: str) -> None:
    events = as_batch(*[dumps(event(event_id=f"e{i}")) for i in range(1001)])
    detail = assert_refused(await post(client, "/client/batch", events), 422)
    assert_names(detail, ["body", "events"], "at most 1000 items")
    assert stored_events(database_url) == []


async def test_batch_of_300000_numbers_is_422_with_a_short_answer(
    client: httpx.AsyncClient, database_url: str
) -> None:
    response = await post(client, "/client/batch", b'{"events":' + numbers(300_000) + b"}")
    assert_names(assert_refused(response, 422), ["body", "events"], "at most 1000 items")
    assert len(response.content) < 1024  # not one error per item
    assert stored_events(database_url) == []


HUGE_FIELDS = {
    "500000-numbers": (b'{"a":' + numbers(500_000) + b"}", "properties"),
    "80000-keys": (b"{" + b",".join(b'"k%d":0' % i for i in range(80_000)) + b"}", "properties"),
    "900-kb-string": (b'{"a":"' + b"x" * 900_000 + b'"}', "properties"),
    "900-kb-message": (b'"' + b"\\u00e9" * 150_000 + b'"', "message"),
}


@pytest.mark.parametrize(("raw", "field"), HUGE_FIELDS.values(), ids=HUGE_FIELDS.keys())
async def test_huge_values_within_the_body_limit_are_422(
    client: httpx.AsyncClient, database_url: str, raw: bytes, field: str
) -> None:
    body = with_field(field, raw)
    assert len(body) < MIB
    single, batch = await post_event_on_both_routes(client, body)
    assert_names(assert_refused(single, 422), ["body", field], "the limit is")
    assert_names(assert_refused(batch, 422), ["body", "events", 1, field], "the limit is")
    assert stored_events(database_url) == []


async def test_a_million_numbers_in_properties_is_422(
    settings: Settings, database_url: str
) -> None:
    body = with_field("properties", b'{"a":' + numbers(1_000_000) + b"}")
    raised = settings.model_copy(update={"max_body_bytes": 3 * MIB})
    async with client_for(raised) as client:
        single, batch = await post_event_on_both_routes(client, body)
    assert_names(assert_refused(single, 422), ["body", "properties"], "the limit is 16384")
    assert_names(assert_refused(batch, 422), ["body", "events", 1, "properties"], "the limit is")
    assert stored_events(database_url) == []


# --- the real server: framing lies that only a socket can tell -----------------------------


def exchange(port: int, request: bytes, *, close_early: bool = False) -> bytes:
    """Send raw bytes, read the answer until the server closes (b"" if it answers nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        if close_early:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


HEAD = b"POST /client/update HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n"
FRAMING_LIES = {  # what the request is, and the status it must get
    "length-shorter-than-body": HEAD + b"Content-Length: 20\r\n\r\n" + GOOD,
    "length-and-chunked": HEAD + b"Content-Length: %d\r\n" % len(GOOD) + CHUNKED + b"\r\n"
    + b"%x\r\n" % len(GOOD) + GOOD + b"\r\n0\r\n\r\n",
    "two-lengths": HEAD + b"Content-Length: %d\r\nContent-Length: 20\r\n\r\n" % len(GOOD) + GOOD,
    "negative-length": HEAD + b"Content-Length: -1\r\n\r\n" + GOOD,
    "chunk-shorter-than-data": HEAD + CHUNKED + b"\r\n10\r\n" + GOOD + b"\r\n0\r\n\r\n",
    "chunk-size-overflow": HEAD + CHUNKED + b"\r\nffffffffffffffffffff\r\n" + GOOD,
    "length-over-the-limit": HEAD + b"Content-Length: %d\r\n\r\n" % (50 * MIB) + GOOD,
}  # fmt: skip


@pytest.mark.slow
def test_lying_framing_on_a_real_server_stores_nothing(database_url: str) -> None:
    with ServerProcess(database_url) as server:
        for name, request in FRAMING_LIES.items():
            head, _, body = exchange(server.port, request).partition(b"\r\n\r\n")
            status = b"413" if name == "length-over-the-limit" else b"400"
            assert head.startswith(b"HTTP/1.1 " + status + b" "), (name, head)
            assert b"Traceback" not in body, name
            assert b'File "' not in body, name
        # More bytes promised than sent, then the client goes: nothing to store.
        request = HEAD + b"Content-Length: 500\r\n\r\n" + GOOD
        answer = exchange(server.port, request, close_early=True)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
        assert stored_events(database_url) == []
        answer = exchange(server.port, HEAD + b"Content-Length: %d\r\n\r\n" % len(GOOD) + GOOD)
        assert answer.startswith(b"HTTP/1.1 200 ")
    assert len(stored_events(database_url)) == 1

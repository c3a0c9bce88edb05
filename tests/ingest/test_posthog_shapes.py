"""PostHog capture: every path, body shape and encoding the SDKs send, and bodies not readable."""

import base64
import gzip
import zlib
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import NO_USAGE, stored_events
from tests.ingest.posthog_helpers import (
    CLIENT_TIME,
    FORM,
    PATHS,
    accepted,
    chat,
    dumps,
    exported,
    form,
    history,
    invalid,
    iso,
    ms,
    ph,
    post,
    row,
    rows,
    stored_times,
)

pytestmark = pytest.mark.anyio

# --- paths and body shapes -------------------------------------------------------------------


async def test_every_path_with_and_without_a_slash_stores_the_event(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """All ten capture paths answer {"status": 1} and store the event they were sent."""
    for path in PATHS:
        accepted(await post(client, path, ph("$pageview", uuid=f"at{path}")))
    assert rows(database_url) == [row(f"at{path}") for path in PATHS]
    exports = await exported(client)
    assert [line["event_id"] for line in exports] == [f"at{path}" for path in PATHS]
    assert exports[0] == {
        **row("at/batch"),
        "timestamp": exports[0]["received_at"],
        "received_at": exports[0]["received_at"],
        **NO_USAGE,
    }


async def test_posthog_python_batch(client: httpx.AsyncClient, database_url: str) -> None:
    """{api_key, batch, sent_at} as posthog-python sends it: every event stored, in order."""
    body = {
        "api_key": "phc_project",
        "sent_at": iso(CLIENT_TIME),
        "batch": [
            ph(
                "signed_up",
                uuid="py-1",
                timestamp=iso(CLIENT_TIME - timedelta(seconds=3)),
                properties={"$lib": "posthog-python", "plan": "pro"},
            ),
            {**chat("py-2"), "timestamp": iso(CLIENT_TIME)},
        ],
    }
    accepted(await post(client, "/batch/", body))
    assert rows(database_url) == [
        row("py-1", "signed_up", properties={"$lib": "posthog-python", "plan": "pro"}),
        row("py-2", "message", session_id="s-1", message="Do you ship to Norway?"),
    ]
    assert [received - occurred for occurred, received in stored_times(database_url)] == [
        timedelta(seconds=3),
        timedelta(0),
    ]


async def test_single_event_object(client: httpx.AsyncClient, database_url: str) -> None:
    """One event as the whole body, as /capture takes it."""
    accepted(await post(client, "/capture/", ph("clicked", uuid="one", properties={"x": 1})))
    assert rows(database_url) == [row("one", "clicked", properties={"x": 1})]


async def test_list_of_events(client: httpx.AsyncClient, database_url: str) -> None:
    """A JSON list of events, as posthog-js sends them."""
    events = [ph("$pageview", uuid="js-1"), chat("js-2"), ph("$pageleave", uuid="js-3")]
    accepted(await post(client, "/e/", events))
    assert rows(database_url) == [
        row("js-1"),
        row("js-2", "message", session_id="s-1", message="Do you ship to Norway?"),
        row("js-3", "$pageleave"),
    ]


async def test_gzip_js_with_text_plain(client: httpx.AsyncClient, database_url: str) -> None:
    """posthog-js's ?compression=gzip-js: a gzipped list labelled text/plain."""
    body = gzip.compress(dumps([ph(uuid="gz-1"), ph(uuid="gz-2")]))
    response = await post(
        client, "/e/", body, {"Content-Type": "text/plain"}, {"compression": "gzip-js"}
    )
    accepted(response)
    assert rows(database_url) == [row("gz-1"), row("gz-2")]


async def test_gzip_content_encoding(client: httpx.AsyncClient, database_url: str) -> None:
    """Content-Encoding: gzip (posthog-python's gzip option) is inflated."""
    body = gzip.compress(dumps({"api_key": "k", "batch": [ph(uuid="ce-1")]}))
    accepted(await post(client, "/batch/", body, {"Content-Encoding": "gzip"}))
    assert rows(database_url) == [row("ce-1")]


async def test_deflate_and_unsupported_encodings(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Content-Encoding deflate is inflated too; any other encoding is a 400 saying so."""
    body = dumps([ph(uuid="deflated")])
    accepted(await post(client, "/e", zlib.compress(body), {"Content-Encoding": "deflate"}))
    refusal = invalid(await post(client, "/e", body, {"Content-Encoding": "br"}))
    assert refusal == {
        "type": "validation_error",
        "code": "invalid_payload",
        "detail": "Content-Encoding 'br' is not supported; send gzip, deflate or none",
    }
    assert rows(database_url) == [row("deflated")]


async def test_gzip_found_by_its_magic_number(client: httpx.AsyncClient, database_url: str) -> None:
    """A gzipped body with no header and no query parameter saying so is still read."""
    body = gzip.compress(dumps(ph(uuid="magic")))
    assert body[:2] == b"\x1f\x8b"
    accepted(await post(client, "/e", body, {"Content-Type": "text/plain"}))
    assert rows(database_url) == [row("magic")]


async def test_concatenated_gzip_members_are_one_body(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A gzip file may hold several members; they are one body together."""
    text = dumps([ph(uuid="m-1"), ph(uuid="m-2")])
    body = gzip.compress(text[:10]) + gzip.compress(text[10:])
    accepted(await post(client, "/e/", body, params={"compression": "gzip-js"}))
    assert rows(database_url) == [row("m-1"), row("m-2")]


async def test_sendbeacon_base64_form(client: httpx.AsyncClient, database_url: str) -> None:
    """data=<URL-encoded base64> with ?compression=base64, as sendBeacon sends it: the base64's
    + and / survive URL-decoding."""
    events = [ph("$pageleave", uuid="beacon", properties={"?>": "???>>>"})]
    encoded = base64.b64encode(dumps(events)).decode()
    # Both must be URL-decoded back.
    assert "+" in encoded
    assert "/" in encoded
    response = await post(client, "/e/", form(events), FORM, {"compression": "base64"})
    accepted(response)
    assert rows(database_url) == [row("beacon", "$pageleave", properties={"?>": "???>>>"})]


async def test_base64_form_found_without_the_query_parameter(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A form body starting with data= is base64 even when the query does not say so."""
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
    accepted(await post(client, "/e", form(ph(uuid="f-1")), headers))
    assert rows(database_url) == [row("f-1")]


async def test_curl_json_labelled_as_a_form_is_json(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """curl -d labels any body a form: JSON that does not start with data= is read as JSON."""
    accepted(await post(client, "/capture", ph(uuid="curl"), FORM))
    assert rows(database_url) == [row("curl")]


async def test_corrupt_or_cut_gzip_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    whole = gzip.compress(dumps([ph(uuid="x")]))
    gzip_js = {"compression": "gzip-js"}
    cases = [
        (whole[:-4], {"Content-Encoding": "gzip"}, None, "the gzip body is cut short"),
        (whole[: len(whole) // 2], {}, gzip_js, "the gzip body is cut short"),
        (whole[:-8] + b"\0\0\0\0\0\0\0\0", {}, None, "the body is not valid gzip data"),
        (b"\x1f\x8b not gzip at all", {}, None, "the body is not valid gzip data"),
        (dumps([ph(uuid="x")]), {}, gzip_js, "the body is not valid gzip data"),
        (whole + b"trailing", {}, gzip_js, "the body is not valid gzip data"),
    ]
    for body, headers, params, detail in cases:
        refusal = invalid(await post(client, "/e", body, headers, params))
        assert refusal["detail"].startswith(detail), (body[-10:], refusal)
        assert "errors" not in refusal
    assert stored_events(database_url) == []


async def test_malformed_base64_form_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    good = base64.b64encode(dumps([ph(uuid="x")])).decode()
    b64 = {"compression": "base64"}
    bad_forms = [
        b"data=%%%",
        b"data=" + good[:-3].encode(),  # bad padding
        b"data=" + good.encode() + b"!!",
        b"data=" + quote("€" + good).encode(),
        b"data=" + bytes([0xFF]) + good.encode(),
        b"other=" + quote(good, safe="").encode(),
        b"data",
    ]
    for body in bad_forms:
        assert invalid(await post(client, "/e", body, FORM, b64)) == {
            "type": "validation_error",
            "code": "invalid_payload",
            "detail": "a form body must be data=<base64 of the JSON>",
        }, body
    not_json = b"data=" + base64.b64encode(b"not json")
    assert invalid(await post(client, "/e", not_json, FORM, b64))["detail"].startswith(
        "request body is not valid JSON"
    )
    assert stored_events(database_url) == []


# --- a real posthog-js request ---------------------------------------------------------------


async def test_posthog_js_request(client: httpx.AsyncClient, database_url: str) -> None:
    """What posthog-js sends for a chat: gzip-js, `_`, the token in the properties, $set on
    identify; stored as our chat events with the time corrected and the traits folded."""
    sent = CLIENT_TIME + timedelta(seconds=4)
    common = {"token": "phc_project", "$session_id": "0190b5c2-s", "$lib": "web"}
    events = [
        ph(
            "$identify",
            uuid="js-identify",
            timestamp=iso(CLIENT_TIME),
            properties={
                **common,
                "$set": {"email": "ana@example.com"},
                "$anon_distinct_id": "anon",
            },
        ),
        ph(
            "message",
            uuid="js-message",
            timestamp=iso(CLIENT_TIME + timedelta(seconds=1)),
            properties={**common, "message": "Do you ship to Norway?", "role": "user"},
        ),
        ph(
            "cta_click",
            uuid="js-click",
            timestamp=iso(CLIENT_TIME + timedelta(seconds=3)),
            properties={**common, "cta_id": "shipping"},
        ),
    ]
    params = {"ip": "0", "_": str(ms(sent)), "ver": "1.200.0", "compression": "gzip-js"}
    accepted(
        await post(
            client, "/e/", gzip.compress(dumps(events)), {"Content-Type": "text/plain"}, params
        )
    )
    kept = {"$lib": "web"}
    assert rows(database_url) == [
        row(
            "js-identify",
            "$identify",
            session_id="0190b5c2-s",
            properties={**kept, "$set": {"email": "ana@example.com"}, "$anon_distinct_id": "anon"},
        ),
        row(
            "js-message",
            "message",
            session_id="0190b5c2-s",
            message="Do you ship to Norway?",
            properties=kept,
        ),
        row("js-click", "cta_click", session_id="0190b5c2-s", cta_id="shipping", properties=kept),
    ]
    assert [received - occurred for occurred, received in stored_times(database_url)] == [
        timedelta(seconds=4),
        timedelta(seconds=3),
        timedelta(seconds=1),
    ]
    found = await history(client)
    assert found["traits"] == {"email": "ana@example.com"}
    assert [s["session_id"] for s in found["sessions"]] == ["0190b5c2-s"]
    assert [e["event_id"] for e in found["sessions"][0]["events"]] == [
        "js-identify",
        "js-message",
        "js-click",
    ]
